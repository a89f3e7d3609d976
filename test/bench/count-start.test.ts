// popcorn bench count boots every configuration's kernels at once; when one
// of them fails to start, the kernels already started for the others are
// stopped before the error is reported — no worker thread is left behind.
import { afterEach, describe, expect, it, vi } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { benchCount } from "../../bench/count.js";
import { EmbeddedKernels } from "../../host/kernel/index.js";

const out = mkdtempSync(join(tmpdir(), "popcorn-bench-count-start-"));
let started: EmbeddedKernels[] = [];

/** Records every set of embedded kernels the benchmark starts, and how many of their workers have exited. */
function watchStarts(failOnCall?: number) {
  const original = EmbeddedKernels.start.bind(EmbeddedKernels);
  const workers = { started: 0, exited: 0, calls: 0 };
  vi.spyOn(EmbeddedKernels, "start").mockImplementation(async (opts) => {
    if (++workers.calls === failOnCall) throw new Error(`configuration ${workers.calls} cannot start (injected)`);
    const k = await original(opts);
    started.push(k);
    for (const w of (k as unknown as { workers: Worker[] }).workers) {
      workers.started++;
      w.once("exit", () => workers.exited++);
    }
    return k;
  });
  return workers;
}

/** Kernels still booting when the error came would be left too: waits until every start asked for has booted (or failed). */
async function booted(workers: { calls: number }, failed = 1): Promise<void> {
  for (let i = 0; i < 100 && started.length < workers.calls - failed; i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 100)); // a terminated worker's exit event
}

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(started.map((k) => k.stop())); // what the benchmark left behind, so one failure does not hang the rest
  started = [];
});

describe("bench count, a configuration that does not start", () => {
  it("stops the kernels already started for the other configurations, and reports the error", async () => {
    const workers = watchStarts(3); // (a) and (b) start, (c) throws, (d) starts
    await expect(benchCount({ threads: [1], loads: [1000], reps: 1, out, json: true })).rejects.toThrow(/configuration 3 cannot start/);
    await booted(workers);
    expect(started).toHaveLength(3);
    expect(workers.started).toBeGreaterThan(0);
    expect(workers.exited, "every kernel worker of (a), (b) and (d) has exited").toBe(workers.started);
  }, 60_000);

  it("an unknown ISA in --kernels leaves no kernel running", async () => {
    const workers = watchStarts();
    await expect(benchCount({ kernels: ["x86-64", "sparc"], scheduler: "balance", threads: [1], loads: [1000], reps: 1, out, json: true })).rejects.toThrow(/sparc/);
    await booted(workers, 0);
    expect(workers.exited, "every kernel worker started has exited").toBe(workers.started);
  }, 60_000);
});

process.on("exit", () => rmSync(out, { recursive: true, force: true }));
