/**
 * The view of a migration trace that the page draws: every 8-byte row of
 * both stacks named for what it holds, the registers that hold something,
 * and for every live value where its bytes actually are on each side.
 * Computed here, where it is typed and tested; the page's script only turns
 * it into elements (client.ts).
 *
 * What a row can be, from the ISA profile's frame layout and the trace's
 * frames (depth 0 innermost; each frame occupies [CFA − frameSize, CFA)):
 *
 *   part   | bytes                               | note
 *   -------|-------------------------------------|-------------------------------------------
 *   ret    | frame base + returnAddressOffset    | the site in the caller it returns to
 *   fp     | frame base + savedFpOffset          | the caller's frame base (the chain of frames)
 *   save   | frame base + a saved-register offset| the caller's value of that register: which
 *          |                                     | outer frame's live value, if any
 *   slot   | frame base + a stack location       | the live value spilled there
 *   free   | the rest of a frame                 | padding, or a slot not live at this site
 *
 * Where a value's bytes are (VizEnd): a value of frame j located in
 * callee-saved register r is in the register file only if no frame inside j
 * saved r; otherwise the nearest frame inside j whose prologue saved r (the
 * largest i < j) holds it in its save slot — the callee-saved spill chain,
 * as the transformation reads it while unwinding (host/transform/unwind.ts)
 * and writes it while building. Each end also says whether the bytes found
 * there are the value's bytes (`matches`), so the page shows a wrong image
 * instead of hiding it. The worked fib example in host/transform/image.ts is
 * the same picture in text.
 */
import type { ImageDump, MigrationTrace, MigrationTraceFile } from "../../kernel/index.js";
import { profile, type IsaProfile } from "../../isa/index.js";
import type { TraceFrame, TraceFrameSide, TraceValue } from "../../transform/index.js";

export const VIZ_MODEL_VERSION = 1;

/** Phases in the order a migration goes through them (trace.ts); others follow in the trace's order. */
export const PHASE_ORDER = ["capture", "ahead", "dirty", "lower", "rewrite", "encode", "send", "decode", "load", "pages", "lift", "resume"];

export interface VizModel {
  version: number;
  program: string;
  kernels: { id: number; isa: string }[];
  migrations: VizMigration[];
}

export interface VizMigration {
  seq: number;
  pid: number;
  /** 0: main */
  tid: number;
  epoch: number;
  from: { kernel: number; isa: string };
  to: { kernel: number; isa: string };
  /** in order; `within`: a phase that is not on the path of its own — part of another (dirty, of ahead) or beside it (pages, on the destination while the source lowers) */
  phases: { name: string; us: number; within?: string }[];
  totalUs: number | null;
  memory: { bytes: number; pages: number; messageBytes: number };
  /** innermost first, as in the trace */
  frames: VizFrame[];
  /** every live value, frame by frame; VizFrame.values index here */
  values: VizValue[];
  /** [source, destination] */
  sides: [VizSide, VizSide];
  counts: MigrationTrace["transform"]["counts"];
}

export interface VizFrame {
  depth: number;
  /** the full name, e.g. "fib/fib" (file/function) */
  function: string;
  /** its last path segment, e.g. "fib" */
  name: string;
  site: number;
  kind: string;
  /** [source, destination] */
  sides: [VizFrameSide, VizFrameSide];
  values: number[];
}

export interface VizFrameSide {
  base: number;
  cfa: number;
  sp: number;
  frameSize: number;
  returnAddress: number;
  savedRegs: { register: string; offset: number; address: number }[];
}

export type VizEnd =
  | { kind: "stack"; text: string; addr: number; savedBy?: { depth: number; register: string }; matches: boolean }
  | { kind: "register"; text: string; reg: string; dwarf: number; matches: boolean }
  | { kind: "constant"; text: string };

export interface VizValue {
  id: number;
  depth: number;
  index: number;
  name: string;
  type: string;
  size: number;
  /** the value as the trace's portable frame writes it (decoded from hex without one) */
  text: string;
  hex: string;
  /** [source, destination]; text is the stackmap location as an assembler writes it */
  ends: [VizEnd, VizEnd];
}

