// Threads and synchronization: Thread, Mutex, Barrier, AtomicCounter.
//
// A spawned thread is one more Wasm instance of the program on the same
// (shared) memory; it can run on any kernel and migrate alone. Every
// operation here is one host call, `sys(op, a, b, c)` (see index.ts): the
// host either performs it at once, or asks the thread to stop at the
// migration point right after the call, performs it while the thread is
// unwound — possibly on another kernel, e.g. a lock whose owner runs there —
// and rewinds the thread there. So a thread blocked in `lock()` or `join()`
// holds no core and can be moved like any other.
//
//   op                a                      b        c                      result
//   ----------------  ---------------------  -------  ---------------------  ----------------------
//   1 SPAWN           function reference     arg      top of its shadow      the new thread's id
//                     `(arg: i32) => void`            stack (0: none)
//   2 JOIN            thread id                                              that thread's `c`
//   3 LOCK            the mutex's address (its identity)
//   4 UNLOCK          the mutex's address
//   5 BARRIER         the barrier's address  parties                         1 for exactly one thread
//                                                                            of each phase, else 0
//   6 ATOMIC_ADD      address of an i32      delta                           the old value
//   7 YIELD
//
// The rules a threaded program follows:
//
// - Only the main thread allocates (and frees). The allocator and the
//   collector keep their state in per-instance globals, so a spawned thread
//   that entered them would corrupt the heap: the link step makes it trap
//   instead ("thread_alloc"). Main allocates what the threads need before it
//   spawns them (arrays, result slots, Mutex/Barrier/AtomicCounter objects)
//   and passes it to them. No string building, `new`, or array growth in a
//   thread; `print` of a string literal is fine (literals are static data).
//   `Thread.spawn` allocates, so only main spawns.
// - Module globals are per thread: a spawned thread starts with a copy of its
//   parent's globals, and what it writes to a global nobody else sees. Share
//   data through memory: objects and arrays (whose references the thread got
//   from a global written before the spawn, or through its argument).
// - Objects a thread uses must stay reachable from main — from a global or
//   from one of main's locals that lives until the join — because the
//   garbage collector runs in main and scans main's roots only. A spawned
//   thread stores numbers into shared objects, not references to managed
//   objects (the collector's write barrier belongs to main).
// - A program whose threads touch shared data only between synchronizations
//   (spawn, join, Mutex, Barrier, AtomicCounter: a data-race-free program)
//   sees sequentially consistent memory, also while its threads run on
//   different kernels: the host makes memory consistent at each of them.
//   Plain loads and stores of data that another thread writes at the same
//   time give no such promise.

import { _sys, _sysResult, _checkMigrate, _currentThread, _currentKernel, _kernelCount, _migrateRequest } from "./imports";

const SYS_SPAWN: i32 = 1;
const SYS_JOIN: i32 = 2;
const SYS_LOCK: i32 = 3;
const SYS_UNLOCK: i32 = 4;
const SYS_BARRIER: i32 = 5;
const SYS_ATOMIC_ADD: i32 = 6;
const SYS_YIELD: i32 = 7;

/**
 * Bytes of shadow stack each spawned thread gets (with the incremental
 * runtime: the stack of locals that hold references). AssemblyScript checks
 * for overflow against main's stack only, so a thread that needs more
 * overwrites the heap below its block: keep threads' recursion shallow.
 */
export const THREAD_STACK: i32 = 64 * 1024;

// The one way into the host for thread operations: if the host cannot answer
// now, the thread stops at the explicit migration point below and is rewound
// right after it with the answer waiting in sys_result().
function syscall(op: i32, a: i32, b: i32, c: i32): i32 {
  if (!_sys(op, a, b, c)) _checkMigrate();
  return _sysResult();
}

/** The id of the calling thread: 0 for main, 1, 2, ... for spawned threads. */
export function currentThread(): i32 {
  return _currentThread();
}

/** Lets other threads of this kernel run before this one goes on. */
export function yieldThread(): void {
  syscall(SYS_YIELD, 0, 0, 0);
}

