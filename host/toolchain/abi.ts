/**
 * The contract between instrumented code and the host that runs it.
 *
 * Everything the instrumentation pass emits and the runtime relies on is
 * named here once: import modules and names, exported globals, the control
 * word and the reserved low memory that holds it.
 *
 * Reserved memory (below every program's data; `popcorn compile` passes
 * asc `--memoryBase RESERVED_END`):
 *
 *   Offset            | Size | Contents
 *   ------------------|------|----------------------------------------------
 *   0 .. 1023         | 1024 | untouched (null-pointer area)
 *   1024 + 64*t       |    4 | control word of thread slot t (i32, Atomics)
 *   1024 + 64*t + 4   |    4 | requested destination kernel of slot t, plus 1
 *                     |      | (0: none, the thread is only to stop)
 *   1024 + 64*t + 8   |    4 | countdown: points left before the thread unwinds
 *   1024 + 64*t + 12  |    4 | signal number that asked the thread to stop (0: none)
 *   1024 + 64*t + 16  |    8 | when the stop was asked for (f64, ms since the Unix epoch)
 *   1024 + 64*t + 24  |   40 | reserved for the runtime
 *   RESERVED_END      |      | the program's static data starts here
 *
 * Control word bits (written by the host, read at every migration point; a
 * point takes its slow path on any non-zero word, and a word without REWIND
 * is a request — the host sets URGENT only with REQUEST):
 *   CTRL_REQUEST  the host asks the thread to stop: every migration point
 *                 decrements the countdown, and the one that takes it to zero
 *                 unwinds (the host sets 1 to stop at the next point, N to
 *                 stop at the N-th). Points under a refused function do not
 *                 count (see NOCAPTURE_GLOBAL).
 *   CTRL_REWIND   set by the host while a thread is being rewound; the point
 *                 the thread stopped at clears it (atomically) and goes on.
 *   CTRL_URGENT   with CTRL_REQUEST: stop at the next point whatever the
 *                 countdown says (a signal, a migration asked for now). The
 *                 guest decrements the countdown without atomics, so a host
 *                 write of the countdown can be lost to it; this bit cannot.
 *
 * The slow path of a point makes no call that it returns from: a call, even
 * one never taken, makes V8 keep values live across it in memory on the fast
 * path (measured: count ran 3x slower with a call in its loop, fib 10 %
 * slower with one at its entry); see instrument/emit.ts.
 */

export const RESERVED_BASE = 1024;
export const CTRL_SLOT_BYTES = 64;
export const RESERVED_END = 8192;
export const MAX_THREAD_SLOTS = (RESERVED_END - RESERVED_BASE) / CTRL_SLOT_BYTES;

export const DEST_OFFSET = 4;
export const COUNTDOWN_OFFSET = 8;
export const SIGNAL_OFFSET = 12;
export const REQUESTED_AT_OFFSET = 16;
export const CTRL_REQUEST = 1;
export const CTRL_REWIND = 2;
export const CTRL_URGENT = 4;

/** Bytes of a Wasm memory page. */
export const WASM_PAGE = 65536;

/**
 * What asc builds without `--memoryBase RESERVED_END` puts where popcorn's
 * control words go: its static data below RESERVED_END, or (a program
 * without static data) a memory too small to hold them. The link step
 * refuses such a module, and a kernel a linked program that was made anyway
 * (by a popcorn before this check), in the same words.
 */
const RESERVED_FIX = `(built without asc --memoryBase ${RESERVED_END}?) — build it with asc --memoryBase ${RESERVED_END}, or compile the .ts with \`popcorn compile\``;

/** Why `name`'s memory of `pages` pages cannot hold popcorn's reserved memory, or undefined if it can. */
export function reservedMemoryProblem(name: string, pages: number): string | undefined {
  if (pages * WASM_PAGE >= RESERVED_END) return undefined;
  return `${name}: memory of ${pages} page${pages === 1 ? "" : "s"} leaves no room for popcorn's reserved memory below ${RESERVED_END} ${RESERVED_FIX}`;
}

