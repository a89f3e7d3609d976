/**
 * The `popcorn.stackmap.<isa>` custom sections: where one ISA's backend keeps
 * every live value of every site.
 *
 * Popcorn compiles the same IR with two backends and records, per call site
 * and per ISA, where each live value ended up (LLVM's stackmaps), how big
 * each frame is and where the prologue spilled the callee-saved registers.
 * The state transformation needs nothing else to rewrite a stack of one ISA
 * into a stack of the other. Here the instrumented Wasm is the IR, the ISA
 * profiles in host/isa are the backends, and each writes one such section.
 * The sites are those of `popcorn.sites` (sites.ts), with the same ids and
 * the same live values in the same order; only their locations differ.
 *
 * Layout (MessagePack, one array):
 *
 *   [ version: 1,
 *     isa: str,                        "x86-64", "aarch64"
 *     moduleHash: bin(32),             the same as popcorn.sites' moduleHash
 *     entryReturnAddress: uint,        return address of the outermost frame,
 *                                      into the host's entry stub
 *     functions: [ [name, address, codeSize, frameSize,
 *                   savedRegs: [[dwarf, fpOffset], ...]], ... ],
 *     sites:     [ [id, functionIndex, returnAddress,
 *                   values: [[locationKind, dwarfOrOffsetOrConstant, size], ...]], ... ],
 *     byAddress: [ [returnAddress, siteId], ... ] ]   sorted by address, one per site
 *
 *   functions  in popcorn.sites' order; `address` and `codeSize` are the
 *              function's place in this ISA's text, `frameSize` is CFA − sp
 *              in bytes (everything the function's frame occupies, including
 *              the return address and the frame record; a multiple of 16)
 *   savedRegs  the callee-saved registers the prologue saves (exactly those
 *              the function's values use), each 8 bytes at frame base + fpOffset;
 *              the frame record (saved frame pointer, return address) is not
 *              listed: its place is a property of the ISA profile
 *   sites      dense by id, the same ids as popcorn.sites; `returnAddress` is
 *              the address right after the site's call into the migration
 *              runtime (a pc that identifies the site), unique in the module
 *   values     one location per live value, in popcorn.sites' order:
 *                kind 0 register   arg = DWARF register number
 *                kind 1 stack slot arg = signed offset from the frame base
 *                                  (the frame pointer's value in that frame)
 *                kind 2 constant   arg = a signed 32-bit integer, the value's
 *                                  bytes are its little-endian sign extension
 *                                  to `size` bytes (as LLVM's Constant)
 *              size = bytes of the value: 4 (i32, f32), 8 (i64, f64), 16 (v128);
 *              no two stack slots of a site, save slots or the frame record
 *              share a byte, and no two values of a site share a register
 *              (checked by the copy plan and `popcorn check`: host/isa/overlap.ts)
 *   byAddress  Popcorn's second index: a pc found while unwinding leads to
 *              its site in one lookup; decoding checks it against `sites`
 *
 * Worked example: the compiled fib example (assembly/examples/fib.ts), its
 * function `fib` and site 5, the first recursive call, with one i32 live
 * (`$0`, the argument n) — as the two profiles lay them out:
 *
 *   ISA      fib: address codeSize frameSize savedRegs            site 5: returnAddress  $0
 *   x86-64        0x4010c0 73      32        [[3,-8], [12,-16]]           0x4010ee       [0, 3, 4]   rbx
 *   aarch64       0x4100c0 76      32        [[19,16], [20,24]]           0x4100f0       [0, 19, 4]  x19
 *
 * fib's other site with a value, site 6, keeps `$6` in the second register
 * (r12 / x20), so fib saves two. On x86-64 they are pushed at [rbp-8] and
 * [rbp-16], below the frame record; on aarch64 they are stored at [x29+16]
 * and [x29+24], above the frame record at [x29]. main keeps seven values:
 * five fit x86-64's callee-saved registers and two are spilled to
 * [rbp-48] and [rbp-44]; all seven fit aarch64's x19–x25.
 */
import { decode, encode } from "@msgpack/msgpack";

export const STACKMAP_VERSION = 1;
export const STACKMAP_SECTION_PREFIX = "popcorn.stackmap.";

/** Where one live value is, in one frame of one ISA. */
export type Location =
  | { kind: "register"; dwarf: number; size: number }
  | { kind: "stack"; offset: number; size: number }
  | { kind: "constant"; value: number; size: number };

export type LocationKind = Location["kind"];
const KINDS: LocationKind[] = ["register", "stack", "constant"];

export interface SavedRegister {
  dwarf: number;
  /** from the frame base (the frame pointer) */
  offset: number;
}

export interface StackmapFunction {
  name: string;
  address: number;
  codeSize: number;
  /** CFA − sp: every byte of the frame, a multiple of the stack alignment */
  frameSize: number;
  savedRegs: SavedRegister[];
}

export interface StackmapSite {
  id: number;
  /** index into Stackmap.functions */
  func: number;
  returnAddress: number;
  values: Location[];
}

export interface Stackmap {
  version: number;
  isa: string;
  moduleHash: Uint8Array;
  entryReturnAddress: number;
  functions: StackmapFunction[];
  /** by id */
  sites: StackmapSite[];
  /** return address → site, built from `sites` */
  byAddress: Map<number, StackmapSite>;
}

export class StackmapFormatError extends Error {}

const locationArg = (l: Location): number => (l.kind === "register" ? l.dwarf : l.kind === "stack" ? l.offset : l.value);

