/**
 * The trace of a rewrite: every frame and every value moved, as plain
 * JSON-able data (numbers, strings, arrays, objects), so a later tool can
 * write it to a file or show it in a viewer without knowing this code.
 *
 *   TransformTrace
 *     version      TRACE_VERSION
 *     from, to     { isa, pc, sp, fp, stackTop, stackBytes } of each image
 *     frames[]     innermost first (depth 0 = the frame that was running):
 *       depth, function, site
 *       from, to   { returnAddress, frameBase, cfa, frameSize,
 *                    savedRegs: [{ register, dwarf, offset }] }
 *       values[]   in the site's order:
 *         index, name, type     name and type from popcorn.sites (null
 *                               without a site table), size in bytes
 *         from, to              stackmap locations (Location)
 *         fromText, toText      as an assembler writes them, a register by
 *                               the view the value's size uses (host/isa):
 *                               "ebx" | "r12" | "[rbp-24]" | "w21" | "x21" | "[x29+32]" | "const 7"
 *         hex                   the value's bytes in memory order, e.g.
 *                               "07000000" for the i32 7
 *     counts       frames, values, valueBytes; per side the values held in
 *                  registers, stack slots and constants; savedRegisters per
 *                  side (save slots of the prologues: read while unwinding
 *                  A, written while building B)
 *
 * Example (one fib frame, x86-64 → aarch64):
 *   { depth: 1, function: "fib/fib", site: 5,
 *     from: { returnAddress: 0x4010ee, frameBase: …, … }, to: { … },
 *     values: [{ index: 0, name: "$0", type: "i32", size: 4,
 *                from: { kind: "register", dwarf: 3, size: 4 }, fromText: "ebx",
 *                to: { kind: "register", dwarf: 19, size: 4 }, toText: "w19",
 *                hex: "02000000" }] }
 */
import type { Location, SiteTable, ValueType } from "../toolchain/index.js";
import { locationText } from "../isa/index.js";
import type { FrameBuffer } from "./frames.js";
import type { NativeImage } from "./image.js";
import type { Plan } from "./plan.js";

export const TRACE_VERSION = 1;

export interface TraceValue {
  index: number;
  name: string | null;
  type: ValueType | null;
  size: number;
  from: Location;
  to: Location;
  fromText: string;
  toText: string;
  hex: string;
}

export interface TraceFrameSide {
  returnAddress: number;
  frameBase: number;
  cfa: number;
  frameSize: number;
  savedRegs: { register: string; dwarf: number; offset: number }[];
}

export interface TraceFrame {
  depth: number;
  function: string;
  site: number;
  from: TraceFrameSide;
  to: TraceFrameSide;
  values: TraceValue[];
}

export interface TraceImage {
  isa: string;
  pc: number;
  sp: number;
  fp: number;
  stackTop: number;
  stackBytes: number;
}

export type LocationCounts = Record<Location["kind"], number>;

export interface TransformTrace {
  version: number;
  from: TraceImage;
  to: TraceImage;
  frames: TraceFrame[];
  counts: {
    frames: number;
    values: number;
    valueBytes: number;
    from: LocationCounts;
    to: LocationCounts;
    savedRegisters: { from: number; to: number };
  };
}

const imageOf = (img: NativeImage): TraceImage => ({
  isa: img.isa,
  pc: img.pc,
  sp: img.sp,
  fp: img.fp,
  stackTop: img.stackTop,
  stackBytes: img.stack.length,
});

function hexOf(b: Uint8Array, at: number, n: number): string {
  let s = "";
  for (let k = 0; k < n; k++) s += b[at + k]!.toString(16).padStart(2, "0");
  return s;
}

function side(plan: Plan, site: number, fp: number): TraceFrameSide {
  const f = plan.sm.functions[plan.sm.sites[site]!.func]!;
  const p = plan.profile;
  return {
    returnAddress: plan.sm.sites[site]!.returnAddress,
    frameBase: fp,
    cfa: fp + p.cfaOffset(f.frameSize),
    frameSize: f.frameSize,
    savedRegs: f.savedRegs.map((r) => ({ register: p.registerName(r.dwarf), dwarf: r.dwarf, offset: r.offset })),
  };
}

/** The trace of the rewrite whose frames `fb` still holds. */
export function traceOf(fb: FrameBuffer, a: Plan, b: Plan, from: NativeImage, to: NativeImage, sites?: SiteTable): TransformTrace {
  const zero = (): LocationCounts => ({ register: 0, stack: 0, constant: 0 });
  const counts = { frames: fb.n, values: 0, valueBytes: 0, from: zero(), to: zero(), savedRegisters: { from: 0, to: 0 } };
  const frames: TraceFrame[] = [];
  for (let i = 0; i < fb.n; i++) {
    const s = fb.site[i]!;
    const A = a.sm.sites[s]!;
    const B = b.sm.sites[s]!;
    const live = sites?.sites[s]?.values;
    let off = fb.valOff[i]!;
    const values = A.values.map((fromLoc, j): TraceValue => {
      const toLoc = B.values[j]!;
      const v: TraceValue = {
        index: j,
        name: live?.[j]?.name ?? null,
        type: live?.[j]?.type ?? null,
        size: fromLoc.size,
        from: fromLoc,
        to: toLoc,
        fromText: locationText(a.profile, fromLoc),
        toText: locationText(b.profile, toLoc),
        hex: hexOf(fb.bytes, off, fromLoc.size),
      };
      off += fromLoc.size;
      counts.values++;
      counts.valueBytes += fromLoc.size;
      counts.from[fromLoc.kind]++;
      counts.to[toLoc.kind]++;
      return v;
    });
    const fromSide = side(a, s, fb.fpFrom[i]!);
    const toSide = side(b, s, fb.fpTo[i]!);
    counts.savedRegisters.from += fromSide.savedRegs.length;
    counts.savedRegisters.to += toSide.savedRegs.length;
    frames.push({ depth: i, function: a.sm.functions[A.func]!.name, site: s, from: fromSide, to: toSide, values });
  }
  return { version: TRACE_VERSION, from: imageOf(from), to: imageOf(to), frames, counts };
}
