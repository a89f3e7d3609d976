/**
 * `popcorn run` and `popcorn resume`: one kernel, on a guest thread with a
 * core's stack (guest-thread.ts; with checkpoints, --stop-at/--save), or hand-off to kernels of several ISAs
 * (--kernels, kernels.ts) or to a cluster (--cluster, cluster.ts).
 *
 * A program that uses threads (it imports the kernel's syscalls) runs on a
 * kernel: plain `run` gives it one. The one-thread runs here cannot make its
 * syscalls, so --checkpoint-every, --stop-at and --save (of run, and
 * --checkpoint-every of resume) refuse it up front: it would fail at its
 * first spawn, and an image of it taken before that would fail on resume.
 * --json prints the summary of run-json.ts.
 */
import { readFile } from "node:fs/promises";
import { stackmapBackends } from "../isa/index.js";
import { runOnKernels } from "./kernels.js";
import { runOnCluster } from "./cluster.js";
import { compile, CompileError } from "../toolchain/index.js";
import { Process, ProcessError, RunFailed, decodeImage, encodeImage, loadProgram, runProgram, type Program, type ProcessImage, type Scheduler } from "../kernel/index.js";
import { GUEST_MODULE, SYS_IMPORT } from "../toolchain/index.js";
import { BrokenPipe, SIGPIPE, programOutput } from "./output.js";
import { type OutputLine, printRunJson } from "./run-json.js";
import { checkOutput, refuseSameFile, writeOutput } from "./files.js";
import { runOnGuestThread } from "./guest-thread.js";

export interface RunFlags {
  checkpointEvery?: number;
  stopAt?: number;
  save?: string;
  dmesg?: boolean;
  json?: boolean;
  kernels?: string;
  cores?: number;
  migrateEvery?: number;
  migrateAt?: number[];
  trace?: string;
  cluster?: string;
  keyFile?: string;
  scheduler?: Scheduler;
}

export async function readProgramBytes(file: string): Promise<Uint8Array> {
  if (file.endsWith(".ts")) return (await compile(file, { backends: stackmapBackends() })).wasm;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // an image's magic, "PCIM" (kernel/image.ts): given where the program goes, as `resume <image> <program>` does
  if (new TextDecoder().decode(bytes.subarray(0, 4)) === "PCIM") {
    throw new CompileError(`${file}: a process image, not a program — resume it with \`popcorn resume <program.wasm> ${file}\` (the program first)`);
  }
  return bytes;
}

export async function runCommand(file: string, args: string[], o: RunFlags): Promise<number> {
  const bytes = await readProgramBytes(file);
  if (o.cluster !== undefined) {
    if (o.kernels !== undefined || o.cores || o.checkpointEvery || o.stopAt || o.save || o.trace) {
      throw new CompileError(
        "--cluster runs on the cluster's kernels: leave out --kernels, --cores (each daemon's own, `popcorn kernel --cores n`), --checkpoint-every, --stop-at, --save, --trace",
      );
    }
    return runOnCluster(file, bytes, args, { ...o, cluster: o.cluster });
  }
  if (o.kernels !== undefined) {
    if (o.checkpointEvery || o.stopAt || o.save) throw new CompileError("--checkpoint-every/--stop-at/--save run on one kernel: leave out --kernels");
    return runOnKernels(bytes, file, args, { ...o, kernels: o.kernels });
  }
  if (o.cores || o.migrateEvery || o.migrateAt || o.trace || o.scheduler) {
    throw new CompileError("--cores, --migrate-every, --migrate-at, --scheduler and --trace need --kernels, e.g. --kernels x86-64,aarch64");
  }
  const program = loadProgram(bytes, file);
  refuseThreads(program, file, o);
  // threads need a kernel's scheduler and the origin's syscalls: one x86-64 kernel
  if (usesThreads(program)) return runOnKernels(bytes, file, args, { ...o, kernels: "x86-64" });
  if (o.checkpointEvery && !program.sites) {
    throw new CompileError(`${file}: --checkpoint-every needs an instrumented program — compile it with \`popcorn compile\``);
  }
  return runOnGuestThread({ file, bytes, args, flags: o });
}

/** A program that makes syscalls (Thread.spawn, Mutex, …: toolchain/abi.ts) needs a kernel to run on. */
function usesThreads(program: Program): boolean {
  return WebAssembly.Module.imports(program.module).some((i) => i.module === GUEST_MODULE && i.name === SYS_IMPORT);
}

