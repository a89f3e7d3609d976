/**
 * The balance policy (`popcorn run --scheduler balance|hetero`), run by a
 * process's origin: given where its runnable threads are, which one thread
 * to move where, if any — as the Popcorn tutorial's scheduler script did
 * with signal 35, but inside the system and continuously. The origin asks
 * it at every spawn (where to start the new thread: only it may move) and
 * every 20 ms (which running thread to migrate).
 *
 * Each kernel k has a weight w(k): its cores (balance), or its cores times
 * its profile's relative speed (hetero). A kernel's load is its runnable
 * threads over its weight. A move takes one thread from the most loaded
 * kernel to the least loaded one, if that lowers the higher of the two
 * loads: so threads never ping-pong between two kernels that are as loaded
 * as they can be. Threads only move to or from the origin (the state
 * transformation goes through the origin), and a thread the policy has
 * already asked to move is left alone until it has arrived.
 */

export interface KernelLoad {
  kernel: number;
  weight: number;
  /** runnable (not blocked) threads there, most recently spawned last */
  threads: number[];
}

export interface Move {
  tid: number;
  from: number;
  to: number;
}

export function pickMove(loads: KernelLoad[], origin: number, moving: ReadonlySet<number>): Move | undefined {
  const load = (k: KernelLoad, delta = 0) => (k.threads.length + delta) / k.weight;
  let best: Move | undefined;
  let bestPeak = Infinity;
  for (const from of loads) {
    const movable = from.threads.filter((t) => !moving.has(t));
    if (!movable.length) continue;
    for (const to of loads) {
      if (to === from || (from.kernel !== origin && to.kernel !== origin)) continue;
      const before = Math.max(load(from), load(to));
      const after = Math.max(load(from, -1), load(to, 1));
      if (after < before - 1e-9 && after < bestPeak) {
        bestPeak = after;
        best = { tid: movable[movable.length - 1]!, from: from.kernel, to: to.kernel };
      }
    }
  }
  return best;
}
