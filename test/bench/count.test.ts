// popcorn bench count as a smoke test: the four configurations run, every
// run's output agrees (the benchmark throws otherwise), and the table's
// numbers, count.json and count.svg are what the README says.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { benchCount } from "../../bench/count.js";

const out = mkdtempSync(join(tmpdir(), "popcorn-bench-count-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("bench count", () => {
  it("runs (a)-(d) for each thread count and load, and writes count.json and count.svg", async () => {
    const lines: string[] = [];
    const r = await benchCount({ threads: [1, 3], loads: [1000, 3_000_000], reps: 1, out, json: true, log: (l) => lines.push(l) });
    expect(r.rows).toHaveLength(2 * 2 * 4);
    for (const row of r.rows) {
      expect(row.ms).toBeGreaterThan(0);
      expect(row.runs).toBe(1);
      if (row.config === "a") expect(row.speedup).toBe(1);
    }
    expect(r.configs.map((c) => `${c.name} ${c.kernels.join(",")} ${c.cores}`)).toEqual([
      "a x86-64 1", "b x86-64,aarch64 1", "c x86-64,aarch64 1", "d x86-64 2",
    ]);
    expect(r.speedup).toBeCloseTo(r.rows.find((x) => x.config === "a" && x.threads === 3 && x.load === 3_000_000)!.ms / r.rows.find((x) => x.config === "b" && x.threads === 3 && x.load === 3_000_000)!.ms, 2);
    expect(lines.some((l) => /^\[16\/16\] /.test(l)), "progress lines count the runs").toBe(true);
    // (c) that moved no thread says why, in the row: with one thread there is no half to move
    for (const row of r.rows.filter((x) => x.config === "c")) expect(row.note !== undefined, `(c) ${row.threads}×${row.load}: ${row.migrations} migrations, note ${row.note}`).toBe(row.migrations === 0);
    expect(r.rows.find((x) => x.config === "c" && x.threads === 1 && x.load === 1000)!.note).toBe("with one thread there is no half to move");
    for (const row of r.rows.filter((x) => x.config !== "c")) expect(row.note).toBeUndefined();
    const json = JSON.parse(readFileSync(r.files.json, "utf8"));
    expect(json.speedup).toBe(r.speedup);
    const svg = readFileSync(r.files.svg, "utf8");
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/<polyline /g)).toHaveLength(4);
  });
});
