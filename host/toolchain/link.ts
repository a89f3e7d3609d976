/**
 * The link step: makes a compiled program thread- and migration-ready.
 *
 *   before (asc output)                    after
 *   ------------------------------------   ---------------------------------------------
 *   (data (i32.const 8204) "...") active   (data $popcorn.d0 "...") passive
 *                                          (func $__popcorn_init_memory  ;; exported
 *                                            memory.init $popcorn.d0 (8204, 0, len)
 *                                            data.drop $popcorn.d0 ...)
 *   (memory $0 1) (export "memory")       (import "env" "memory" (memory $0 1 16384 shared))
 *                                          (export "memory")
 *   (start $~start) or export "_start"     export "_start" (never run at instantiation)
 *   (global $g (mut i32) ...)              export "__popcorn_global:g" for every global
 *
 * Instantiating the result writes nothing to memory and runs no code, so a
 * second instance on the same memory (a thread, a restored process) cannot
 * clobber it: the first instance of a process calls `__popcorn_init_memory`
 * then `_start`; every later one receives memory and globals instead.
 *
 * The memory is imported and shared: the host makes it, a kernel's control
 * thread can write a running thread's control word in it (Atomics), a
 * restored instance is attached to memory that is already in place, and
 * threads share it. A shared memory needs a maximum: the module's own, or
 * DEFAULT_MAX_PAGES.
 */
import binaryen from "binaryen";
import {
  DEFAULT_MAX_PAGES,
  GLOBAL_EXPORT_PREFIX,
  INIT_MEMORY_EXPORT,
  MEMORY_IMPORT,
  RESERVED_END,
  START_EXPORT,
} from "./abi.js";
import { readDataSegments } from "./wasmbin.js";

const B = binaryen;

export class LinkError extends Error {}

const MEMORY_NAME = "0";

export function link(m: binaryen.Module, wasm: Uint8Array, where: string): void {
  if (!m.hasMemory()) throw new LinkError(`${where}: the module has no memory`);
  const mem = m.getMemoryInfo();
  if (mem.module) throw new LinkError(`${where}: imported memory is not supported yet — compile without --importMemory`);
  const segments = readDataSegments(wasm);
  if (segments.some((s) => s.passive)) {
    throw new LinkError(`${where}: the module has passive data segments; only active ones can be linked`);
  }
  const low = segments.filter((s) => s.data.length > 0 && s.offset < RESERVED_END);
  if (low.length) {
    throw new LinkError(
      `${where}: static data at offset ${low[0]!.offset} overlaps popcorn's reserved memory below ${RESERVED_END} — ` +
        `compile with \`popcorn compile\` (or asc --memoryBase ${RESERVED_END})`,
    );
  }

  // Data segments become passive, initialized once by an exported function.
  let exportName: string | null = null;
  for (let i = 0; i < m.getNumExports(); i++) {
    const e = B.getExportInfo(m.getExportByIndex(i));
    if (e.kind === B.ExternalMemory) exportName = e.name;
  }
  const names = segments.map((_, i) => `popcorn.d${i}`);
  if (exportName) m.removeExport(exportName); // setMemory adds the export again
  m.setMemory(
    mem.initial,
    mem.max ?? DEFAULT_MAX_PAGES,
    exportName ?? "memory",
    segments.map((s, i) => ({ name: names[i], data: s.data, passive: true, offset: 0 }) as binaryen.MemorySegment),
    true,
    false,
    MEMORY_NAME,
  );
  m.addMemoryImport(MEMORY_NAME, MEMORY_IMPORT.module, MEMORY_IMPORT.name, true);
  const init = segments.flatMap((s, i) => [
    m.memory.init(names[i]!, m.i32.const(s.offset), m.i32.const(0), m.i32.const(s.data.length)),
    m.data.drop(names[i]!),
  ]);
  m.addFunction(INIT_MEMORY_EXPORT, B.none, B.none, [], m.block(null, init));
  m.addFunctionExport(INIT_MEMORY_EXPORT, INIT_MEMORY_EXPORT);

  // The start function is exported, never run at instantiation.
  const start = m.getStart();
  if (start) {
    const name = B.getFunctionInfo(start).name;
    m.setStart(0);
    if (!hasExport(m, START_EXPORT)) m.addFunctionExport(name, START_EXPORT);
  }

  // Every global is readable (and, if mutable, writable) by the host.
  for (let i = 0; i < m.getNumGlobals(); i++) {
    const g = B.getGlobalInfo(m.getGlobalByIndex(i));
    m.addGlobalExport(g.name, GLOBAL_EXPORT_PREFIX + g.name);
  }
}

export function hasExport(m: binaryen.Module, name: string): boolean {
  for (let i = 0; i < m.getNumExports(); i++) if (B.getExportInfo(m.getExportByIndex(i)).name === name) return true;
  return false;
}