/**
 * Moves this thread to kernel `i` mod kernelCount(), if it is not there:
 * a way to spread a program's threads over the kernels it runs on, whatever
 * their number (with one kernel it does nothing).
 */
export function spreadOver(i: i32): void {
  const k = i % _kernelCount();
  if (k != _currentKernel()) {
    _migrateRequest(k);
    _checkMigrate();
  }
}

/** A thread of this process, running `fn(arg)` — on any kernel. */
@final export class Thread {
  /** This thread's id (as `currentThread()` returns it inside the thread). */
  readonly id: i32;
  private joined: bool = false;

  private constructor(id: i32) {
    this.id = id;
  }

  /**
   * Starts a thread that runs `fn(arg)`; it ends when `fn` returns. Main
   * thread only (it allocates the thread's shadow stack). `fn` must be a
   * top-level function (not a closure); it sees a copy of the caller's
   * globals, and shares memory with every thread.
   */
  static spawn(fn: (arg: i32) => void, arg: i32 = 0): Thread {
    // The host sets the thread's shadow-stack pointer (the global in which
    // the incremental runtime keeps its stack of reference-holding locals) to
    // the top of this block. With `--runtime stub` or `minimal` nothing uses
    // it: 64 KiB that nobody touches.
    const stack = heap.alloc(<usize>THREAD_STACK);
    const top = stack + <usize>THREAD_STACK;
    const id = syscall(SYS_SPAWN, <i32>changetype<usize>(fn), arg, <i32>top);
    // Never taken (the host gives no negative ids), but it must stay: asc's
    // optimizer removes the function table from a module that calls nothing
    // through it, and the host starts every thread through that table.
    if (id < 0) fn(arg);
    return new Thread(id);
  }

  /**
   * Waits until the thread has ended, and frees its shadow stack (when main
   * joins: a spawned thread cannot free, so the stack of a thread that
   * another spawned thread joins stays allocated). Joining twice is a no-op.
   */
  join(): void {
    if (this.joined) return;
    const top = <usize><u32>syscall(SYS_JOIN, this.id, 0, 0);
    this.joined = true;
    if (top != 0 && _currentThread() == 0) heap.free(top - <usize>THREAD_STACK);
  }
}

/**
 * Mutual exclusion between threads, on one kernel or several. Its address is
 * its identity: keep it reachable (a global, or a field of an object main keeps).
 */
@final export class Mutex {
  // A field, so that the object has a size and thus an address of its own.
  private reserved: i32 = 0;

  /** Waits until no other thread holds the mutex, and takes it. */
  lock(): void {
    syscall(SYS_LOCK, <i32>changetype<usize>(this), 0, 0);
  }

  /** Releases it; the calling thread must hold it. */
  unlock(): void {
    syscall(SYS_UNLOCK, <i32>changetype<usize>(this), 0, 0);
  }
}

/** A rendezvous of `parties` threads, reusable phase after phase. */
@final export class Barrier {
  readonly parties: i32;

  constructor(parties: i32) {
    this.parties = parties;
  }

  /**
   * Waits until `parties` threads have called `wait()` in this phase; returns
   * true in exactly one of them (it may do the phase's serial work).
   */
  wait(): bool {
    return syscall(SYS_BARRIER, <i32>changetype<usize>(this), this.parties, 0) != 0;
  }
}

/** An i32 that threads on any kernel add to atomically. */
@final export class AtomicCounter {
  // Lives in the object: its address is what the host adds to (on the
  // memory's home kernel).
  private value: i32;

  constructor(initial: i32 = 0) {
    this.value = initial;
  }

  /** Adds `delta` (wrapping) and returns the value before. */
  add(delta: i32): i32 {
    return syscall(SYS_ATOMIC_ADD, <i32>(changetype<usize>(this) + offsetof<AtomicCounter>("value")), delta, 0);
  }

  /** The current value. */
  get(): i32 {
    return this.add(0);
  }
}
