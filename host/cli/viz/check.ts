/**
 * Checks that a parsed JSON value is a migration trace file this popcorn
 * can show (host/kernel/trace.ts): the format tag, the version, and the
 * shape of every field the page reads, down to each value's locations.
 * The first problem found is thrown as a CompileError that names the file
 * and the field:
 *
 *   fib.trace.json: not a popcorn trace (format is "chrome-trace", expected "popcorn-trace")
 *   fib.trace.json: trace version 2 is newer than this popcorn reads (1) — view it with a newer popcorn
 *   fib.trace.json: migrations[0].source.stack: 94 hex digits, but sp..stackTop is 48 bytes
 */
import { CompileError } from "../../toolchain/index.js";
import { MIGRATION_TRACE_VERSION, type MigrationTraceFile } from "../../kernel/index.js";
import { PROFILES } from "../../isa/index.js";

type Json = Record<string, unknown>;

class Checker {
  constructor(private readonly where: string) {}

  fail(path: string, what: string): never {
    throw new CompileError(`${this.where}: ${path ? `${path}: ` : ""}${what}`);
  }

  obj(v: unknown, path: string): Json {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(path, `expected an object, got ${kindOf(v)}`);
    return v as Json;
  }

  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected an array, got ${kindOf(v)}`);
    return v;
  }

  num(v: unknown, path: string): number {
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(path, `expected a number, got ${kindOf(v)}`);
    return v;
  }

  int(v: unknown, path: string): number {
    const n = this.num(v, path);
    if (!Number.isSafeInteger(n)) this.fail(path, `expected an integer, got ${n}`);
    return n;
  }

  str(v: unknown, path: string): string {
    if (typeof v !== "string") this.fail(path, `expected a string, got ${kindOf(v)}`);
    return v;
  }

  hex(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) this.fail(path, "expected hex bytes (an even number of hex digits)");
    return s;
  }

  isa(v: unknown, path: string): string {
    const s = this.str(v, path);
    if (!PROFILES.has(s)) this.fail(path, `unknown ISA "${s}" — known ISAs: ${[...PROFILES.keys()].join(", ")}`);
    return s;
  }
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "object") return "an object";
  return typeof v === "undefined" ? "nothing" : `${typeof v} ${String(v)}`;
}

/** `data` as a MigrationTraceFile, or a CompileError naming `where` and the first field that is wrong. */
export function checkTrace(data: unknown, where: string): MigrationTraceFile {
  const c = new Checker(where);
  if (typeof data !== "object" || data === null || Array.isArray(data)) c.fail("", `not a popcorn trace (the file holds ${kindOf(data)}, expected an object with "format": "popcorn-trace")`);
  const t = data as Json;
  if (t.format !== "popcorn-trace") {
    c.fail("", `not a popcorn trace (${t.format === undefined ? "no format field" : `format is ${kindOf(t.format)}`}, expected "popcorn-trace")`);
  }
  const version = c.int(t.version, "version");
  if (version > MIGRATION_TRACE_VERSION) c.fail("", `trace version ${version} is newer than this popcorn reads (${MIGRATION_TRACE_VERSION}) — view it with a newer popcorn`);
  if (version < 1) c.fail("version", `unknown trace version ${version}`);
  c.str(t.program, "program");
  c.arr(t.kernels, "kernels").forEach((k, i) => {
    const o = c.obj(k, `kernels[${i}]`);
    c.int(o.id, `kernels[${i}].id`);
    c.isa(o.isa, `kernels[${i}].isa`);
  });
  c.arr(t.migrations, "migrations").forEach((m, i) => checkMigration(c, m, `migrations[${i}]`));
  return data as MigrationTraceFile;
}

function checkMigration(c: Checker, v: unknown, path: string): void {
  const m = c.obj(v, path);
  c.int(m.seq, `${path}.seq`);
  c.int(m.pid, `${path}.pid`);
  if (m.tid !== undefined) c.int(m.tid, `${path}.tid`); // absent in files written before threads were traced: main
  c.int(m.epoch, `${path}.epoch`);
  for (const end of ["from", "to"] as const) {
    const o = c.obj(m[end], `${path}.${end}`);
    c.int(o.kernel, `${path}.${end}.kernel`);
    c.isa(o.isa, `${path}.${end}.isa`);
  }
  const phases = c.obj(m.phasesUs, `${path}.phasesUs`);
  for (const [k, us] of Object.entries(phases)) c.num(us, `${path}.phasesUs.${k}`);
  if (m.totalUs !== undefined) c.num(m.totalUs, `${path}.totalUs`);
  const frames = c.arr(m.frames, `${path}.frames`);
  frames.forEach((f, i) => {
    const p = `${path}.frames[${i}]`;
    const o = c.obj(f, p);
    c.int(o.depth, `${p}.depth`);
    c.int(o.site, `${p}.site`);
    c.str(o.kind, `${p}.kind`);
    c.str(o.function, `${p}.function`);
    c.arr(o.values, `${p}.values`).forEach((x, j) => {
      const vo = c.obj(x, `${p}.values[${j}]`);
      c.str(vo.name, `${p}.values[${j}].name`);
      c.str(vo.type, `${p}.values[${j}].type`);
      c.str(vo.value, `${p}.values[${j}].value`);
    });
  });
  const from = c.obj(m.from, `${path}.from`).isa as string;
  const to = c.obj(m.to, `${path}.to`).isa as string;
  checkImage(c, m.source, `${path}.source`, from);
  checkImage(c, m.destination, `${path}.destination`, to);
  checkTransform(c, m.transform, `${path}.transform`, from, to);
  const mem = c.obj(m.memory, `${path}.memory`);
  c.num(mem.bytes, `${path}.memory.bytes`);
  c.num(mem.pages, `${path}.memory.pages`);
  c.num(mem.messageBytes, `${path}.memory.messageBytes`);
}

function checkImage(c: Checker, v: unknown, path: string, isa: string): void {
  const img = c.obj(v, path);
  if (c.isa(img.isa, `${path}.isa`) !== isa) c.fail(`${path}.isa`, `"${String(img.isa)}", but the migration's side is ${isa}`);
  for (const k of ["pc", "sp", "fp", "stackTop"]) c.int(img[k], `${path}.${k}`);
  c.arr(img.registers, `${path}.registers`).forEach((r, i) => {
    const o = c.obj(r, `${path}.registers[${i}]`);
    c.str(o.name, `${path}.registers[${i}].name`);
    c.int(o.dwarf, `${path}.registers[${i}].dwarf`);
    c.hex(o.hex, `${path}.registers[${i}].hex`);
  });
  const stack = c.hex(img.stack, `${path}.stack`);
  const bytes = (img.stackTop as number) - (img.sp as number);
  if (stack.length !== bytes * 2) c.fail(`${path}.stack`, `${stack.length} hex digits, but sp..stackTop is ${bytes} bytes`);
}

