// The overhead benchmark as a smoke test: one program, its five builds, a
// report whose figures hang together (no timing is asserted).
import { describe, expect, it } from "vitest";
import { benchOverhead, formatOverhead, VARIANTS } from "../../bench/overhead.js";

describe("bench overhead", () => {
  it("times every build of a program, and the pass's cost is instrumented over linked", async () => {
    let printed = "";
    const r = await benchOverhead({ quick: true, programs: ["fib"], reps: 3, warmup: 1, log: () => {}, print: (t) => (printed = t) });
    expect(r.programs).toHaveLength(1);
    const p = r.programs[0]!;
    for (const v of VARIANTS) expect(p.ms[v], v).toBeGreaterThan(0);
    // instrumented/plain = linked/plain × instrumented/linked (each ratio rounded to 3 decimals)
    expect(p.linked * p.overLinked).toBeCloseTo(p.instrumented, 2);
    expect(r.overLinkedGeomean).toBeCloseTo(p.overLinked, 2);
    expect(p.points.entry).toBeGreaterThan(0); // fib's recursion
    expect(p.bytes.linked).toBeGreaterThan(0);
    expect(printed).toBe(formatOverhead(r));
    expect(printed).toMatch(/^fib .*×\d\.\d\d/m);
    expect(printed).toMatch(/instr\/linked/);
  });

  it("names a program it does not have", async () => {
    await expect(benchOverhead({ quick: true, programs: ["nope"], log: () => {}, print: () => {} })).rejects.toThrow(/no benchmark program nope \(have count, fib/);
  });
});
