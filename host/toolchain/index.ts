/**
 * The toolchain layer: compile, link, instrument, and the formats of the
 * popcorn.sites and popcorn.stackmap.<isa> sections.
 *
 * The compiler (binaryen, AssemblyScript) loads only when `compile` is first
 * called: kernels and the commands that only talk to them never load it.
 */
import type { CompileResult } from "./compile.js";
import type { CompileOptions } from "./options.js";

export * from "./abi.js";
export * from "./options.js";
export type { CompileResult, CompileSummary } from "./compile.js";

/** Compiles an AssemblyScript program (or instruments an asc-built .wasm): see compile.ts. */
export async function compile(file: string, opts: CompileOptions = {}): Promise<CompileResult> {
  return (await import("./compile.js")).compile(file, opts);
}
export { decodeSites, encodeSites, customSection, hex, SitesFormatError, SITES_VERSION } from "./sites.js";
export type { Site, SiteKind, SiteTable, SiteFunction, LiveValue } from "./sites.js";
export { packageRoot, guestLibDir } from "./paths.js";
export { entryPointProblem } from "./entry.js";
export { functionNames, wasmModule, isWasm, memoryImport, type MemoryLimits } from "./wasmbin.js";
export {
  encodeStackmap, decodeStackmap, stackmapSection, StackmapFormatError, STACKMAP_SECTION_PREFIX, STACKMAP_VERSION,
} from "./stackmap.js";
export type { Stackmap, StackmapFunction, StackmapSite, Location, LocationKind, SavedRegister } from "./stackmap.js";
