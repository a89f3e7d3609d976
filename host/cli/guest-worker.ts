/**
 * The guest thread of a one-kernel run (bundled to dist/guest.js; see
 * guest-thread.ts): runs the job in workerData and posts its status.
 *
 * A worker's process.stdout and process.stderr hand their writes to the
 * main thread, later; the guest's own lines go to the fds at once
 * (output.ts). So that a summary (--json), dmesg lines and an error line
 * come after them, as they do when main prints them, this thread's
 * process.stdout and process.stderr write to the fds at once too.
 */
import { parentPort, workerData } from "node:worker_threads";
import { decodeImage, loadProgram } from "../kernel/index.js";
import { fail } from "./fail.js";
import type { GuestJob } from "./guest-thread.js";
import { writeNow } from "./output.js";
import { execute, stopAndSave } from "./run.js";

for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]] as const) {
  stream.write = ((chunk: string | Uint8Array) => writeNow(fd, chunk)) as typeof stream.write;
}

async function run(job: GuestJob): Promise<number> {
  const program = loadProgram(job.bytes, job.file);
  if (job.image) return execute(program, [], job.flags, decodeImage(job.image.bytes, job.image.file));
  if (job.flags.stopAt !== undefined || job.flags.save !== undefined) return stopAndSave(program, job.args, job.flags);
  return execute(program, job.args, job.flags);
}

parentPort!.postMessage({ status: await run(workerData as GuestJob).catch(fail) });