function checkTransform(c: Checker, v: unknown, path: string, from: string, to: string): void {
  const t = c.obj(v, path);
  c.int(t.version, `${path}.version`);
  if (c.obj(t.from, `${path}.from`).isa !== from || c.obj(t.to, `${path}.to`).isa !== to) {
    c.fail(path, `rewrites ${String((t.from as Json).isa)} → ${String((t.to as Json).isa)}, but the migration goes ${from} → ${to}`);
  }
  c.arr(t.frames, `${path}.frames`).forEach((f, i) => {
    const p = `${path}.frames[${i}]`;
    const o = c.obj(f, p);
    // the page finds a frame by its depth and a value by its index: each must be its place in the list
    if (c.int(o.depth, `${p}.depth`) !== i) c.fail(`${p}.depth`, `${String(o.depth)}, but it is frame ${i} of the list (innermost first)`);
    c.int(o.site, `${p}.site`);
    c.str(o.function, `${p}.function`);
    for (const side of ["from", "to"] as const) {
      const s = c.obj(o[side], `${p}.${side}`);
      for (const k of ["returnAddress", "frameBase", "cfa", "frameSize"]) c.int(s[k], `${p}.${side}.${k}`);
      c.arr(s.savedRegs, `${p}.${side}.savedRegs`).forEach((r, j) => {
        const ro = c.obj(r, `${p}.${side}.savedRegs[${j}]`);
        c.str(ro.register, `${p}.${side}.savedRegs[${j}].register`);
        c.int(ro.dwarf, `${p}.${side}.savedRegs[${j}].dwarf`);
        c.int(ro.offset, `${p}.${side}.savedRegs[${j}].offset`);
      });
    }
    c.arr(o.values, `${p}.values`).forEach((x, j) => {
      const q = `${p}.values[${j}]`;
      const vo = c.obj(x, q);
      if (c.int(vo.index, `${q}.index`) !== j) c.fail(`${q}.index`, `${String(vo.index)}, but it is value ${j} of its frame`);
      c.int(vo.size, `${q}.size`);
      if (vo.name !== null) c.str(vo.name, `${q}.name`);
      if (vo.type !== null) c.str(vo.type, `${q}.type`);
      c.str(vo.fromText, `${q}.fromText`);
      c.str(vo.toText, `${q}.toText`);
      c.hex(vo.hex, `${q}.hex`);
      for (const end of ["from", "to"] as const) checkLocation(c, vo[end], `${q}.${end}`);
    });
  });
}

function checkLocation(c: Checker, v: unknown, path: string): void {
  const l = c.obj(v, path);
  c.int(l.size, `${path}.size`);
  switch (l.kind) {
    case "register":
      c.int(l.dwarf, `${path}.dwarf`);
      return;
    case "stack":
      c.int(l.offset, `${path}.offset`);
      return;
    case "constant":
      c.num(l.value, `${path}.value`);
      return;
    default:
      c.fail(`${path}.kind`, `expected "register", "stack" or "constant", got ${kindOf(l.kind)}`);
  }
}
