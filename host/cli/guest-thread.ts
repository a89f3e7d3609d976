/**
 * Where a one-kernel run (`popcorn run` without --kernels, `resume`,
 * --checkpoint-every, --stop-at) runs its guest: a worker thread with a
 * kernel core's stack (GUEST_STACK_MB), not this process's main thread.
 *
 * Node's main thread has a ~1 MB stack, a worker 4 MB: a recursion 15,000
 * deep at -O0 ran on --kernels and trapped ("call stack exhausted") on one
 * kernel, so the plain run a user compares a kernel run with could fail
 * where the kernel run did not. On a thread like a core's, both go as deep.
 *
 *   main thread                         guest thread (guest-worker.ts)
 *   ───────────                         ─────────────
 *   runOnGuestThread(job) ──workerData──▶ loads the program, runs the job
 *                                        (run.ts execute / stopAndSave),
 *                                        writes its output itself
 *   resolves the status  ◀──postMessage── the status (what main would return)
 *
 * The guest thread writes to fds 1 and 2 directly, blocking (output.ts), so
 * its lines keep their order and a slow reader still makes the program
 * wait; an error it meets it reports as main would (fail.ts) and posts the
 * status. Only a crash of the thread itself reaches this side, as an error.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { GUEST_STACK_MB, KernelError } from "../kernel/index.js";
import { packageRoot } from "../toolchain/index.js";
import type { RunFlags } from "./run.js";

/** What the guest thread runs: a program, from its start or from an image. */
export interface GuestJob {
  file: string;
  bytes: Uint8Array;
  args: string[];
  flags: RunFlags;
  /** `resume`: the image's bytes and file name */
  image?: { bytes: Uint8Array; file: string };
}

/** The status of `job`, run on a guest thread. */
export function runOnGuestThread(job: GuestJob): Promise<number> {
  const file = join(packageRoot(), "dist", "guest.js");
  if (!existsSync(file)) throw new KernelError(`${file} is missing — run \`npm run build\` first`);
  const w = new Worker(file, { workerData: job, resourceLimits: { stackSizeMb: GUEST_STACK_MB } });
  return new Promise((resolve, reject) => {
    let done: { status: number | undefined } | undefined;
    w.once("message", (m: { status: number | undefined }) => (done = m));
    w.once("error", reject);
    w.once("exit", (code) => {
      // a main that returns nothing has no status: it exits 0, as it does on the main thread
      if (done) resolve(done.status ?? 0);
      else reject(new KernelError(`the guest thread ended (exit code ${code}) without reporting the run's status`));
    });
  });
}
