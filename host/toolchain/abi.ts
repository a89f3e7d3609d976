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
 * Control word bits (written by the host, read at every migration point):
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
 * The slow path of a point makes no call that it returns from: a call inside
 * a loop, even one never taken, makes V8 spill the loop's values around it
 * on the fast path (measured: count ran 3x slower with a call there).
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