/** `name`'s static data at `offset` is in popcorn's reserved memory. */
export function reservedDataProblem(name: string, offset: number): string {
  return `${name}: static data at offset ${offset} is in popcorn's reserved memory below ${RESERVED_END} ${RESERVED_FIX}`;
}

/** Byte address of the control word of thread slot `slot`. */
export function ctrlAddress(slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_THREAD_SLOTS) {
    throw new RangeError(`thread slot ${slot} out of range 0..${MAX_THREAD_SLOTS - 1}`);
  }
  return RESERVED_BASE + slot * CTRL_SLOT_BYTES;
}

/** Module name of the guest library's host imports (print, args, migrate...). */
export const GUEST_MODULE = "popcorn";
/** The guest library import that the pass turns into an explicit migration point. */
export const CHECK_MIGRATE = "check_migrate";

/**
 * Module name of the imports the pass adds:
 *   save_<sig>(site, v...)        record one frame (innermost first); <sig> has
 *                                 one letter per value: i=i32 I=i64 f=f32 F=f64
 *                                 (a v128 travels as two I)
 *   save_more_<sig>(v...)         the first values of a frame too large for one
 *                                 call; its save_<sig> follows with the rest
 *   rewind_frame() -> i32         next frame to restore (outermost first): its site
 *   restore_<t>() -> t            next value of that frame, t in i I f F
 */
export const RT_MODULE = "popcorn_rt";

/** Exported mutable globals the pass adds. */
export const CTRL_PTR_GLOBAL = "__popcorn_ctrl";
export const UNWINDING_GLOBAL = "__popcorn_unwinding";
/** Above zero while a function the pass refused is on the stack: points do not fire. */
export const NOCAPTURE_GLOBAL = "__popcorn_nocapture";

/** Export names the link step adds. */
export const INIT_MEMORY_EXPORT = "__popcorn_init_memory";
export const START_EXPORT = "_start";
export const GLOBAL_EXPORT_PREFIX = "__popcorn_global:";

/** The linked program imports its memory, shared (see link.ts). */
export const MEMORY_IMPORT = { module: "env", name: "memory" } as const;
/** Maximum of a program's shared memory when the program sets none: 1 GiB. */
export const DEFAULT_MAX_PAGES = 16384;

/** Custom section with the site table (see sites.ts). */
export const SITES_SECTION = "popcorn.sites";

export type ValueType = "i32" | "i64" | "f32" | "f64" | "v128";

/** Letter of a value type in save_<sig> import names. */
export const TYPE_LETTER: Record<ValueType, string> = { i32: "i", i64: "I", f32: "f", f64: "F", v128: "v" };

