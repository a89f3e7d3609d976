/**
 * Where a run puts the program's output: this process's stdout and stderr,
 * or, with --json, a list for the summary (run-json.ts; stdout is then the
 * JSON's alone).
 *
 * The reader of a pipe sets the pace, as it does for any Unix program:
 *
 *   a reader that does not keep up — the program waits, as a writer to a
 *     full pipe waits:
 *       blocking (one kernel: the guest runs on the thread that prints
 *         through it) — each line is written at once (fs.writeSync); a
 *         non-blocking pipe that is full (EAGAIN) is tried again every
 *         millisecond until it takes the rest;
 *       otherwise (kernels, a cluster: lines arrive as messages) — once
 *         more than HOLD_BYTES wait in the stream, hold(true): the kernels
 *         hold the process (Kernel.hold: its threads get no core at their
 *         next migration point); when the stream has drained, hold(false).
 *         Without it, popcorn queued everything the program printed.
 *   a reader that goes away (`| head`: EPIPE) — as SIGPIPE ends a writer:
 *       later lines are dropped, and brokenPipe() is called once — the run
 *       passes signal 13 on to the process and exits 141; blocking, the
 *       write throws BrokenPipe out of the guest, whose run ends with 141.
 *       It used to crash popcorn with an unhandled EPIPE and a Node stack.
 */
import { writeSync } from "node:fs";
import type { OutputLine } from "./run-json.js";

/** Past this many bytes waiting in this process's stdout or stderr, the process is held. */
export const HOLD_BYTES = 4 << 20;
/** SIGPIPE: a run whose reader went away ends with 128 + this, quietly. */
export const SIGPIPE = 13;

/** The reader of the program's stdout or stderr went away: its run ends with status 128 + SIGPIPE. */
export class BrokenPipe extends Error {
  constructor() {
    super("the reader of the program's output went away (EPIPE)");
  }
}

export interface ProgramOutput {
  /** the lines, with --json */
  lines: OutputLine[];
  write(stream: number, line: string): void;
  /** the reader went away (EPIPE) */
  readonly broken: boolean;
}

export interface OutputOptions {
  json?: boolean;
  /** write in this thread, waiting for a full pipe (the guest runs here) */
  blocking?: boolean;
  /** hold the process (true) or let it go (false): more than HOLD_BYTES wait in the stream, or it has drained */
  hold?(on: boolean): void;
  /** the reader went away: called once */
  brokenPipe?(): void;
}

export function programOutput(o: OutputOptions = {}): ProgramOutput {
  const lines: OutputLine[] = [];
  let broken = false;
  let holding = false;
  const gone = () => {
    if (broken) return;
    broken = true;
    o.brokenPipe?.();
  };
  const streams = [process.stdout, process.stderr];
  // an EPIPE is emitted on the stream, after the write that met it: without a listener it is an uncaught exception
  if (!o.json && !o.blocking) for (const s of streams) s.on("error", gone);
  const release = () => {
    holding = false;
    o.hold?.(false);
  };
  return {
    lines,
    get broken() {
      return broken;
    },
    write(stream, line) {
      if (o.json) return void lines.push({ stream, line });
      if (broken) return;
      if (o.blocking) return writeBlocking(stream === 1 ? 1 : 2, line + "\n");
      const s = stream === 1 ? process.stdout : process.stderr;
      s.write(line + "\n");
      if (!holding && s.writableLength > HOLD_BYTES) {
        holding = true;
        o.hold?.(true);
        s.once("drain", release);
      }
    },
  };
}

/** Writes `chunk` to `fd` at once, as writeBlocking does; a reader that went away (EPIPE) drops it. For process.stdout.write's place. */
export function writeNow(fd: number, chunk: string | Uint8Array): boolean {
  try {
    writeBlocking(fd, chunk);
  } catch (e) {
    if (!(e instanceof BrokenPipe)) throw e;
  }
  return true;
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to `fd`, waiting while a non-blocking pipe is full; EPIPE → BrokenPipe. */
function writeBlocking(fd: number, text: string | Uint8Array): void {
  const bytes = typeof text === "string" ? Buffer.from(text) : text;
  let done = 0;
  while (done < bytes.length) {
    try {
      done += writeSync(fd, bytes, done, bytes.length - done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") Atomics.wait(pause, 0, 0, 1);
      else if (code === "EPIPE") throw new BrokenPipe();
      else throw e;
    }
  }
}