/** Refuses, before it starts, a program that uses threads in a run made on one thread here (resume, and the flags that ask for one). */
function refuseThreads(program: Program, file: string, o: RunFlags, resume = false): void {
  const flags = [resume && "resume", o.checkpointEvery && "--checkpoint-every", o.stopAt !== undefined && "--stop-at", o.save !== undefined && "--save"].filter(
    (f) => !!f,
  );
  if (!flags.length || !usesThreads(program)) return;
  const named = flags.length > 1 ? `${flags.slice(0, -1).join(", ")} and ${flags[flags.length - 1]} run` : `${flags[0]} runs`;
  // worded as Process words a spawn in a run without a kernel (what resuming such an image meets)
  throw new CompileError(
    `${file}: threads need a kernel, and ${named} one thread here (single-threaded programs only) — ` +
      "run it with `popcorn run` alone, or with --kernels (and move it with --migrate-at or `popcorn kill -35` instead of an image)",
  );
}

/** `popcorn resume <program> <image>`: runs a saved image on to the end. */
export async function resumeCommand(file: string, imageFile: string, o: RunFlags): Promise<number> {
  const bytes = await readProgramBytes(file);
  refuseThreads(loadProgram(bytes, file), file, o, true);
  let image: Uint8Array;
  try {
    image = new Uint8Array(await readFile(imageFile));
  } catch (e) {
    throw new CompileError(`${imageFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return runOnGuestThread({ file, bytes, args: [], flags: o, image: { bytes: image, file: imageFile } });
}

/** --stop-at n --save f, on the guest thread (guest-thread.ts): runs to the n-th migration point and writes the image there. */
export async function stopAndSave(program: Program, args: string[], o: RunFlags): Promise<number> {
  if (o.stopAt === undefined || !o.save) throw new CompileError("--stop-at <n> and --save <file> go together");
  if (!program.sites) throw new CompileError(`${program.name}: --stop-at needs an instrumented program — compile it with \`popcorn compile\``);
  refuseSameFile("--save", o.save, program.name, "the program");
  checkOutput("--save", o.save); // before the run: a path that cannot be written must not cost it
  const out = programOutput({ json: o.json, blocking: true });
  const t0 = performance.now();
  const p = new Process(program, {
    args,
    kernel: { id: 0, isa: "x86-64", count: 1 },
    stdout: (l) => out.write(1, l),
    stderr: (l) => out.write(2, l),
    nextCapture: () => o.stopAt,
  });
  let status: number | undefined;
  try {
    p.boot();
    status = p.run(() => "stop");
  } catch (e) {
    if (e instanceof BrokenPipe) return 128 + SIGPIPE;
    if (!(o.json && e instanceof ProcessError)) throw e;
    return failedJson(e, out.lines, t0);
  }
  const summary = { output: out.lines, dmesg: [] };
  if (status !== undefined) {
    process.stderr.write(`popcorn: ${program.name} finished (status ${status}) before migration point ${o.stopAt}; nothing saved\n`);
    if (o.json) printRunJson({ status, ...summary, ms: performance.now() - t0 });
    return status;
  }
  const bytes = encodeImage(p.image());
  await writeOutput(o.save, bytes);
  process.stderr.write(`popcorn: stopped at migration point ${o.stopAt}; image saved to ${o.save} (${bytes.length} bytes)\n`);
  if (o.json) printRunJson({ status: 0, ...summary, ms: performance.now() - t0, stoppedAt: o.stopAt, image: o.save, imageBytes: bytes.length });
  return 0;
}

/** The program failed (a trap, an abort) under --json: a script still gets its JSON, with the error and the output so far. */
function failedJson(e: ProcessError, output: OutputLine[], t0: number, dmesg: string[] = []): number {
  const counts = e instanceof RunFailed ? { captures: e.captures, imageBytes: e.imageBytes } : {};
  printRunJson({ status: 1, error: e.message, output, ms: performance.now() - t0, dmesg, ...counts });
  return 1;
}

/** A one-kernel run, on the guest thread (guest-thread.ts): to its end, with checkpoints if asked, from its start or an image. */
export async function execute(program: Program, args: string[], o: RunFlags, image?: ProcessImage): Promise<number> {
  const dmesg: string[] = [];
  const out = programOutput({ json: o.json, blocking: true });
  const t0 = performance.now();
  let r: ReturnType<typeof runProgram>;
  try {
    r = runProgram(program, {
      args,
      image,
      checkpointEvery: o.checkpointEvery,
      stdout: (l) => out.write(1, l),
      stderr: (l) => out.write(2, l),
      // as a kernel's dmesg lines read (kernel.ts): this run is kernel 0, x86-64, on the guest thread
      log: (l) => dmesg.push(`[${((performance.now() - t0) / 1000).toFixed(6).padStart(12)}] kernel 0 (x86-64): ${l}`),
    });
  } catch (e) {
    if (e instanceof BrokenPipe) return 128 + SIGPIPE;
    if (!(o.json && e instanceof ProcessError)) throw e;
    return failedJson(e, out.lines, t0, dmesg);
  }
  if (o.json) printRunJson({ status: r.status, output: out.lines, ms: performance.now() - t0, dmesg, captures: r.captures, imageBytes: r.imageBytes });
  if (o.dmesg) for (const l of dmesg) process.stderr.write(l + "\n");
  return r.status;
}
