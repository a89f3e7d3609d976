/**
 * Running a program on one kernel: boot, run main, and at every capture
 * serialize the image, decode it again and restore it into a fresh instance
 * — the full round trip a migration makes, minus the wire.
 */
import { performance } from "node:perf_hooks";
import { decodeImage, encodeImage, type ProcessImage } from "./image.js";
import { type CaptureReason, type KernelInfo, Process, ProcessError } from "./process.js";
import type { Program } from "./program.js";

export interface RunOptions {
  args?: string[];
  kernel?: KernelInfo;
  /** capture + restore at every N-th migration point */
  checkpointEvery?: number;
  /** or wherever this says: points until the next capture (see ProcessOptions) */
  nextCapture?(): number | undefined;
  /** resume from this image instead of starting main afresh */
  image?: ProcessImage;
  stdout?(line: string): void;
  stderr?(line: string): void;
  /** a line per capture/restore, as dmesg shows it */
  log?(line: string): void;
}

export interface RunResult {
  status: number;
  captures: number;
  imageBytes: number;
}

/** The program failed (a trap, an abort) after `captures` capture + restore round trips. */
export class RunFailed extends ProcessError {
  constructor(
    cause: ProcessError,
    readonly captures: number,
    readonly imageBytes: number,
  ) {
    super(cause.message, { cause });
  }
}

export const DEFAULT_KERNEL: KernelInfo = { id: 0, isa: "x86-64", count: 1 };

export function runProgram(program: Program, opts: RunOptions = {}): RunResult {
  const p = new Process(program, {
    args: opts.image?.args ?? opts.args ?? [],
    kernel: opts.kernel ?? DEFAULT_KERNEL,
    stdout: opts.stdout ?? ((l) => process.stdout.write(l + "\n")),
    stderr: opts.stderr ?? ((l) => process.stderr.write(l + "\n")),
    nextCapture: opts.nextCapture ?? (opts.checkpointEvery ? () => opts.checkpointEvery : undefined),
  });
  if (opts.image) p.restore(opts.image);
  else p.boot();
  let captures = 0;
  let imageBytes = 0;
  const capture = (state: Parameters<Process["image"]>[0], reason: CaptureReason) => {
    captures++;
    const t0 = performance.now();
    const img = p.image(state);
    const bytes = encodeImage(img);
    imageBytes += bytes.length;
    const back = decodeImage(bytes);
    p.restore(back);
    const what = reason.kind === "migrate" ? `migrate to kernel ${reason.to}` : "checkpoint";
    opts.log?.(
      `${what}: ${img.threads[0]!.frames.length} frames, ${img.memory.pages.length} pages, ` +
        `image ${bytes.length} bytes, capture+restore ${(performance.now() - t0).toFixed(2)} ms`,
    );
    return "resume" as const;
  };
  try {
    return { status: p.run(capture)!, captures, imageBytes };
  } catch (e) {
    throw e instanceof ProcessError ? new RunFailed(e, captures, imageBytes) : e;
  }
}