export function encodeStackmap(sm: Omit<Stackmap, "byAddress"> & { byAddress?: Map<number, StackmapSite> }): Uint8Array {
  const index = sm.sites.map((s) => [s.returnAddress, s.id] as [number, number]).sort((a, b) => a[0] - b[0]);
  return encode([
    sm.version,
    sm.isa,
    sm.moduleHash,
    sm.entryReturnAddress,
    sm.functions.map((f) => [f.name, f.address, f.codeSize, f.frameSize, f.savedRegs.map((r) => [r.dwarf, r.offset])]),
    sm.sites.map((s) => [s.id, s.func, s.returnAddress, s.values.map((l) => [KINDS.indexOf(l.kind), locationArg(l), l.size])]),
    index,
  ]);
}

const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);
const isUint = (x: unknown): x is number => isInt(x) && x >= 0;

/**
 * Decodes a popcorn.stackmap.<isa> section; `where` names the file in
 * errors, `section` the section (its name says the ISA before the payload
 * can).
 */
export function decodeStackmap(bytes: Uint8Array, where = "module", section = "popcorn.stackmap"): Stackmap {
  const bad = (why: string) =>
    new StackmapFormatError(`${where}: ${section} section is malformed (${why}) — recompile with \`popcorn compile\``);
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (!Array.isArray(raw) || raw.length !== 7) throw bad("not a 7-element array");
  const [version, isa, hash, entry, funcs, sites, index] = raw as unknown[];
  if (version !== STACKMAP_VERSION) {
    throw new StackmapFormatError(
      `${where}: popcorn.stackmap version ${String(version)}, this popcorn reads version ${STACKMAP_VERSION} — recompile with this popcorn`,
    );
  }
  if (typeof isa !== "string" || !isa) throw bad("ISA name is not a string");
  const sect = `popcorn.stackmap.${isa}`;
  const badIn = (why: string) =>
    new StackmapFormatError(`${where}: ${sect} section is malformed (${why}) — recompile with \`popcorn compile\``);
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw badIn("module hash is not 32 bytes");
  if (!isUint(entry)) throw badIn("entry return address is not an unsigned integer");
  if (!Array.isArray(funcs) || !Array.isArray(sites) || !Array.isArray(index)) throw badIn("functions, sites or index is not an array");

  const functions: StackmapFunction[] = funcs.map((f: unknown, i: number) => {
    if (!Array.isArray(f) || f.length !== 5) throw badIn(`function record ${i} is not a 5-element array`);
    const [name, address, codeSize, frameSize, saved] = f as unknown[];
    if (typeof name !== "string" || !isUint(address) || !isUint(codeSize) || !isUint(frameSize) || !Array.isArray(saved)) {
      throw badIn(`function record ${i} has a bad name, address, size or saved-register list`);
    }
    const savedRegs = saved.map((r: unknown) => {
      if (!Array.isArray(r) || r.length !== 2 || !isUint(r[0]) || !isInt(r[1])) {
        throw badIn(`function ${name} has a bad saved-register record`);
      }
      return { dwarf: r[0], offset: r[1] };
    });
    return { name, address, codeSize, frameSize, savedRegs };
  });

  const table: StackmapSite[] = sites.map((s: unknown, i: number) => {
    if (!Array.isArray(s) || s.length !== 4 || s[0] !== i) throw badIn(`site record ${i} is out of order or not a 4-element array`);
    const [, fi, ra, vals] = s as unknown[];
    const fn = isUint(fi) ? functions[fi] : undefined;
    if (!fn) throw badIn(`site ${i} names function ${String(fi)}, the section has ${functions.length}`);
    if (!isUint(ra) || ra < fn.address || ra > fn.address + fn.codeSize) {
      throw badIn(`site ${i} return address ${isUint(ra) ? `0x${ra.toString(16)}` : String(ra)} is outside its function ${fn.name}`);
    }
    if (!Array.isArray(vals)) throw badIn(`site ${i} has no value list`);
    const values = vals.map((v: unknown, j: number): Location => {
      if (!Array.isArray(v) || v.length !== 3 || !isInt(v[1]) || ![4, 8, 16].includes(v[2] as number)) {
        throw badIn(`site ${i} value ${j} has a bad location record`);
      }
      const [k, arg, size] = v as [unknown, number, number];
      switch (KINDS[k as number]) {
        case "register":
          if (arg < 0) throw badIn(`site ${i} value ${j} names register ${arg}`);
          return { kind: "register", dwarf: arg, size };
        case "stack":
          return { kind: "stack", offset: arg, size };
        case "constant":
          if (arg !== (arg | 0)) throw badIn(`site ${i} value ${j} constant ${arg} is not a 32-bit integer`);
          return { kind: "constant", value: arg, size };
        default:
          throw badIn(`site ${i} value ${j} has location kind ${String(k)}`);
      }
    });
    return { id: i, func: fi as number, returnAddress: ra, values };
  });

  const byAddress = new Map<number, StackmapSite>();
  for (const s of table) {
    const other = byAddress.get(s.returnAddress);
    if (other) throw badIn(`sites ${other.id} and ${s.id} share return address 0x${s.returnAddress.toString(16)}`);
    byAddress.set(s.returnAddress, s);
  }
  if (index.length !== table.length) throw badIn(`the address index has ${index.length} entries for ${table.length} sites`);
  let last = -1;
  for (const e of index as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !isUint(e[0]) || !isUint(e[1])) throw badIn("bad address index entry");
    const [ra, id] = e as [number, number];
    if (ra <= last) throw badIn("the address index is not sorted");
    last = ra;
    if (byAddress.get(ra)?.id !== id) throw badIn(`the address index maps 0x${ra.toString(16)} to site ${id}, the sites disagree`);
  }
  return { version, isa, moduleHash: hash, entryReturnAddress: entry, functions, sites: table, byAddress };
}

/** The section name of one ISA's stackmap. */
export function stackmapSection(isa: string): string {
  return STACKMAP_SECTION_PREFIX + isa;
}
