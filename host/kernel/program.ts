/**
 * A compiled program as the kernel sees it: the module, its site table, its
 * stackmaps. Loading checks, once per program, everything the
 * transformation would otherwise find only at the first migration — with a
 * thread already stopped mid-run: the stackmaps decode and agree with the
 * site table (loadStackmaps), and no frame of a known ISA puts two things in
 * the same bytes (frameOverlaps: the copy plan's message, named by the file).
 */
import { frameOverlaps, loadStackmaps, PROFILES } from "../isa/index.js";
import {
  GUEST_MODULE,
  SITES_SECTION,
  SYS_IMPORT,
  type SiteTable,
  type Stackmap,
  customSection,
  decodeSites,
  entryPointProblem,
  hex,
  isWasm,
  memoryImport,
  type MemoryLimits,
  reservedMemoryProblem,
  wasmModule,
} from "../toolchain/index.js";
import type { ProgramMaps } from "./departure.js";

export interface Program {
  name: string;
  module: WebAssembly.Module;
  /** undefined for a plain (uninstrumented) module */
  sites?: SiteTable;
  /** the limits of the memory it imports (a linked program), undefined if it defines its own */
  memory?: MemoryLimits;
  /** per ISA profile name, where each site's values live on that ISA (empty for a plain module) */
  stackmaps: Map<string, Stackmap>;
}

export class ProgramError extends Error {}

export function loadProgram(bytes: Uint8Array, name = "program"): Program {
  if (!isWasm(bytes)) throw new ProgramError(`${name}: not a WebAssembly module — compile it first with \`popcorn compile\``);
  let module: WebAssembly.Module;
  try {
    module = wasmModule(bytes);
  } catch (e) {
    throw new ProgramError(`${name}: invalid WebAssembly module (${(e as Error).message})`);
  }
  const noEntry = entryPointProblem(bytes, module, name);
  if (noEntry) throw new ProgramError(noEntry);
  const maps = programMaps(bytes, name);
  const memory = memoryImport(bytes);
  // a linked program's memory holds the threads' control words (toolchain/abi.ts): a smaller one fails at the first write
  const small = memory && reservedMemoryProblem(name, memory.initial);
  if (small) throw new ProgramError(small);
  // threads' syscalls resume at explicit points (toolchain/compile.ts): a build without them returns stale results
  if (maps && !maps.sites.sites.some((s) => s.kind === "explicit") && WebAssembly.Module.imports(module).some((i) => i.module === GUEST_MODULE && i.name === SYS_IMPORT)) {
    throw new ProgramError(`${name}: it uses threads but was compiled without explicit points, where their syscalls stop — recompile it with \`popcorn compile\` (--points with explicit)`);
  }
  return { name, module, sites: maps?.sites, memory, stackmaps: maps?.stackmaps ?? new Map<string, Stackmap>() };
}

/** An instrumented program's sites and stackmaps, without compiling its module (a control thread's need); undefined for a plain one. */
export function programMaps(bytes: Uint8Array, name = "program"): ProgramMaps | undefined {
  const section = customSection(bytes, SITES_SECTION);
  if (!section) return undefined;
  const sites = decodeSites(section, name);
  const stackmaps = loadStackmaps(bytes, sites, name);
  for (const [isa, sm] of stackmaps) {
    const p = PROFILES.get(isa);
    const overlap = p && frameOverlaps(sm, p, undefined, 1)[0];
    if (overlap) throw new ProgramError(`${name}: ${isa} stackmap: ${overlap} — recompile with \`popcorn compile\``);
  }
  return { name, sites, stackmaps };
}

export function programHash(p: Program): string {
  return p.sites ? hex(p.sites.moduleHash) : "plain";
}
