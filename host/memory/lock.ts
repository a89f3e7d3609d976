/**
 * A lock in one word of shared memory, for the threads of one kernel that
 * operate on one replica (its control thread and its cores).
 *
 *   word  0  free
 *         1  held, nobody waits
 *         2  held, and a thread may be sleeping on it (Atomics.wait)
 *
 * lock: compare-exchange 0 → 1; if that fails, spin a little (the critical
 * sections are short: a release or an acquire), then set 2 and sleep until
 * the word changes, and try again. unlock: set 0, and wake one sleeper if
 * the word was 2. A thread that finds the lock held longer than the timeout
 * gives up: the holder has died (a worker terminated inside a critical
 * section), and waiting longer would hang the kernel.
 */

/** spins before sleeping on a held lock */
const SPINS = 200;

/** Takes the lock in `words[index]`; false if it stayed held for `timeoutMs`. */
export function lock(words: Int32Array, index: number, timeoutMs: number): boolean {
  if (Atomics.compareExchange(words, index, 0, 1) === 0) return true;
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(words, index) === 0 && Atomics.compareExchange(words, index, 0, 1) === 0) return true;
  }
  const deadline = Date.now() + timeoutMs;
  while (Atomics.exchange(words, index, 2) !== 0) {
    Atomics.wait(words, index, 2, Math.min(1000, timeoutMs));
    if (Date.now() > deadline) return false;
  }
  return true;
}

export function unlock(words: Int32Array, index: number): void {
  if (Atomics.exchange(words, index, 0) === 2) Atomics.notify(words, index, 1);
}