export type VizPartKind = "ret" | "fp" | "save" | "slot" | "free";

export interface VizPart {
  kind: VizPartKind;
  /** byte offset in the row, and size */
  off: number;
  size: number;
  label: string;
  note: string;
  /** the value whose bytes these are */
  value?: number;
  /** a saved frame pointer's target: the caller's frame base */
  target?: number;
  /** the u64 a return address or saved frame pointer holds, in hex */
  u64?: string;
}

export interface VizRow {
  addr: number;
  /** the 8 bytes in memory order */
  hex: string;
  /** depth of the frame the row is in, or -1 */
  frame: number;
  parts: VizPart[];
}

export type VizRegisterRole = "sp" | "fp" | "pc" | "value" | "other";

export interface VizRegister {
  name: string;
  dwarf: number;
  /** the 16 bytes of the register file, little-endian */
  hex: string;
  role: VizRegisterRole;
  note: string;
  values: number[];
}

export interface VizSide {
  role: "source" | "destination";
  isa: string;
  abi: string;
  pc: number;
  sp: number;
  fp: number;
  stackTop: number;
  names: { sp: string; fp: string; pc: string };
  /** highest address first */
  rows: VizRow[];
  registers: VizRegister[];
}

export function vizModel(t: MigrationTraceFile): VizModel {
  return { version: VIZ_MODEL_VERSION, program: t.program, kernels: t.kernels, migrations: t.migrations.map(migrationView) };
}

export const shortName = (func: string): string => func.slice(func.lastIndexOf("/") + 1) || func;

export const hexAddress = (a: number): string => `0x${a.toString(16)}`;

/** "#2 fib": a frame by depth and short name, as the page writes it. */
export const frameLabel = (f: { depth: number; name: string }): string => `#${f.depth} ${f.name}`;

function migrationView(m: MigrationTrace): VizMigration {
  const tf = m.transform.frames;
  const values: VizValue[] = [];
  const frames: VizFrame[] = tf.map((f) => ({
    depth: f.depth,
    function: f.function,
    name: shortName(f.function),
    site: f.site,
    kind: m.frames[f.depth]?.kind ?? "",
    sides: [frameSide(f.from), frameSide(f.to)],
    values: f.values.map((v) => {
      values.push(valueView(m, f, v, values.length));
      return values.length - 1;
    }),
  }));
  const A = profile(m.from.isa);
  const B = profile(m.to.isa);
  const sides: [VizSide, VizSide] = [
    new SideBuilder("source", A, m.source, tf, frames, values, 0).build(),
    new SideBuilder("destination", B, m.destination, tf, frames, values, 1).build(),
  ];
  return {
    seq: m.seq,
    pid: m.pid,
    tid: m.tid ?? 0, // a file written before threads were traced has none: main
    epoch: m.epoch,
    from: m.from,
    to: m.to,
    phases: orderedPhases(m.phasesUs),
    totalUs: m.totalUs ?? null,
    memory: m.memory,
    frames,
    values,
    sides,
    counts: m.transform.counts,
  };
}

/** Phases that overlap others (host/kernel/trace.ts): shown, not added up. */
const OFF_PATH: Record<string, string> = { dirty: "in ahead", pages: "meanwhile" };

function orderedPhases(p: Record<string, number>): VizMigration["phases"] {
  const known = PHASE_ORDER.filter((n) => n in p);
  const rest = Object.keys(p).filter((n) => !PHASE_ORDER.includes(n));
  return [...known, ...rest].map((name) => (OFF_PATH[name] ? { name, us: p[name]!, within: OFF_PATH[name] } : { name, us: p[name]! }));
}

function frameSide(s: TraceFrameSide): VizFrameSide {
  return {
    base: s.frameBase,
    cfa: s.cfa,
    sp: s.cfa - s.frameSize,
    frameSize: s.frameSize,
    returnAddress: s.returnAddress,
    savedRegs: s.savedRegs.map((r) => ({ register: r.register, offset: r.offset, address: s.frameBase + r.offset })),
  };
}

