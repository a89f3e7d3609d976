/**
 * What `popcorn compile` takes, with no dependency on the compiler itself:
 * layers that only read programs (kernels, cores) import the toolchain
 * without loading binaryen and AssemblyScript.
 */
import type { SiteTable } from "./sites.js";

export type Runtime = "stub" | "minimal" | "incremental";
export const RUNTIMES: Runtime[] = ["stub", "minimal", "incremental"];

/** Where the pass puts migration points: function entries, loop headers, explicit checkMigrate() calls. */
export type PointKind = "entry" | "loops" | "explicit";
export const ALL_POINTS: PointKind[] = ["entry", "loops", "explicit"];

export interface CompileOptions {
  points?: PointKind[];
  optimizeLevel?: number;
  shrinkLevel?: number;
  runtime?: Runtime;
  /** extra asc arguments, e.g. ["--enable", "simd"] */
  ascArgs?: string[];
  /** per-ISA backends that lay out every site's values and write a stackmap section each */
  backends?: StackmapBackend[];
}

export interface StackmapBackend {
  isa: string;
  section: string;
  layout(sites: SiteTable): Uint8Array;
}

export class CompileError extends Error {}
