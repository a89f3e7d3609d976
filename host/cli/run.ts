/**
 * `popcorn run` and `popcorn resume`: one kernel in this thread (with
 * checkpoints, --stop-at/--save), or hand-off to kernels of several ISAs
 * (--kernels, kernels.ts) or to a cluster (--cluster, cluster.ts).
 */
import { readFile, writeFile } from "node:fs/promises";
import { stackmapBackends } from "../isa/index.js";
import { runOnKernels } from "./kernels.js";
import { runOnCluster } from "./cluster.js";
import { compile, CompileError } from "../toolchain/index.js";
import { Process, ProcessError, decodeImage, encodeImage, loadProgram, runProgram, type Program, type ProcessImage, type Scheduler } from "../kernel/index.js";
import { GUEST_MODULE, SYS_IMPORT } from "../toolchain/index.js";

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
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export async function runCommand(file: string, args: string[], o: RunFlags): Promise<number> {
  const bytes = await readProgramBytes(file);
  if (o.cluster !== undefined) {
    if (o.kernels !== undefined || o.checkpointEvery || o.stopAt || o.save || o.trace) {
      throw new CompileError("--cluster runs on the cluster's kernels: leave out --kernels, --checkpoint-every, --stop-at, --save, --trace");
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
  // threads need a kernel's scheduler and the origin's syscalls: one x86-64 kernel (checkpoints
  // run here, in this thread, and take single-threaded runs: a spawn there is an error that says so)
  if (usesThreads(program) && !o.checkpointEvery && !o.stopAt && !o.save) return runOnKernels(bytes, file, args, { ...o, kernels: "x86-64" });
  if (o.checkpointEvery && !program.sites) {
    throw new CompileError(`${file}: --checkpoint-every needs an instrumented program — compile it with \`popcorn compile\``);
  }
  if (o.stopAt !== undefined || o.save !== undefined) return stopAndSave(program, args, o);
  return execute(program, args, o);
}

/** A program that makes syscalls (Thread.spawn, Mutex, …: toolchain/abi.ts) needs a kernel to run on. */
function usesThreads(program: Program): boolean {
  return WebAssembly.Module.imports(program.module).some((i) => i.module === GUEST_MODULE && i.name === SYS_IMPORT);
}

/** `popcorn resume <program> <image>`: runs a saved image on to the end. */
export async function resumeCommand(file: string, imageFile: string, o: RunFlags): Promise<number> {
  const program = loadProgram(await readProgramBytes(file), file);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(imageFile));
  } catch (e) {
    throw new CompileError(`${imageFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return execute(program, [], o, decodeImage(bytes, imageFile));
}

async function stopAndSave(program: Program, args: string[], o: RunFlags): Promise<number> {
  if (o.stopAt === undefined || !o.save) throw new CompileError("--stop-at <n> and --save <file> go together");
  if (!program.sites) throw new CompileError(`${program.name}: --stop-at needs an instrumented program — compile it with \`popcorn compile\``);
  const p = new Process(program, {
    args,
    kernel: { id: 0, isa: "x86-64", count: 1 },
    stdout: (l) => process.stdout.write(l + "\n"),
    stderr: (l) => process.stderr.write(l + "\n"),
    nextCapture: () => o.stopAt,
  });
  p.boot();
  const status = p.run(() => "stop");
  if (status !== undefined) {
    process.stderr.write(`popcorn: ${program.name} finished (status ${status}) before migration point ${o.stopAt}; nothing saved\n`);
    return status;
  }
  const bytes = encodeImage(p.image());
  await writeFile(o.save, bytes);
  process.stderr.write(`popcorn: stopped at migration point ${o.stopAt}; image saved to ${o.save} (${bytes.length} bytes)\n`);
  if (o.json) process.stdout.write(JSON.stringify({ status: 0, stoppedAt: o.stopAt, image: o.save, imageBytes: bytes.length }) + "\n");
  return 0;
}

async function execute(program: Program, args: string[], o: RunFlags, image?: ProcessImage): Promise<number> {
  const dmesg: string[] = [];
  const output: string[] = [];
  const t0 = performance.now();
  let r: ReturnType<typeof runProgram>;
  try {
    r = runProgram(program, {
      args,
      image,
      checkpointEvery: o.checkpointEvery,
      stdout: o.json ? (l) => output.push(l) : undefined,
      log: (l) => dmesg.push(`[${((performance.now() - t0) / 1000).toFixed(6)}] kernel 0: ${l}`),
    });
  } catch (e) {
    // the program failed (a trap, an abort): a script still gets its JSON, with the error and the output so far
    if (!(o.json && e instanceof ProcessError)) throw e;
    process.stderr.write(`popcorn: ${e.message}\n`);
    process.stdout.write(JSON.stringify({ status: 1, error: e.message, output }) + "\n");
    return 1;
  }
  if (o.json) process.stdout.write(JSON.stringify({ status: r.status, captures: r.captures, imageBytes: r.imageBytes, output }) + "\n");
  if (o.dmesg) for (const l of dmesg) process.stderr.write(l + "\n");
  return r.status;
}