function valueView(m: MigrationTrace, f: TraceFrame, v: TraceValue, id: number): VizValue {
  const portable = m.frames[f.depth]?.values[v.index];
  const type = v.type ?? portable?.type ?? `${v.size} bytes`;
  return {
    id,
    depth: f.depth,
    index: v.index,
    name: v.name ?? portable?.name ?? `value ${v.index}`,
    type,
    size: v.size,
    text: portable?.value ?? decodeValue(v.hex, type),
    hex: v.hex,
    // the actual places are filled in by each side's builder
    ends: [{ kind: "constant", text: v.fromText }, { kind: "constant", text: v.toText }],
  };
}

/** A value's bytes (memory order) as its type reads. */
export function decodeValue(hex: string, type: string): string {
  const b = Buffer.from(hex, "hex");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (type === "i32" && b.length === 4) return String(dv.getInt32(0, true));
  if (type === "i64" && b.length === 8) return String(dv.getBigInt64(0, true));
  if (type === "f32" && b.length === 4) return String(dv.getFloat32(0, true));
  if (type === "f64" && b.length === 8) return String(dv.getFloat64(0, true));
  return hex;
}

/** Reads u64s out of a dumped stack. */
class Stack {
  readonly bytes: Buffer;
  constructor(readonly img: ImageDump) {
    this.bytes = Buffer.from(img.stack, "hex");
  }
  has(addr: number, n: number): boolean {
    return addr >= this.img.sp && addr + n <= this.img.stackTop;
  }
  u64(addr: number): number | undefined {
    if (!this.has(addr, 8)) return undefined;
    return Number(this.bytes.readBigUInt64LE(addr - this.img.sp));
  }
  hex(addr: number, n: number): string {
    return this.bytes.subarray(addr - this.img.sp, addr - this.img.sp + n).toString("hex");
  }
}

/** One side's rows, registers, and the places of every value on it. */
class SideBuilder {
  private readonly stack: Stack;
  private readonly parts = new Map<number, VizPart[]>(); // by row address
  private readonly regValues = new Map<number, number[]>(); // dwarf → values in the register file

  constructor(
    private readonly role: "source" | "destination",
    private readonly p: IsaProfile,
    private readonly img: ImageDump,
    private readonly tf: TraceFrame[],
    private readonly frames: VizFrame[],
    private readonly values: VizValue[],
    private readonly side: 0 | 1,
  ) {
    this.stack = new Stack(img);
  }

  build(): VizSide {
    this.placeValues();
    this.frames.forEach((f) => this.frameParts(f));
    return {
      role: this.role,
      isa: this.p.name,
      abi: this.p.abi,
      pc: this.img.pc,
      sp: this.img.sp,
      fp: this.img.fp,
      stackTop: this.img.stackTop,
      names: { sp: this.p.registerName(this.p.sp), fp: this.p.registerName(this.p.fp), pc: this.p.registerName(this.p.ra) },
      rows: this.rows(),
      registers: this.registers(),
    };
  }

  private fs(depth: number): VizFrameSide {
    return this.frames[depth]!.sides[this.side];
  }

  /** The nearest frame inside `depth` (its callee, or that one's, …) whose prologue saved `dwarf`, or -1: its save slot holds the register's value of frame `depth`. */
  private savedInside(depth: number, dwarf: number): number {
    for (let i = depth - 1; i >= 0; i--) {
      const sr = this.tf[i]![this.side === 0 ? "from" : "to"].savedRegs;
      if (sr.some((r) => r.dwarf === dwarf)) return i;
    }
    return -1;
  }

