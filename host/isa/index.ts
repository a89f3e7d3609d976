/** The ISA layer: the profiles, the backend allocator, and the stackmaps it writes. */
import { type SiteTable, type StackmapBackend, encodeStackmap, stackmapSection } from "../toolchain/index.js";
import { allocate } from "./allocate.js";
import { PROFILES } from "./profiles.js";

export type { IsaProfile, Register, RegisterClass, FrameRequest, FrameLayout, CodeModel } from "./profile.js";
export { locationText, alignUp } from "./profile.js";
export { allocate, AllocationError, VALUE_BYTES } from "./allocate.js";
export { loadStackmaps, checkStackmap, customSectionsWithPrefix } from "./load.js";
export { checkStackmaps, type CheckReport } from "./check.js";
export { frameOverlaps } from "./overlap.js";
export { PROFILES, profile, UnknownIsaError, x86_64, aarch64 } from "./profiles.js";

export type { StackmapBackend };

/** One backend per profile: what `popcorn compile` runs to write the stackmap sections. */
export function stackmapBackends(): StackmapBackend[] {
  return [...PROFILES.values()].map((p) => ({
    isa: p.name,
    section: stackmapSection(p.name),
    layout: (sites: SiteTable) => encodeStackmap(allocate(sites, p)),
  }));
}
