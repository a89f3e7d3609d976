// Site tables and stacks for the ISA and transformation tests: small ones
// written by hand, random ones from fast-check, and frames captured from the
// real examples.
import fc from "fast-check";
import { aarch64, allocate, type IsaProfile, stackmapBackends, x86_64 } from "../../host/isa/index.js";
import { loadProgram, Process, type ThreadState } from "../../host/kernel/index.js";
import { type LiveValue, type SiteKind, type SiteTable, type Stackmap, STACKMAP_SECTION_PREFIX, type ValueType } from "../../host/toolchain/index.js";
import type { PortableFrame, Value } from "../../host/transform/index.js";

export const ISAS: IsaProfile[] = [x86_64, aarch64];
/** Both directions, named for test titles: it.each(PAIRS)("… $from → $to", ({ A, B }) => …). */
export const PAIRS: { from: string; to: string; A: IsaProfile; B: IsaProfile }[] = [
  { from: x86_64.name, to: aarch64.name, A: x86_64, B: aarch64 },
  { from: aarch64.name, to: x86_64.name, A: aarch64, B: x86_64 },
];

export interface FunctionSpec {
  name: string;
  sites: { kind?: SiteKind; values: [ValueType, string][] }[];
}

/** A site table from a list of functions, ids dense in order; the hash is fixed unless given. */
export function siteTable(functions: FunctionSpec[], hash = new Uint8Array(32).fill(7)): SiteTable {
  const out: SiteTable = { version: 1, moduleHash: hash, functions: [], sites: [] };
  for (const f of functions) {
    out.functions.push({ name: f.name, firstSite: out.sites.length, siteCount: f.sites.length });
    for (const s of f.sites) {
      out.sites.push({
        id: out.sites.length,
        kind: s.kind ?? "call",
        func: f.name,
        values: s.values.map(([type, name]): LiveValue => ({ type, name })),
      });
    }
  }
  return out;
}

/** Both ISAs' stackmaps of a table. */
export function stackmaps(t: SiteTable): Map<string, Stackmap> {
  return new Map(ISAS.map((p) => [p.name, allocate(t, p)]));
}

export const TYPES: ValueType[] = ["i32", "i64", "f32", "f64", "v128"];

const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

export function valueArb(type: ValueType): fc.Arbitrary<Value> {
  switch (type) {
    case "i32":
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case "f32":
      return fc.float();
    case "f64":
      return fc.double();
    case "i64":
      return i64;
    case "v128":
      return fc.tuple(i64, i64);
  }
}

/**
 * Random site tables: up to 6 functions (the last one is main), each with
 * up to 5 sites of up to 14 values drawn from a per-function pool of names,
 * so values recur across sites and many at one site make x86-64 spill;
 * sometimes the same name and type twice at one site.
 */
export const siteTableArb: fc.Arbitrary<SiteTable> = fc
  .array(
    fc.record({
      pool: fc.array(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 16 }),
      sites: fc.array(
        fc.record({
          kind: fc.constantFrom<SiteKind>("entry", "loop", "call", "explicit"),
          picks: fc.array(fc.nat(), { maxLength: 14 }),
        }),
        { minLength: 1, maxLength: 5 },
      ),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((fns) =>
    siteTable(
      fns.map((f, fi) => ({
        name: fi === fns.length - 1 ? "main" : `f${fi}`,
        sites: f.sites.map((s) => ({
          kind: s.kind,
          values: s.picks.map((k): [ValueType, string] => {
            const slot = k % f.pool.length;
            return [f.pool[slot]!, `$${slot}`];
          }),
        })),
      })),
    ),
  );

/** Random frames of a table: main's frame outermost, any sites (recursion included) inside. */
export function framesArb(t: SiteTable, maxDepth = 40): fc.Arbitrary<PortableFrame[]> {
  const main = t.functions[t.functions.length - 1]!;
  const frameAt = (site: number): fc.Arbitrary<PortableFrame> =>
    fc.tuple(...t.sites[site]!.values.map((v) => valueArb(v.type))).map((values) => ({ site, values }));
  const inner = fc.array(fc.integer({ min: 0, max: t.sites.length - 1 }).chain(frameAt), { maxLength: maxDepth - 1 });
  const outer = fc.integer({ min: main.firstSite, max: main.firstSite + main.siteCount - 1 }).chain(frameAt);
  return fc.tuple(inner, outer).map(([i, o]) => [...i, o]);
}

export const tableAndFramesArb = siteTableArb.chain((t) => fc.tuple(fc.constant(t), framesArb(t)));

/**
 * Runs a compiled example and hands the frames of every capture (at the
 * migration points `gaps` apart) to `check`, which may return replacement
 * frames: those are what the program resumes from. Returns the output.
 */
export function runWithCaptures(
  wasm: Uint8Array,
  args: string[],
  gaps: number[],
  check: (frames: PortableFrame[], sites: SiteTable) => PortableFrame[] | void,
): { output: string[]; stderr: string[]; captures: number; status: number | undefined } {
  const program = loadProgram(wasm, "test");
  const output: string[] = [];
  const stderr: string[] = [];
  let i = 0;
  const p = new Process(program, {
    args,
    kernel: { id: 0, isa: "x86-64", count: 2 }, // migrate(1) stops the thread, and the test resumes it here
    stdout: (l) => output.push(l),
    stderr: (l) => stderr.push(l),
    nextCapture: () => gaps[i++],
  });
  p.boot();
  let captures = 0;
  const status = p.run((state: ThreadState) => {
    captures++;
    const replaced = check(state.frames as PortableFrame[], program.sites!);
    p.resume(replaced ? { ...state, frames: replaced } : state);
    return "resume";
  });
  return { output, stderr, captures, status };
}

/**
 * The module with its popcorn.stackmap.<isa> sections replaced by
 * `sections` (by default, one per profile laid out from `sites`, as
 * `popcorn compile` writes them).
 */
export function withStackmapSections(
  wasm: Uint8Array,
  sites: SiteTable,
  sections: [string, Uint8Array][] = stackmapBackends().map((b) => [b.section, b.layout(sites)]),
): Uint8Array {
  return replaceCustomSections(wasm, (name) => name.startsWith(STACKMAP_SECTION_PREFIX), sections);
}

/** The module without the custom sections whose name `drop` says, and with `add` appended. */
export function replaceCustomSections(wasm: Uint8Array, drop: (name: string) => boolean, add: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  let pos = 8;
  const uleb = (): number => {
    let r = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[pos++]!;
      r += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return r;
    }
  };
  while (pos < wasm.length) {
    const start = pos;
    const id = wasm[pos++]!;
    const size = uleb();
    const end = pos + size;
    let keep = true;
    if (id === 0) {
      const len = uleb();
      keep = !drop(Buffer.from(wasm.subarray(pos, pos + len)).toString());
    }
    if (keep) parts.push(wasm.subarray(start, end));
    pos = end;
  }
  for (const [name, bytes] of add) parts.push(customSectionBytes(name, bytes));
  return new Uint8Array(Buffer.concat(parts));
}

export function customSectionBytes(name: string, payload: Uint8Array): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n = Math.floor(n / 128);
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const nameBytes = Buffer.from(name);
  const body = Buffer.concat([Buffer.from(leb(nameBytes.length)), nameBytes, payload]);
  return new Uint8Array(Buffer.concat([Buffer.from([0, ...leb(body.length)]), body]));
}