  private placeValues(): void {
    for (const f of this.tf) {
      for (const tv of f.values) {
        const v = this.values[this.frames[f.depth]!.values[tv.index]!]!;
        const loc = this.side === 0 ? tv.from : tv.to;
        const text = this.side === 0 ? tv.fromText : tv.toText;
        let end: VizEnd;
        if (loc.kind === "stack") {
          const addr = this.fs(f.depth).base + loc.offset;
          end = { kind: "stack", text, addr, matches: this.stackHas(addr, v.hex) };
        } else if (loc.kind === "register") {
          const inner = this.savedInside(f.depth, loc.dwarf);
          if (inner < 0) {
            const held = (this.img.registers.find((r) => r.dwarf === loc.dwarf)?.hex ?? "").padEnd(32, "0");
            end = { kind: "register", text, reg: this.p.registerName(loc.dwarf, loc.size), dwarf: loc.dwarf, matches: held.startsWith(v.hex) };
            this.regValues.set(loc.dwarf, [...(this.regValues.get(loc.dwarf) ?? []), v.id]);
          } else {
            const save = this.tf[inner]![this.side === 0 ? "from" : "to"].savedRegs.find((r) => r.dwarf === loc.dwarf)!;
            const addr = this.fs(inner).base + save.offset;
            end = { kind: "stack", text, addr, savedBy: { depth: inner, register: save.register }, matches: this.stackHas(addr, v.hex) };
          }
        } else {
          end = { kind: "constant", text };
        }
        v.ends[this.side] = end;
      }
    }
  }

  /** Names bytes [addr, addr+size) of the stack; a part that runs past its row (a v128) continues in the next. */
  private stackHas(addr: number, hex: string): boolean {
    return this.stack.has(addr, hex.length / 2) && this.stack.hex(addr, hex.length / 2) === hex;
  }

  private add(addr: number, part: Omit<VizPart, "off">): void {
    for (let at = addr, left = part.size; left > 0; ) {
      const row = this.rowOf(at);
      const size = Math.min(left, row + 8 - at);
      const list = this.parts.get(row) ?? [];
      list.push({ ...part, size, off: at - row, ...(at > addr ? { label: `${part.label} (cont.)` } : {}) });
      this.parts.set(row, list);
      at += size;
      left -= size;
    }
  }

  private rowOf(addr: number): number {
    return this.img.sp + Math.floor((addr - this.img.sp) / 8) * 8;
  }

  private frameParts(f: VizFrame): void {
    const s = this.fs(f.depth);
    const p = this.p;
    const caller = this.frames[f.depth + 1];
    const fpName = p.registerName(p.fp);

    const ra = s.base + p.returnAddressOffset;
    const raValue = this.stack.u64(ra) ?? 0;
    const expected = caller?.sides[this.side].returnAddress;
    const into = caller
      ? raValue === expected
        ? `→ ${frameLabel(caller)}, site ${caller.site}`
        : `(not ${frameLabel(caller)}'s site ${caller.site}: ${hexAddress(expected!)})`
      : "→ the entry stub";
    this.add(ra, { kind: "ret", size: 8, label: "return address", note: `${hexAddress(raValue)} ${into}`, u64: hexAddress(raValue) });

    const fpAt = s.base + p.savedFpOffset;
    const fpValue = this.stack.u64(fpAt) ?? 0;
    const callerBase = caller?.sides[this.side].base;
    const fpNote = caller
      ? fpValue === callerBase
        ? `→ ${frameLabel(caller)}'s frame base`
        : `${hexAddress(fpValue)} (${frameLabel(caller)}'s ${fpName} is ${hexAddress(callerBase!)})`
      : `${hexAddress(fpValue)}: the end of the chain`;
    this.add(fpAt, {
      kind: "fp",
      size: 8,
      label: `saved ${fpName}`,
      note: fpNote,
      u64: hexAddress(fpValue),
      ...(caller && fpValue !== 0 ? { target: fpValue } : {}),
    });

    const saves = this.tf[f.depth]![this.side === 0 ? "from" : "to"].savedRegs;
    for (const r of saves) {
      const owner = this.ownerOf(f.depth, r.dwarf);
      this.add(s.base + r.offset, {
        kind: "save",
        size: p.savedRegisterBytes,
        label: `saved ${r.register}`,
        note: owner.note,
        ...(owner.value !== undefined ? { value: owner.value } : {}),
      });
    }

    for (const id of f.values) {
      const v = this.values[id]!;
      const loc = this.tf[f.depth]!.values[v.index]![this.side === 0 ? "from" : "to"];
      if (loc.kind !== "stack") continue;
      this.add(s.base + loc.offset, { kind: "slot", size: loc.size, label: `slot ${v.name}`, note: `${v.type} ${v.text}`, value: id });
    }
  }

