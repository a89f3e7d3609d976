/**
 * A bound on the output a core has posted and its control thread has not
 * taken yet: a guest that prints faster than its control thread forwards
 * (to the client, to the origin) waits, as a writer to a full pipe does,
 * instead of piling lines up in the core's port without limit (a daemon
 * grew to 270–360 MiB for a 300 MB burst to a client that read it all).
 * It is also what makes holding a process (Kernel.hold) stop its output at
 * once: what the core posted before it yielded is at most the bound.
 *
 * One Int32 word, shared by the core (a worker) and its control thread:
 *
 *   Offset | Size | Value
 *   -------|------|------------------------------------------------------
 *   0      | 4    | bytes of output lines posted and not yet taken
 *
 *   core:     before posting a line of n bytes: if word > MAX_BYTES, wait
 *             (Atomics.wait, WAIT_MS at a time) until word ≤ MAX_BYTES / 2;
 *             then word += n, post
 *   control:  on taking a line of n bytes: word -= n; Atomics.notify when
 *             that takes it to MAX_BYTES / 2 or below from above
 *
 * The core waits for half the bound to drain, not for one line: a core
 * woken for every line the control thread takes made a 300 MB burst half
 * again as slow.
 *
 * A line is counted by its UTF-16 length plus LINE_OVERHEAD, the same on
 * both sides.
 */

/** Posted and not taken, past which the core waits. */
export const MAX_BYTES = 1 << 20;
const LINE_OVERHEAD = 32;
const WAIT_MS = 50;

const cost = (line: string) => line.length + LINE_OVERHEAD;

/** The core's side. */
export class OutputCredit {
  readonly buffer = new SharedArrayBuffer(4);
  private readonly word = new Int32Array(this.buffer);

  /** Waits, if the control thread is MAX_BYTES behind, until it is half that; then counts `line` as posted. */
  posting(line: string): void {
    if (Atomics.load(this.word, 0) > MAX_BYTES) {
      for (let v = Atomics.load(this.word, 0); v > MAX_BYTES / 2; v = Atomics.load(this.word, 0)) Atomics.wait(this.word, 0, v, WAIT_MS);
    }
    Atomics.add(this.word, 0, cost(line));
  }
}

/** The control thread's side of one core's word. */
export class OutputTaken {
  private readonly word: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.word = new Int32Array(buffer);
  }

  /** `line` has been taken: the core may post more. */
  taken(line: string): void {
    const n = cost(line);
    const was = Atomics.sub(this.word, 0, n);
    if (was > MAX_BYTES / 2 && was - n <= MAX_BYTES / 2) Atomics.notify(this.word, 0);
  }
}
