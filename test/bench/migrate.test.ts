// The migration benchmark as a smoke test (--quick): every configuration
// gets hops, both ways, each with its phases; a repeat migration sends no
// memory. No timing is asserted.
import { describe, expect, it } from "vitest";
import { benchMigrate } from "../../bench/migrate.js";

describe("bench migrate --quick", () => {
  it("reports every configuration, split by direction, and a repeat migration that sends no memory", async () => {
    const write = process.stdout.write;
    let printed = "";
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    let r: Awaited<ReturnType<typeof benchMigrate>>;
    try {
      r = await benchMigrate({ quick: true });
    } finally {
      process.stdout.write = write;
    }
    expect(r.rows.map((x) => [x.depth, x.dirtyKiB])).toEqual([[1, 64], [10, 64]]);
    for (const row of r.rows) {
      expect(row.samples).toBeGreaterThan(0);
      expect(row.fromOrigin.samples).toBeGreaterThan(0);
      expect(row.toOrigin.samples).toBeGreaterThan(0);
      expect(row.fromOrigin.samples + row.toOrigin.samples).toBe(row.samples);
      for (const s of [row, row.fromOrigin, row.toOrigin]) {
        for (const k of ["capture", "ahead", "lower", "rewrite", "send", "lift", "resume"]) expect(s.phasesP50[k]).toBeGreaterThan(0);
      }
      expect(row.memoryBytes).toBeGreaterThanOrEqual(64 * 1024);
    }
    expect(r.repeatMemoryBytes).toBe(0);
    expect(printed).toMatch(/64 KiB from the origin +p50 +\d+/);
    expect(printed).toMatch(/64 KiB to the origin +p50 +\d+/);
  }, 120_000);
});
