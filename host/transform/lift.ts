/**
 * lift: a native image → its portable frames, innermost first.
 *
 * The unwinder (unwind.ts) walks the image by frame pointer and return
 * address, finds each frame's site by its return address, and reads the
 * site's live values from their locations — registers of outer frames from
 * wherever inner frames saved them. The values' types come from the site
 * table.
 */
import type { SiteTable, Stackmap } from "../toolchain/index.js";
import type { IsaProfile } from "../isa/index.js";
import { frameBuffer } from "./frames.js";
import type { NativeImage, PortableFrame } from "./image.js";
import { checkSites, planOf } from "./plan.js";
import { unwind } from "./unwind.js";
import { decodeFrames } from "./values.js";

export function lift(img: NativeImage, sites: SiteTable, sm: Stackmap, profile: IsaProfile): PortableFrame[] {
  const what = "lift";
  const plan = planOf(sm, profile);
  checkSites(plan, sites, what);
  unwind(img, plan, frameBuffer, what);
  return decodeFrames(frameBuffer, sites, what);
}
