/**
 * A process's threads and synchronization objects, kept at its origin.
 *
 * Every syscall of every thread (toolchain/abi.ts SYS_*), wherever the
 * thread runs, is made here, one at a time, in the order the origin's
 * control thread receives them: so the origin is the one place that orders
 * them, as the home of a lock in a home-based DSM is. A call either
 * completes at once (its result is returned) or blocks its caller, which is
 * woken later with its result through `wake`:
 *
 *   spawn(kernel, stackTop)      → tid                  never blocks
 *   join(tid)                    → the joinee's stackTop   blocks until it exits
 *   lock(addr)                   → 0                    blocks while another holds it (FIFO)
 *   unlock(addr)                 → 0, -1 if the caller does not hold it; wakes the next waiter
 *   barrier(addr, parties)       → 1 for the last to arrive, 0 for the others; blocks until
 *                                  `parties` threads have arrived
 *
 * lockWouldBlock says, without changing anything, whether a lock would
 * block: one that would not is made while its thread waits on its core
 * (sys-now.ts).
 *
 * A mutex or barrier is named by its address in the process memory (the
 * guest object's), and exists from its first use. A thread is a row here
 * from its spawn on; the kernel it is on is updated as it migrates.
 */

export type Waker = (tid: number, result: number) => void;

export interface ThreadRow {
  /** the kernel it runs on (or last went to) */
  kernel: number;
  exited: boolean;
  stackTop: number;
}

export class SyncError extends Error {}

export class ProcessSync {
  readonly threads = new Map<number, ThreadRow>();
  private nextTid = 1;
  private readonly joiners = new Map<number, number[]>();
  private readonly mutexes = new Map<number, { owner: number; waiters: number[] }>();
  private readonly barriers = new Map<number, { parties: number; waiting: number[] }>();
  /** threads waiting in a join, lock or barrier */
  readonly blocked = new Set<number>();

  constructor(
    mainKernel: number,
    private readonly waker: Waker,
  ) {
    this.threads.set(0, { kernel: mainKernel, exited: false, stackTop: 0 });
  }

  private wake(tid: number, result: number): void {
    this.blocked.delete(tid);
    this.waker(tid, result);
  }

  private block(tid: number): undefined {
    this.blocked.add(tid);
    return undefined;
  }

  spawn(kernel: number, stackTop: number): number {
    const tid = this.nextTid++;
    this.threads.set(tid, { kernel, exited: false, stackTop });
    return tid;
  }

  /** A thread returned: whoever joins it (now or later) goes on. */
  exited(tid: number): void {
    const t = this.threads.get(tid);
    if (!t) return;
    t.exited = true;
    for (const j of this.joiners.get(tid) ?? []) this.wake(j, t.stackTop);
    this.joiners.delete(tid);
  }

  moved(tid: number, kernel: number): void {
    const t = this.threads.get(tid);
    if (t) t.kernel = kernel;
  }

  /** The threads that have not exited (main included). */
  live(): [number, ThreadRow][] {
    return [...this.threads].filter(([, t]) => !t.exited);
  }

  join(caller: number, tid: number): number | undefined {
    const t = this.threads.get(tid);
    if (!t || tid === caller) throw new SyncError(`thread ${caller} joins thread ${tid}, ${t ? "itself" : "which does not exist"}`);
    if (t.exited) return t.stackTop;
    const list = this.joiners.get(tid) ?? [];
    list.push(caller);
    this.joiners.set(tid, list);
    return this.block(caller);
  }

  lock(caller: number, addr: number): number | undefined {
    const m = this.mutexes.get(addr);
    if (!m) {
      this.mutexes.set(addr, { owner: caller, waiters: [] });
      return 0;
    }
    if (m.owner === caller) throw new SyncError(`thread ${caller} locks mutex @${addr}, which it already holds`);
    m.waiters.push(caller);
    return this.block(caller);
  }

  unlock(caller: number, addr: number): number {
    const m = this.mutexes.get(addr);
    if (!m || m.owner !== caller) return -1;
    const next = m.waiters.shift();
    if (next === undefined) this.mutexes.delete(addr);
    else {
      m.owner = next;
      this.wake(next, 0);
    }
    return 0;
  }

  /** Whether lock(caller, addr) would block now (another thread holds the mutex); it changes nothing. */
  lockWouldBlock(caller: number, addr: number): boolean {
    const m = this.mutexes.get(addr);
    return m !== undefined && m.owner !== caller;
  }

  barrier(caller: number, addr: number, parties: number): number | undefined {
    if (!(parties >= 1)) throw new SyncError(`barrier @${addr} of ${parties} parties`);
    const b = this.barriers.get(addr) ?? { parties, waiting: [] };
    if (b.parties !== parties) throw new SyncError(`barrier @${addr} waited on with ${parties} parties, made with ${b.parties}`);
    if (b.waiting.length + 1 < parties) {
      b.waiting.push(caller);
      this.barriers.set(addr, b);
      return this.block(caller);
    }
    this.barriers.delete(addr);
    for (const w of b.waiting) this.wake(w, 0);
    return 1;
  }
}
