// The capture benchmark as a smoke test: it stops at the bottom of a real
// recursion, round-trips the image and resumes to the plain output (it
// throws otherwise); no timing is asserted.
import { describe, expect, it } from "vitest";
import { benchCapture, formatCapture } from "../../bench/capture.js";

describe("bench capture", () => {
  it("captures the deepest stack of deep(d), restores it in a fresh instance, and reports every phase", async () => {
    let printed = "";
    const r = await benchCapture({ depths: [120], reps: 2, warmup: 0, log: () => {}, print: (t) => (printed = t) });
    const row = r.rows[0]!;
    expect(row.frames).toBeGreaterThan(120); // deep's frames, and main under them
    for (const ms of [row.captureMs, row.restoreMs, row.imageMs]) expect(ms).toBeGreaterThan(0);
    expect(row.totalMs).toBeCloseTo(row.captureMs + row.restoreMs, 2);
    expect(row.imageBytes).toBeGreaterThan(4096);
    expect(printed).toBe(formatCapture(r));
  });
});
