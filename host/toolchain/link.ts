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
 *   (table $0 2 2 funcref)                 (export "__popcorn_table" (table $0))
 *                                          (global $__popcorn_thread (mut i32) (i32.const 0))
 *                                          (export "__popcorn_thread" (global $__popcorn_thread))
 *   func $~lib/rt/tlsf/removeBlock ...     (import "popcorn" "thread_alloc" (func $popcorn.thread_alloc))
 *     body                                 func $~lib/rt/tlsf/removeBlock ...
 *                                            if (global.get $__popcorn_thread)
 *                                              call $popcorn.thread_alloc  ;; the host throws
 *                                              unreachable                 ;; if it returns
 *                                            body
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
 *
 * Threads (abi.ts has the protocol). The host starts a thread by calling a
 * function of the table, so the table is exported (asc exports it only with
 * --exportTable). Each instance knows which thread it runs from
 * `__popcorn_thread`, exported without the global prefix because the host
 * must not copy it from a parent thread.
 *
 * The allocation guard. AssemblyScript's allocators (stub: a bump pointer;
 * TLSF: free lists whose root pointer is a global) and collectors (itcms,
 * tcms) keep their state in globals, which are per instance: a spawned thread
 * that allocated would work on a stale copy and hand out memory that main
 * hands out too. So only main allocates; a spawned thread that tries traps,
 * with the host's message, before it has changed anything. Guarded, when
 * present (asc -O3 inlines some into others, e.g. tlsf's __alloc into
 * itcms's __new):
 *   - the runtime's entry points: ~lib/rt/{tlsf,stub}/{__alloc,__realloc,__free}
 *     and ~lib/rt/{itcms,tcms,stub}/{__new,__renew,__collect};
 *   - TLSF's removeBlock and insertBlock, through which every change to its
 *     free lists goes, so an entry point inlined into a caller is caught too;
 *   - every write of the stub's bump pointer (~lib/rt/stub/offset), for the
 *     same reason: the guard goes right before the write, not at the entry of
 *     the function it was inlined into (often main, or Thread#join's free),
 *     so a thread that runs such a function without allocating goes on:
 *       (global.set $~lib/rt/stub/offset v)
 *         -> (global.set $~lib/rt/stub/offset (block (if (global.get $__popcorn_thread) ...) v))
 * Only a program that can have threads gets the guard (and the import): one
 * that imports popcorn.sys, through which threads are spawned. The others
 * stay as they were, without the cost and without the import.
 *
 * The instrumentation pass runs after this step: to it, a guard is one more
 * call of an import, which can never reach a migration point and so is no
 * call site; the runtime gets no points of its own, so the runtime functions
 * it guards stay uninstrumented (a guarded bump-pointer write inlined into an
 * instrumented function is ordinary code there).
 */
import binaryen from "binaryen";
import {
  DEFAULT_MAX_PAGES,
  GLOBAL_EXPORT_PREFIX,
  GUEST_MODULE,
  INIT_MEMORY_EXPORT,
  MEMORY_IMPORT,
  RESERVED_END,
  reservedDataProblem,
  reservedMemoryProblem,
  START_EXPORT,
  SYS_IMPORT,
  TABLE_EXPORT,
  THREAD_ALLOC_IMPORT,
  THREAD_GLOBAL,
} from "./abi.js";
import { walk } from "./instrument/exprs.js";
import { readDataSegments } from "./wasmbin.js";

const B = binaryen;

export class LinkError extends Error {}

const MEMORY_NAME = "0";

/** Segments closer than this many bytes are initialized as one: a memory.init costs more code than the zeros between. */
const MERGE_GAP = 32;

/**
 * Adjacent segments merged into one, the bytes between them zero (memory is
 * fresh when it is initialized): asc emits a segment per static object, often
 * of a few bytes, and each would cost a memory.init and a data.drop.
 */
function mergeSegments(segments: { offset: number; data: Uint8Array }[]): { offset: number; data: Uint8Array }[] {
  const sorted = segments.filter((s) => s.data.length > 0).sort((a, b) => a.offset - b.offset);
  // overlapping segments apply in module order, later bytes winning: keep them as they are
  if (sorted.some((s, i) => i > 0 && s.offset < sorted[i - 1]!.offset + sorted[i - 1]!.data.length)) return segments;
  const runs: { offset: number; parts: { offset: number; data: Uint8Array }[]; end: number }[] = [];
  for (const s of sorted) {
    const last = runs[runs.length - 1];
    if (last && s.offset - last.end <= MERGE_GAP) {
      last.parts.push(s);
      last.end = s.offset + s.data.length;
    } else runs.push({ offset: s.offset, parts: [s], end: s.offset + s.data.length });
  }
  return runs.map((r) => {
    const data = new Uint8Array(r.end - r.offset);
    for (const p of r.parts) data.set(p.data, p.offset - r.offset);
    return { offset: r.offset, data };
  });
}

export function link(m: binaryen.Module, wasm: Uint8Array, where: string): void {
  if (!m.hasMemory()) throw new LinkError(`${where}: the module has no memory`);
  const mem = m.getMemoryInfo();
  if (mem.module) throw new LinkError(`${where}: imported memory is not supported yet — compile without --importMemory`);
  const active = readDataSegments(wasm);
  if (active.some((s) => s.passive)) {
    throw new LinkError(`${where}: the module has passive data segments; only active ones can be linked`);
  }
  const low = active.filter((s) => s.data.length > 0 && s.offset < RESERVED_END);
  if (low.length) throw new LinkError(reservedDataProblem(where, low[0]!.offset));
  // no data, but no room for the control words either: the kernel's first write of one would fail
  const small = reservedMemoryProblem(where, mem.initial);
  if (small) throw new LinkError(small);

  // Data segments become passive, initialized once by an exported function.
  const segments = mergeSegments(active);
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

  linkThreads(m, where);
}

/** The table export, the thread global and the allocation guard (see the header). */
function linkThreads(m: binaryen.Module, where: string): void {
  if (m.getNumTables() > 0 && !hasExport(m, TABLE_EXPORT)) {
    m.addTableExport(B.getTableInfo(m.getTableByIndex(0)).name, TABLE_EXPORT);
  }
  if (m.getGlobal(THREAD_GLOBAL)) throw new LinkError(`${where}: the module already has a global named ${THREAD_GLOBAL}`);
  m.addGlobal(THREAD_GLOBAL, B.i32, true, m.i32.const(0));
  m.addGlobalExport(THREAD_GLOBAL, THREAD_GLOBAL);
  if (canSpawn(m)) guardAllocator(m);
}

/** Whether the program imports popcorn.sys, the only way to spawn a thread. */
function canSpawn(m: binaryen.Module): boolean {
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const f = B.getFunctionInfo(m.getFunctionByIndex(i));
    if (f.module === GUEST_MODULE && f.base === SYS_IMPORT) return true;
  }
  return false;
}

const ALLOCATOR_ENTRY = /^~lib\/rt\/(?:(?:tlsf|stub)\/__(?:alloc|realloc|free)|(?:itcms|tcms|stub)\/__(?:new|renew|collect))$/;
const TLSF_LISTS = /^~lib\/rt\/tlsf\/(?:removeBlock|insertBlock)$/;
const STUB_BUMP_POINTER = "~lib/rt/stub/offset";
/** Import name of the guard's call (the module's own name for it). */
const GUARD_IMPORT = `${GUEST_MODULE}.${THREAD_ALLOC_IMPORT}`;

/** Parts of binaryen.js that its type declarations omit. */
const FunctionApi = (binaryen as unknown as { Function: { setBody(f: number, body: number): void } }).Function;
const GlobalSetApi = (binaryen as unknown as { GlobalSet: { setValue(e: number, value: number): void } }).GlobalSet;

/**
 * Puts the guard at the entry of the allocator's functions and before every
 * write of the stub's bump pointer, wherever asc inlined it (a write in a
 * function the walker cannot read guards that whole function). Returns the
 * guarded functions, in module order.
 */
function guardAllocator(m: binaryen.Module): string[] {
  const atEntry: string[] = [];
  const writes = new Map<string, number[]>();
  const stub = m.getGlobal(STUB_BUMP_POINTER) !== 0;
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const f = B.getFunctionInfo(m.getFunctionByIndex(i));
    if (f.module) continue;
    if (ALLOCATOR_ENTRY.test(f.name) || TLSF_LISTS.test(f.name)) atEntry.push(f.name);
    else if (stub) {
      const found = globalWrites(f.body, STUB_BUMP_POINTER);
      if (found === "unreadable") atEntry.push(f.name);
      else if (found.length) writes.set(f.name, found);
    }
  }
  if (!atEntry.length && !writes.size) return [];

  m.addFunctionImport(GUARD_IMPORT, GUEST_MODULE, THREAD_ALLOC_IMPORT, B.none, B.none);
  const guard = () =>
    m.if(m.global.get(THREAD_GLOBAL, B.i32), m.block(null, [m.call(GUARD_IMPORT, [], B.none), m.unreachable()]));
  for (const name of atEntry) {
    const f = m.getFunction(name);
    const info = B.getFunctionInfo(f);
    FunctionApi.setBody(f, m.block(null, [guard(), info.body], info.results));
  }
  // (global.set $offset v)  ->  (global.set $offset (block (guard) v)): the
  // guard runs before v is computed and before the pointer moves.
  for (const sets of writes.values()) {
    for (const set of sets) {
      const value = (B.getExpressionInfo(set) as binaryen.GlobalSetInfo).value;
      GlobalSetApi.setValue(set, m.block(null, [guard(), value], B.i32));
    }
  }
  return [...atEntry, ...writes.keys()];
}

/** Every `global.set $global` in `body`, or "unreadable" if it holds a kind the walker does not know that may hide one. */
function globalWrites(body: number, global: string): number[] | "unreadable" {
  const out: number[] = [];
  try {
    walk(body, (e) => {
      if (B.getExpressionId(e) === B.GlobalSetId && (B.getExpressionInfo(e) as binaryen.GlobalSetInfo).name === global) out.push(e);
    });
  } catch {
    return B.emitText(body).includes(`global.set $${global}`) ? "unreadable" : [];
  }
  return out;
}

export function hasExport(m: binaryen.Module, name: string): boolean {
  for (let i = 0; i < m.getNumExports(); i++) if (B.getExportInfo(m.getExportByIndex(i)).name === name) return true;
  return false;
}
