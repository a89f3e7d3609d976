/**
 * A syscall made while its thread waits on its core, without stopping it.
 *
 * A thread's syscall (toolchain/abi.ts SYS_*) normally stops the thread: it
 * unwinds, parks with its control thread, the call is made, and the thread
 * is rewound on a core — four hand-offs, ~100 µs for an uncontended
 * lock on this 2-core VM. When the call usually completes at once (SYS_NOW:
 * lock, unlock, atomic add), the core asks its control thread and waits,
 * blocked in Atomics.wait on its answer word. At the process's origin the
 * control thread makes the call if it completes at once,
 * and otherwise (a held lock) answers "park": the thread then stops for it
 * as usual, and the call is made (or blocks) when the stopped thread
 * reaches the control thread. A call that would block is never begun here,
 * so parking after "park" makes it exactly once. A thread asked to stop
 * now (CTRL_URGENT: its slice is over, a signal) does not ask: it stops
 * for the call, at the point after it (process.ts).
 *
 * On a kernel that is not the process's origin, the control thread claims
 * the request and sends it to the origin (sys with `now`, msg/messages.ts)
 * with its release; the core waits, CLAIMED, for as long as the origin
 * takes. The origin makes the call if it completes at once and answers
 * sys-done with the acquire, which is merged before the core goes on; a
 * lock that would block is not made there but answered sys-park, and the
 * thread stops for it here (the call is sent again, as any stopped
 * thread's). A process that ends meanwhile answers the core PARK, with a
 * kill in its control word (kernel.ts reap).
 *
 * A core's answer word: an Int32Array over 8 shared bytes.
 *
 *   Offset | Size | Value
 *   -------|------|-----------------------------------------------------------
 *   0      | 4    | state: IDLE 0; seq > 0: the core waits for the answer to its
 *          |      | request seq; CLAIMED: the control thread took the call (it
 *          |      | makes it, or waits for the origin's answer to it);
 *          |      | DONE: it is made, the result at offset 4; PARK: the thread is
 *          |      | to stop for it; GAVE_UP: the core waited WAIT_MS and stopped
 *          |      | waiting (it parks the thread)
 *   4      | 4    | result (i32), once DONE
 *
 *   core:    state := seq, post {sys-now, seq} ─▶ wait while state = seq or CLAIMED
 *   control: CAS seq → CLAIMED, make the call, result, state := DONE, notify
 *            (or CAS seq → PARK, notify)
 *   core:    after WAIT_MS, CAS seq → GAVE_UP; whichever CAS wins decides
 *
 * Only one of the two CASes on seq succeeds, so a call is made here or after
 * the thread stopped, never both, and never lost.
 */

import { SYS_ATOMIC_ADD, SYS_LOCK, SYS_UNLOCK } from "../toolchain/index.js";

/**
 * The syscalls asked for while the thread waits: those that usually complete
 * at once. A join or a barrier usually blocks, and asking first cost it one
 * more hand-off (stencil 4×200 on one kernel: ~30 % slower); a spawn places a
 * thread and a yield gives the core away, so both stop the thread.
 */
export const SYS_NOW: ReadonlySet<number> = new Set([SYS_LOCK, SYS_UNLOCK, SYS_ATOMIC_ADD]);

const IDLE = 0;
const CLAIMED = -1;
const DONE = -2;
const PARK = -3;
const GAVE_UP = -4;

/** How long a core waits for its control thread before it stops the thread instead (a control thread busy with a big release). */
const WAIT_MS = 20;

/** The core's side: one request at a time (its one running thread). */
export class SysAsker {
  readonly buffer = new SharedArrayBuffer(8);
  private readonly word = new Int32Array(this.buffer);
  private seq = 0;

  /** Posts the request (`post(seq)`) and waits: the result, or undefined if the thread is to stop for the call. */
  ask(post: (seq: number) => void): number | undefined {
    const seq = (this.seq = (this.seq % 0x3fffffff) + 1);
    Atomics.store(this.word, 0, seq);
    post(seq);
    for (;;) {
      const state = Atomics.load(this.word, 0);
      if (state === seq) {
        if (Atomics.wait(this.word, 0, seq, WAIT_MS) === "timed-out" && Atomics.compareExchange(this.word, 0, seq, GAVE_UP) === seq) return undefined;
      } else if (state === CLAIMED) {
        Atomics.wait(this.word, 0, CLAIMED, WAIT_MS);
      } else {
        Atomics.store(this.word, 0, IDLE);
        return state === DONE ? this.word[1]! : undefined; // PARK
      }
    }
  }
}

/** The control thread's side of one core's answer word. */
export class SysAnswer {
  private readonly word: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.word = new Int32Array(buffer);
  }

  /** Takes request `seq` to make it: false if the core stopped waiting (it parks the thread; the call comes with it). */
  claim(seq: number): boolean {
    return Atomics.compareExchange(this.word, 0, seq, CLAIMED) === seq;
  }

  /** The claimed call is made: its result. */
  done(result: number): void {
    this.word[1] = result | 0;
    Atomics.store(this.word, 0, DONE);
    Atomics.notify(this.word, 0);
  }

  /** Request `seq` (unclaimed), or the claimed one that failed: the thread is to stop for the call. */
  park(seq?: number): void {
    if (seq === undefined) Atomics.store(this.word, 0, PARK);
    else if (Atomics.compareExchange(this.word, 0, seq, PARK) !== seq) return;
    Atomics.notify(this.word, 0);
  }
}
