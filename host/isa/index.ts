/** The ISA layer: the profiles, the backend allocator, and the stackmaps it writes. */
import { type SiteTable, type StackmapBackend, encodeStackmap, stackmapSection } from "../toolchain/index.js";
import { aarch64 } from "./aarch64.js";
import { allocate } from "./allocate.js";
import type { IsaProfile } from "./profile.js";
import { x86_64 } from "./x86-64.js";

export type { IsaProfile, Register, RegisterClass, FrameRequest, FrameLayout, CodeModel } from "./profile.js";
export { locationText, alignUp } from "./profile.js";
export { allocate, AllocationError, VALUE_BYTES } from "./allocate.js";
export { loadStackmaps, checkStackmap, customSectionsWithPrefix } from "./load.js";
export { x86_64, aarch64 };

/** Every profile, by name, in a fixed order (the first is the default ISA of kernel 0). */
export const PROFILES: ReadonlyMap<string, IsaProfile> = new Map([
  [x86_64.name, x86_64],
  [aarch64.name, aarch64],
]);

export class UnknownIsaError extends Error {}

export function profile(name: string): IsaProfile {
  const p = PROFILES.get(name);
  if (!p) throw new UnknownIsaError(`unknown ISA "${name}" — known ISAs: ${[...PROFILES.keys()].join(", ")}`);
  return p;
}

export type { StackmapBackend };

/** One backend per profile: what `popcorn compile` runs to write the stackmap sections. */
export function stackmapBackends(): StackmapBackend[] {
  return [...PROFILES.values()].map((p) => ({
    isa: p.name,
    section: stackmapSection(p.name),
    layout: (sites: SiteTable) => encodeStackmap(allocate(sites, p)),
  }));
}
