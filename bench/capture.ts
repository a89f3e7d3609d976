/**
 * `popcorn bench capture`: what capturing a deep stack and restoring it into
 * a fresh instance costs (issue goal: a 1,000-frame stack in ≤ 5 ms).
 *
 * The program is the fib example's `deep(d)`, a recursion that does its
 * work on the way back up, so every frame holds live values. One kernel, no
 * messages (host/kernel/process.ts):
 *
 *   capture  run() from the start until it has unwound at the migration
 *            point of the deepest `deep` frame: the d calls down (a few µs)
 *            and the unwind of every frame through the save import
 *   image    the stopped thread and its memory's pages as bytes, and back
 *            (encodeImage / decodeImage: what a checkpoint file holds)
 *   restore  a fresh Process: memory and instance made, the image's pages
 *            written, and the rewind of every frame until the thread runs
 *            again (onResumed)
 *
 * Every run must print, before its capture and after its restore, what the
 * plain run prints. Medians of
 * `reps` rounds after `warmup` rounds (V8 tiers the code up in the first).
 */
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { decodeImage, encodeImage, loadProgram, Process, runProgram, type Program, type ThreadState } from "../host/kernel/index.js";
import { compile, packageRoot } from "../host/toolchain/index.js";
import { median, round } from "./stats.js";

export interface CaptureOptions {
  /** recursion depths to measure (default 1000, 5000) */
  depths?: number[];
  reps?: number;
  warmup?: number;
  json?: boolean;
  quick?: boolean;
  log?: (line: string) => void;
  print?: (text: string) => void;
}

export interface CaptureRow {
  /** frames on the stack at the capture (deep's frames, main and the few between) */
  frames: number;
  /** medians, ms */
  captureMs: number;
  imageMs: number;
  restoreMs: number;
  /** capture + restore (the goal's figure), ms */
  totalMs: number;
  /** bytes of the image (frames, globals, non-zero pages) */
  imageBytes: number;
}

export interface CaptureReport {
  benchmark: "capture";
  reps: number;
  warmup: number;
  node: string;
  rows: CaptureRow[];
}

export class CaptureBenchError extends Error {}

const KERNEL = { id: 0, isa: "x86-64", count: 1 };

/** The number of migration points passed before the deepest frame of deep(depth): counted once, by stopping at every point. */
function pointsToBottom(program: Program, args: string[]): { points: number; frames: number } {
  let points = 0;
  let best = { points: 0, frames: 0 };
  const p = new Process(program, { args, kernel: KERNEL, stdout: () => {}, stderr: () => {}, nextCapture: () => 1 });
  p.boot();
  p.run((t: ThreadState) => {
    points++;
    if (t.frames.length > best.frames) best = { points, frames: t.frames.length };
    p.resume(t);
    return "resume";
  });
  return best;
}

export async function benchCapture(opts: CaptureOptions = {}): Promise<CaptureReport> {
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const print = opts.print ?? ((t: string) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"));
  const quick = opts.quick ?? false;
  const depths = opts.depths ?? (quick ? [200] : [1000, 5000]);
  const reps = opts.reps ?? (quick ? 3 : 15);
  const warmup = opts.warmup ?? (quick ? 1 : 5);

  log("capture: compiling fib");
  const built = await compile(join(packageRoot(), "assembly", "examples", "fib.ts"), { runtime: "stub" });
  const program = loadProgram(built.wasm, "fib");
  const rows: CaptureRow[] = [];
  for (const depth of depths) {
    const args = ["1", String(depth)];
    const expected: string[] = [];
    runProgram(loadProgram(built.plain, "fib (plain)"), { args, stdout: (l) => expected.push(l), stderr: () => {} });
    const bottom = pointsToBottom(program, args);
    log(`capture: depth ${depth}: ${bottom.frames} frames at point ${bottom.points}; ${warmup} + ${reps} rounds`);

    const t = { capture: [] as number[], image: [] as number[], restore: [] as number[] };
    let imageBytes = 0;
    for (let r = 0; r < warmup + reps; r++) {
      const out: string[] = []; // what the run prints before the capture, then after the restore
      const a = new Process(program, { args, kernel: KERNEL, stdout: (l) => out.push(l), stderr: () => {}, nextCapture: () => bottom.points });
      a.boot();
      let t0 = performance.now();
      if (a.run() !== undefined) throw new CaptureBenchError(`depth ${depth}: the run ended without stopping at point ${bottom.points}`);
      const captureMs = performance.now() - t0;
      const state = a.lastState!;
      if (state.frames.length !== bottom.frames) throw new CaptureBenchError(`depth ${depth}: stopped with ${state.frames.length} frames, not ${bottom.frames}`);

      t0 = performance.now();
      const bytes = encodeImage(a.image(state));
      const image = decodeImage(bytes);
      const imageMs = performance.now() - t0;
      imageBytes = bytes.length;

      const b = new Process(program, { args, kernel: KERNEL, stdout: (l) => out.push(l), stderr: () => {} });
      let resumedAt = 0;
      b.onResumed = () => (resumedAt = performance.now());
      t0 = performance.now();
      b.restore(image);
      const status = b.run();
      if (!resumedAt || status !== 0 || out.join("\n") !== expected.join("\n")) {
        throw new CaptureBenchError(`depth ${depth}: the restored run printed ${JSON.stringify(out)} (status ${status}), the plain run ${JSON.stringify(expected)}`);
      }
      if (r < warmup) continue;
      t.capture.push(captureMs);
      t.image.push(imageMs);
      t.restore.push(resumedAt - t0);
    }
    const row: CaptureRow = {
      frames: bottom.frames,
      captureMs: round(median(t.capture), 3),
      imageMs: round(median(t.image), 3),
      restoreMs: round(median(t.restore), 3),
      totalMs: round(median(t.capture) + median(t.restore), 3),
      imageBytes,
    };
    rows.push(row);
  }
  const report: CaptureReport = { benchmark: "capture", reps, warmup, node: process.version, rows };
  print(opts.json ? JSON.stringify(report, null, 2) : formatCapture(report));
  return report;
}

export function formatCapture(r: CaptureReport): string {
  const lines = [
    `capture + restore of a deep stack, one kernel (medians of ${r.reps} rounds after ${r.warmup} warm-up rounds)`,
    "frames  capture ms  restore ms  capture+restore ms  image ms  image bytes",
  ];
  for (const row of r.rows) {
    lines.push(
      `${String(row.frames).padStart(6)}  ${row.captureMs.toFixed(3).padStart(10)}  ${row.restoreMs.toFixed(3).padStart(10)}  ` +
        `${row.totalMs.toFixed(3).padStart(18)}  ${row.imageMs.toFixed(3).padStart(8)}  ${String(row.imageBytes).padStart(11)}`,
    );
  }
  lines.push("goal: a 1,000-frame stack captured and restored in ≤ 5 ms (capture: run to the point and unwind; restore: fresh instance and rewind)");
  return lines.join("\n");
}