  /** Whose value a save slot of frame `depth` for register `dwarf` holds: the first outer frame that has a value there or saved it itself. */
  private ownerOf(depth: number, dwarf: number): { note: string; value?: number } {
    for (let j = depth + 1; j < this.frames.length; j++) {
      const f = this.frames[j]!;
      for (const id of f.values) {
        const v = this.values[id]!;
        const loc = this.tf[j]!.values[v.index]![this.side === 0 ? "from" : "to"];
        if (loc.kind === "register" && loc.dwarf === dwarf) return { note: `= ${frameLabel(f)}'s ${v.name} (${v.text})`, value: id };
      }
      if (this.tf[j]![this.side === 0 ? "from" : "to"].savedRegs.some((r) => r.dwarf === dwarf)) {
        return { note: `${frameLabel(f)}'s, not live` };
      }
    }
    return { note: "the entry stub's" };
  }

  private rows(): VizRow[] {
    const out: VizRow[] = [];
    const { sp, stackTop } = this.img;
    for (let addr = this.rowOf(stackTop - 1); addr >= sp; addr -= 8) {
      const frame = this.frames.findIndex((f) => addr >= f.sides[this.side].sp && addr < f.sides[this.side].cfa);
      const n = Math.min(8, stackTop - addr);
      const parts = this.parts.get(addr) ?? [];
      if (frame >= 0) parts.push(...freeRuns(parts, n));
      parts.sort((a, b) => a.off - b.off); // in byte order, as the bytes are drawn
      out.push({ addr, hex: this.stack.hex(addr, n), frame, parts });
    }
    return out;
  }

  private registers(): VizRegister[] {
    const p = this.p;
    const dump = new Map(this.img.registers.map((r) => [r.dwarf, r]));
    const regs = new Map<number, VizRegister>();
    const hexOf = (dwarf: number) => dump.get(dwarf)?.hex ?? "00".repeat(16);
    // values first, innermost frame first: the registers lines go to
    for (const f of this.frames) {
      for (const id of f.values) {
        const end = this.values[id]!.ends[this.side];
        if (end.kind !== "register") continue;
        const dwarf = end.dwarf;
        if (regs.has(dwarf)) continue;
        const ids = this.regValues.get(dwarf) ?? [id];
        const note = ids.map((i) => `${frameLabel(this.frames[this.values[i]!.depth]!)}'s ${this.values[i]!.name} = ${this.values[i]!.text}`).join("; ");
        regs.set(dwarf, { name: end.reg, dwarf, hex: hexOf(dwarf), role: "value", note, values: ids });
      }
    }
    const inner = this.frames[0];
    const fixed: [number, VizRegisterRole, string][] = [
      [p.sp, "sp", "stack pointer"],
      [p.fp, "fp", inner ? `frame base of ${frameLabel(inner)}` : "frame pointer"],
      [p.ra, "pc", inner ? `→ ${frameLabel(inner)}, site ${inner.site}` : "pc"],
    ];
    for (const [dwarf, role, note] of fixed) {
      if (!regs.has(dwarf)) regs.set(dwarf, { name: p.registerName(dwarf), dwarf, hex: hexOf(dwarf), role, note, values: [] });
    }
    for (const r of this.img.registers) {
      if (!regs.has(r.dwarf)) regs.set(r.dwarf, { name: r.name, dwarf: r.dwarf, hex: r.hex, role: "other", note: "no live value: scratch", values: [] });
    }
    return [...regs.values()];
  }
}

/** The runs of bytes 0..n−1 of a row that no part names: padding, or slots not live at this site. */
function freeRuns(parts: readonly VizPart[], n: number): VizPart[] {
  const covered = new Array<boolean>(n).fill(false);
  for (const q of parts) for (let k = q.off; k < Math.min(n, q.off + q.size); k++) covered[k] = true;
  const out: VizPart[] = [];
  for (let k = 0; k < n; ) {
    if (covered[k]) {
      k++;
      continue;
    }
    let e = k;
    while (e < n && !covered[e]) e++;
    out.push({ kind: "free", off: k, size: e - k, label: "padding or dead slot", note: "" });
    k = e;
  }
  return out;
}
