// The guest library: what every popcorn program imports as "popcorn".
//
// Host imports (module "popcorn", declared in imports.ts), provided by
// host/kernel for both plain and instrumented runs:
//   print(ptr, len)              write a UTF-16 string of `len` code units
//   str_len(kind, i) -> i32      length of host string `i` of `kind`
//   str_copy(kind, i, ptr)       copy it into guest memory at `ptr`
//                                (kind 0 = program argument, 1 = ISA name)
//   current_kernel() -> i32      id of the kernel this thread runs on
//   kernel_count() -> i32        number of kernels in this run (ids 0..n-1)
//   migrate_request(kernel)      ask the host to move this thread to `kernel`
//   check_migrate()              a migration point: the instrumentation pass
//                                replaces every call to it with an explicit
//                                site; uninstrumented, it does nothing.
//   sys(op, a, b, c) -> i32      a thread operation (threads.ts has the ops):
//                                1 = done, its result is in sys_result();
//                                0 = the host asked this thread to stop at its
//                                next migration point: the guest calls
//                                check_migrate(), the host performs the
//                                operation while the thread is unwound (maybe
//                                on another kernel) and rewinds it right after
//                                that point; then it reads sys_result().
//   sys_result() -> i32          the result of the last sys() of this thread
//   current_thread() -> i32      this thread's id: 0 for main, 1, 2, ... for
//                                spawned threads
// and one that the link step adds (host/toolchain/link.ts), not this file:
//   thread_alloc()               called when a spawned thread enters the
//                                allocator; the host throws a clear error.
//
// Programs import threads, sync and migration from here alike:
//   import { print, Thread, Mutex, migrate } from "popcorn";

import {
  _print, _strLen, _strCopy, _currentKernel, _kernelCount, _migrateRequest, _checkMigrate,
} from "./imports";

export * from "./threads";

const STR_ARG: i32 = 0;
const STR_ISA: i32 = 1;

function hostString(kind: i32, index: i32): string {
  const len = _strLen(kind, index);
  const s = changetype<string>(__new(<usize>len << 1, idof<string>()));
  _strCopy(kind, index, changetype<usize>(s));
  return s;
}

/** Prints `s` and a newline on the process's output. */
export function print(s: string): void {
  _print(changetype<usize>(s), s.length);
}

/** The words after `--` on `popcorn run`. */
export function args(): string[] {
  const n = _strLen(STR_ARG, -1);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = hostString(STR_ARG, i);
  return out;
}

/** A migration point: if the host asked this thread to move, it moves here. */
export function checkMigrate(): void {
  _checkMigrate();
}

/** Continues this thread on `kernel`, right here. */
export function migrate(kernel: i32): void {
  _migrateRequest(kernel);
  _checkMigrate();
}

/** The id of the kernel this thread is running on. */
export function currentKernel(): i32 {
  return _currentKernel();
}

/** How many kernels this run has; their ids are 0 .. kernelCount() - 1. */
export function kernelCount(): i32 {
  return _kernelCount();
}

/** The ISA profile of the kernel this thread is running on, e.g. "x86-64". */
export function currentIsa(): string {
  return hostString(STR_ISA, 0);
}
