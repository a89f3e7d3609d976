/** A compiled program as the kernel sees it: the module, its site table, its exports. */
import {
  SITES_SECTION,
  type SiteTable,
  customSection,
  decodeSites,
  hex,
  isWasm,
  wasmModule,
} from "../toolchain/index.js";

export interface Program {
  name: string;
  module: WebAssembly.Module;
  /** undefined for a plain (uninstrumented) module */
  sites?: SiteTable;
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
  const section = customSection(bytes, SITES_SECTION);
  const sites = section ? decodeSites(section, name) : undefined;
  if (!WebAssembly.Module.exports(module).some((e) => e.name === "main" && e.kind === "function")) {
    throw new ProgramError(`${name}: exports no function \`main\` — a popcorn program's entry point is \`export function main(): i32\``);
  }
  return { name, module, sites };
}

export function programHash(p: Program): string {
  return p.sites ? hex(p.sites.moduleHash) : "plain";
}