/**
 * Threads (assembly/popcorn/threads.ts is the guest side).
 *
 * Imports of module GUEST_MODULE that a threaded program adds:
 *   sys(op, a, b, c) -> i32   1: done, the result is in sys_result(); 0: the
 *                             host has asked this thread to stop at its next
 *                             migration point — the guest calls check_migrate()
 *                             right away (an explicit point: the thread unwinds
 *                             there, the kernel performs the operation, maybe
 *                             on another kernel, and rewinds the thread right
 *                             after that point); then it reads sys_result().
 *   sys_result() -> i32       the result of this thread's last sys()
 *   current_thread() -> i32   0 for main, 1, 2, ... for spawned threads
 *   thread_alloc()            added by the link step (see link.ts): a spawned
 *                             thread entered the allocator; the host throws a
 *                             clear error (the guest traps if it returns).
 *
 *   op                 a                         b        c                   result
 *   -----------------  ------------------------  -------  ------------------  ---------------------------
 *   1 SYS_SPAWN        function reference of     arg      top of the new      the new thread's id
 *                      `(arg: i32) => void`               thread's shadow
 *                      (see FUNCTION_REF_INDEX)           stack, or 0
 *   2 SYS_JOIN         thread id                                              that thread's `c` (the
 *                                                                             joiner frees the stack)
 *   3 SYS_LOCK         the mutex's address: its identity
 *   4 SYS_UNLOCK       the mutex's address
 *   5 SYS_BARRIER      the barrier's address     parties                      1 for exactly one thread
 *                                                                             of each phase, else 0
 *   6 SYS_ATOMIC_ADD   address of an i32         delta                        the old value (the host adds,
 *                                                                             wrapping, on the home
 *                                                                             kernel's memory)
 *   7 SYS_YIELD
 *
 * Starting a thread: the host instantiates the program once more on the
 * process's memory, gives the new instance a copy of the parent's globals
 * (the GLOBAL_EXPORT_PREFIX exports) except the per-thread ones — it sets
 * STACK_POINTER_GLOBAL (when the program has it) to SPAWN's `c`, and
 * THREAD_GLOBAL to the thread's id; the pass's own globals are per thread —
 * sets ARGUMENTS_LENGTH_GLOBAL to 1 when the program has it, and calls
 * `instance.exports[TABLE_EXPORT].get(index)(arg)` with index =
 * tableIndexOfFunctionRef(memory, a). Rewinding it after a capture calls the
 * same function again with the same arg.
 */
/** Host-internal (never a guest's): a kernel acquires again before a thread goes on; the result is `a`. */
export const SYS_ACQUIRE = 0;
export const SYS_SPAWN = 1;
export const SYS_JOIN = 2;
export const SYS_LOCK = 3;
export const SYS_UNLOCK = 4;
export const SYS_BARRIER = 5;
export const SYS_ATOMIC_ADD = 6;
export const SYS_YIELD = 7;

/** Import names of the thread interface (module GUEST_MODULE). */
export const SYS_IMPORT = "sys";
export const SYS_RESULT_IMPORT = "sys_result";
export const CURRENT_THREAD_IMPORT = "current_thread";
export const THREAD_ALLOC_IMPORT = "thread_alloc";

/**
 * AssemblyScript's function reference (`~lib/function.ts`, class Function):
 * a pointer to an object whose first field, `_index: u32` at offset 0, is the
 * function's index in the module's table (then `_env: usize`, 0 for the
 * top-level functions a thread can run). The object sits in static data.
 * So: the u32 (little-endian) at byte address `a` is the table index.
 */
export const FUNCTION_REF_INDEX_OFFSET = 0;

/** Table index of the function whose AssemblyScript reference is at `ref` in `memory`. */
export function tableIndexOfFunctionRef(memory: ArrayBufferLike, ref: number): number {
  return new DataView(memory).getUint32(ref + FUNCTION_REF_INDEX_OFFSET, true);
}

/** The link step exports the function table (when the module has one) under this name. */
export const TABLE_EXPORT = "__popcorn_table";
/**
 * Mutable i32 global the link step adds, 0: the id of the thread this instance
 * runs. Exported under this exact name (not GLOBAL_EXPORT_PREFIX): it is per
 * thread, never copied from a parent; the host sets it in each spawned
 * thread's instance. The allocation guard reads it.
 */
export const THREAD_GLOBAL = "__popcorn_thread";
/**
 * The shadow-stack pointer of AssemblyScript's GC runtimes (incremental; not
 * stub or minimal), exported as GLOBAL_EXPORT_PREFIX + this name. Per thread:
 * a spawned thread's is SPAWN's `c`.
 */
export const STACK_POINTER_GLOBAL = "~lib/memory/__stack_pointer";
/**
 * AssemblyScript passes the argument count of an indirect call in this global
 * when the callee has optional parameters (the table holds its `@varargs`
 * trampoline, which reads it). The host sets it to 1 before starting a thread.
 */
export const ARGUMENTS_LENGTH_GLOBAL = "~argumentsLength";
