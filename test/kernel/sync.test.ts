// The origin's synchronization objects (host/kernel/sync.ts) and the balance
// policy (host/kernel/balance.ts), without kernels: who blocks, who is woken
// with what, and which thread moves where.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pickMove, type KernelLoad } from "../../host/kernel/balance.js";
import { ProcessSync, SyncError } from "../../host/kernel/sync.js";

function sync() {
  const woken: [tid: number, result: number][] = [];
  const s = new ProcessSync(0, (tid, result) => woken.push([tid, result]));
  return { s, woken };
}

describe("ProcessSync", () => {
  it("lockWouldBlock says whether a lock blocks, exactly, and changes nothing (a lock made while its thread waits relies on it)", () => {
    // random calls of 4 threads (0 main, 1–3 spawned) on 2 mutexes, with joins, barriers and exits changing who may call
    const call = fc.record({
      caller: fc.integer({ min: 0, max: 3 }),
      op: fc.constantFrom("join", "lock", "unlock", "barrier", "exit") as fc.Arbitrary<"join" | "lock" | "unlock" | "barrier" | "exit">,
      target: fc.integer({ min: 0, max: 3 }),
      parties: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(call, { maxLength: 60 }), (calls) => {
        const { s } = sync();
        for (let t = 1; t <= 3; t++) s.spawn(0, 1000 * t);
        for (const c of calls) {
          if (s.blocked.has(c.caller) || s.threads.get(c.caller)!.exited) continue; // a blocked or ended thread makes no calls
          const addr = 100 + (c.target % 2); // the mutexes and barriers
          try {
            if (c.op === "exit") {
              if (c.caller !== 0) s.exited(c.caller);
            } else if (c.op === "unlock") s.unlock(c.caller, addr);
            else if (c.op === "join") s.join(c.caller, c.target);
            else if (c.op === "barrier") s.barrier(c.caller, addr, c.parties);
            else {
              const before = JSON.stringify([[...s.blocked], s.live()]);
              const predicted = s.lockWouldBlock(c.caller, addr);
              expect(JSON.stringify([[...s.blocked], s.live()])).toBe(before);
              expect(s.lock(c.caller, addr) === undefined, `lock by ${c.caller} of ${addr}: blocked`).toBe(predicted);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(SyncError);
            if (c.op === "lock") expect(s.lockWouldBlock(c.caller, addr), "a lock that throws does not block").toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("spawn gives ids 1, 2, …; join returns the joinee's stack top, at once if it has exited, else when it does", () => {
    const { s, woken } = sync();
    expect(s.spawn(0, 1000)).toBe(1);
    expect(s.spawn(1, 2000)).toBe(2);
    s.exited(1);
    expect(s.join(0, 1)).toBe(1000);
    expect(s.join(0, 2)).toBeUndefined();
    expect(s.blocked.has(0)).toBe(true);
    s.exited(2);
    expect(woken).toEqual([[0, 2000]]);
    expect(s.blocked.has(0)).toBe(false);
    expect(s.live().map(([t]) => t)).toEqual([0]);
  });

  it("a mutex is granted in arrival order; unlock by a thread that does not hold it is -1", () => {
    const { s, woken } = sync();
    expect(s.lock(1, 64)).toBe(0);
    expect(s.lock(2, 64)).toBeUndefined();
    expect(s.lock(3, 64)).toBeUndefined();
    expect(s.unlock(2, 64)).toBe(-1);
    expect(s.unlock(1, 64)).toBe(0);
    expect(woken).toEqual([[2, 0]]);
    expect(s.unlock(2, 64)).toBe(0);
    expect(s.unlock(3, 64)).toBe(0);
    expect(woken).toEqual([[2, 0], [3, 0]]);
    expect(s.lock(1, 64), "free again").toBe(0);
    expect(() => s.lock(1, 64)).toThrow(SyncError);
  });

  it("a barrier releases everyone when the last party arrives, which alone gets 1; it can be used again", () => {
    const { s, woken } = sync();
    for (let phase = 0; phase < 3; phase++) {
      woken.length = 0;
      expect(s.barrier(1, 96, 3)).toBeUndefined();
      expect(s.barrier(2, 96, 3)).toBeUndefined();
      expect(s.barrier(3, 96, 3)).toBe(1);
      expect(woken.sort()).toEqual([[1, 0], [2, 0]]);
    }
    expect(() => s.barrier(1, 96, 2) ?? s.barrier(2, 96, 3)).toThrow(/made with 2/);
  });

  it("join of itself or of a thread that never was is an error", () => {
    const { s } = sync();
    expect(() => s.join(0, 0)).toThrow(SyncError);
    expect(() => s.join(0, 9)).toThrow(/does not exist/);
  });
});

describe("pickMove (the balance policy)", () => {
  const k = (kernel: number, threads: number[], weight = 1): KernelLoad => ({ kernel, threads, weight });

  it("moves the newest thread from the busier kernel to the idle one", () => {
    expect(pickMove([k(0, [1, 2, 3]), k(1, [])], 0, new Set())).toEqual({ tid: 3, from: 0, to: 1 });
  });

  it("leaves balanced kernels alone (no ping-pong), and never moves an unmovable thread", () => {
    expect(pickMove([k(0, [1, 2]), k(1, [3, 4])], 0, new Set())).toBeUndefined();
    expect(pickMove([k(0, [1]), k(1, [2])], 0, new Set())).toBeUndefined();
    expect(pickMove([k(0, [1, 2]), k(1, [3])], 0, new Set())).toBeUndefined();
    expect(pickMove([k(0, [0, 1, 2]), k(1, [])], 0, new Set([0, 2]))).toEqual({ tid: 1, from: 0, to: 1 });
  });

  it("weights kernels by speed (hetero): a kernel twice as fast takes twice the threads", () => {
    expect(pickMove([k(0, [1, 2]), k(1, [3, 4, 5, 6], 2)], 0, new Set())).toBeUndefined();
    expect(pickMove([k(0, [1, 2, 3, 4]), k(1, [5, 6], 2)], 0, new Set())).toEqual({ tid: 4, from: 0, to: 1 });
    expect(pickMove([k(0, [1, 2, 3]), k(1, [], 2)], 0, new Set())).toEqual({ tid: 3, from: 0, to: 1 });
  });

  it("only moves to or from the origin", () => {
    expect(pickMove([k(0, []), k(1, [1, 2, 3]), k(2, [])], 0, new Set())?.to).toBe(0);
    expect(pickMove([k(0, [9]), k(1, [1, 2, 3]), k(2, [])], 0, new Set())).toEqual({ tid: 3, from: 1, to: 0 });
    const m = pickMove([k(0, [9, 8, 7]), k(1, [1, 2, 3]), k(2, [])], 0, new Set());
    expect(m && (m.from === 0 || m.to === 0), "kernel 1 → 2 would help as much, but neither is the origin").toBe(true);
  });

  it("repeated moves converge: the loads end within one thread per weight of each other", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(12), { minLength: 2, maxLength: 2 }), ([a, b]) => {
        let tid = 1;
        const loads = [k(0, Array.from({ length: a! }, () => tid++)), k(1, Array.from({ length: b! }, () => tid++))];
        for (let step = 0; step < 30; step++) {
          const m = pickMove(loads, 0, new Set());
          if (!m) break;
          loads[m.from]!.threads = loads[m.from]!.threads.filter((t) => t !== m.tid);
          loads[m.to]!.threads.push(m.tid);
        }
        expect(Math.abs(loads[0]!.threads.length - loads[1]!.threads.length)).toBeLessThanOrEqual(1);
        expect(pickMove(loads, 0, new Set())).toBeUndefined();
      }),
    );
  });
});
