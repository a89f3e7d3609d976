/** The toolchain layer: compile, link, instrument, and the popcorn.sites format. */
export * from "./abi.js";
export { compile, compileAssemblyScript, instrumentWasm, CompileError, RUNTIMES } from "./compile.js";
export type { CompileOptions, CompileResult, CompileSummary, Runtime } from "./compile.js";
export { ALL_POINTS, type PointKind } from "./instrument/index.js";
export { decodeSites, encodeSites, customSection, hex, SitesFormatError, SITES_VERSION } from "./sites.js";
export type { Site, SiteKind, SiteTable, LiveValue } from "./sites.js";
export { packageRoot, guestLibDir } from "./paths.js";
export { wasmModule, isWasm } from "./wasmbin.js";
