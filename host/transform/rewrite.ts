/**
 * rewrite: a native image of ISA A → the native image of ISA B, using only
 * the two stackmaps — Popcorn's st_rewrite_stack.
 *
 *   1. unwind A (unwind.ts): frame by frame from the innermost, each live
 *      value's bytes read from its A location — a register of the image,
 *      the save slot where an inner frame spilled that register, a stack
 *      slot, or a constant;
 *   2. build B (build.ts): outermost frame first, B's frame records, return
 *      addresses and callee-saved save slots, each value's bytes written to
 *      its B location; a value B keeps as a constant must be that
 *      constant, or the stackmaps are not of the same program (refused).
 *
 * Values move as bytes: no JS value, no BigInt, no per-value object on this
 * path; the stackmaps are compiled once into copy plans (plan.ts). With
 * `trace`, the moves are also returned as a TransformTrace (trace.ts).
 */
import type { SiteTable, Stackmap } from "../toolchain/index.js";
import type { IsaProfile } from "../isa/index.js";
import { build } from "./build.js";
import { frameBuffer } from "./frames.js";
import type { NativeImage } from "./image.js";
import { checkPair, planOf } from "./plan.js";
import { type TransformTrace, traceOf } from "./trace.js";
import { unwind } from "./unwind.js";

export interface RewriteOptions {
  /** also return the trace of every frame and value moved */
  trace?: boolean;
  /** names and types of the values in the trace and in errors (from popcorn.sites) */
  sites?: SiteTable;
}

export interface RewriteResult {
  image: NativeImage;
  trace?: TransformTrace;
}

export function rewrite(
  img: NativeImage,
  from: Stackmap,
  to: Stackmap,
  fromProfile: IsaProfile,
  toProfile: IsaProfile,
  opts: RewriteOptions = {},
): RewriteResult {
  const what = `rewrite ${fromProfile.name} → ${toProfile.name}`;
  const a = planOf(from, fromProfile);
  const b = planOf(to, toProfile);
  checkPair(a, b);
  unwind(img, a, frameBuffer, what);
  const image = build(frameBuffer, b, what, fromProfile.name, opts.sites);
  return opts.trace ? { image, trace: traceOf(frameBuffer, a, b, img, image, opts.sites) } : { image };
}
