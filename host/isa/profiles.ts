/** Every ISA profile this popcorn knows, by name. A new ISA is one file and one line here. */
import { aarch64 } from "./aarch64.js";
import type { IsaProfile } from "./profile.js";
import { x86_64 } from "./x86-64.js";

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
