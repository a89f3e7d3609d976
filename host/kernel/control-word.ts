/**
 * A thread's control word and its neighbours in reserved memory (see
 * toolchain/abi.ts for the layout), as the host reads and writes them.
 *
 * Two writers: the thread's own core (between runs, or from a host import
 * while the guest is in a call) and its kernel's control thread (while the
 * guest runs, from another JS thread). So every write goes through Atomics,
 * and a request writes destination, signal, time and countdown before it
 * sets the bit the guest tests.
 */
import { COUNTDOWN_OFFSET, CTRL_REQUEST, CTRL_REWIND, CTRL_URGENT, DEST_OFFSET, REQUESTED_AT_OFFSET, SIGNAL_OFFSET } from "../toolchain/index.js";

/** Wall-clock time in ms with sub-µs resolution, comparable between the threads of one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export interface StopRequest {
  /** kernel to go to; undefined: only stop */
  dest?: number;
  signo?: number;
  /** stop at the countdown-th next migration point (default 1) */
  countdown?: number;
}

export class ControlWord {
  private readonly words: Int32Array;
  private readonly time: Float64Array;
  private readonly i: number;

  /** `buffer` is the process memory's buffer; `address` the byte address of the word (8-aligned). */
  constructor(buffer: ArrayBufferLike, address: number) {
    this.words = new Int32Array(buffer, address, 8);
    this.time = new Float64Array(buffer, address + REQUESTED_AT_OFFSET, 1);
    this.i = 0;
  }

  /** Asks the thread to stop at a coming migration point. */
  request(r: StopRequest): void {
    Atomics.store(this.words, DEST_OFFSET >>> 2, r.dest === undefined ? 0 : r.dest + 1);
    Atomics.store(this.words, SIGNAL_OFFSET >>> 2, r.signo ?? 0);
    this.time[0] = now();
    const countdown = r.countdown ?? 1;
    Atomics.store(this.words, COUNTDOWN_OFFSET >>> 2, countdown);
    Atomics.or(this.words, this.i, CTRL_REQUEST | (countdown <= 1 ? CTRL_URGENT : 0));
  }

  /** The kernel a stopped thread was asked to go to, or undefined if it was only asked to stop. */
  destination(): number | undefined {
    const d = Atomics.load(this.words, DEST_OFFSET >>> 2);
    return d === 0 ? undefined : d - 1;
  }

  signal(): number {
    return Atomics.load(this.words, SIGNAL_OFFSET >>> 2);
  }

  requestedAt(): number {
    return this.time[0]!;
  }

  /** Clears every request: the word of a thread that runs on freely. */
  clear(): void {
    Atomics.store(this.words, DEST_OFFSET >>> 2, 0);
    Atomics.store(this.words, SIGNAL_OFFSET >>> 2, 0);
    Atomics.store(this.words, COUNTDOWN_OFFSET >>> 2, 0);
    Atomics.store(this.words, this.i, 0);
  }

  /** Marks the thread as rewinding: its stopping point clears the bit when it gets there. */
  rewind(): void {
    Atomics.or(this.words, this.i, CTRL_REWIND);
  }

  get value(): number {
    return Atomics.load(this.words, this.i);
  }
}
