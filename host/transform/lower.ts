/**
 * lower: portable frames → the native image one ISA would hold for them.
 *
 * The frames (innermost first, as a capture yields them) are encoded into
 * the frame buffer as raw value bytes (values.ts: a value that cannot be
 * laid out exactly — an f32 no f32 holds, a value other than the constant
 * the stackmap keeps it as — is refused), and the builder lays them out with
 * the ISA's stackmap (build.ts): outermost frame first from the stack top,
 * each prologue saving the callee-saved registers it uses, each frame
 * record linking to the caller, each value in its register or slot.
 */
import type { SiteTable, Stackmap } from "../toolchain/index.js";
import type { IsaProfile } from "../isa/index.js";
import { build } from "./build.js";
import { frameBuffer } from "./frames.js";
import type { NativeImage, PortableFrame } from "./image.js";
import { checkSites, planOf } from "./plan.js";
import { encodeFrames } from "./values.js";

export function lower(frames: readonly PortableFrame[], sites: SiteTable, sm: Stackmap, profile: IsaProfile): NativeImage {
  const what = "lower";
  const plan = planOf(sm, profile);
  checkSites(plan, sites, what);
  encodeFrames(frames, sites, plan, frameBuffer, what);
  return build(frameBuffer, plan, what);
}
