/**
 * `popcorn run --kernels …` and the commands that talk to a running one:
 * `ps`, `kill`, `migrate`, `dmesg` (through its control socket, control.ts).
 * `run --json` prints the summary of run-json.ts.
 */
import { constants as osConstants } from "node:os";
import { CompileError } from "../toolchain/index.js";
import { EmbeddedKernels, MIGRATION_TRACE_VERSION, PID_SPAN, SIGMIGRATE, loadProgram, type MigrationTraceFile, type ProcessInfo, type Program, type Scheduler } from "../kernel/index.js";
import { controlRequest, runSockets, serveControl, type PsReply } from "./control.js";
import { kernelSpec, startLocalCluster } from "./local-cluster.js";
import { runOnRemote } from "./cluster.js";
import { SIGPIPE, programOutput } from "./output.js";
import { printRunJson } from "./run-json.js";
import { checkOutput, refuseSameFile, writeOutput } from "./files.js";

export interface KernelRunFlags {
  kernels: string;
  cores?: number;
  migrateEvery?: number;
  migrateAt?: number[];
  dmesg?: boolean;
  json?: boolean;
  /** write every migration's stacks and transformation here (host/kernel/trace.ts) */
  trace?: string;
  scheduler?: Scheduler;
}

/** A thread as the commands name it: `pid` (its main thread) or `pid.tid`. */
export interface ThreadTarget {
  pid: number;
  tid: number;
}

export const threadName = (t: { pid: number; tid?: number }) => (t.tid ? `${t.pid}.${t.tid}` : `${t.pid}`);

export function parseKernels(list: string): string[] {
  const isas = list.split(",").map((s) => s.trim());
  if (isas.some((s) => !s)) throw new CompileError(`--kernels "${list}": an empty entry — list ISA names separated by commas, e.g. x86-64,aarch64`);
  for (const e of isas) kernelSpec(e); // "<isa>" or "<isa>@qemu", the ISA known
  return isas;
}

/**
 * --migrate-every/--migrate-at of a program that cannot move — plain, or
 * compiled without a single migration point — would end with no migration
 * and no word: refused, saying what it lacks.
 */
export function refuseUnmovable(program: Program): void {
  if (!program.sites) {
    throw new CompileError(`${program.name}: --migrate-every/--migrate-at need an instrumented program — compile it with \`popcorn compile\``);
  }
  if (!program.sites.sites.length) {
    throw new CompileError(
      `${program.name}: --migrate-every/--migrate-at need an instrumented program with migration points, and it has none — ` +
        "recompile it with `popcorn compile` without --points (points at loops and recursion), or with a migrate()/checkMigrate() call",
    );
  }
}

/** Runs a program on kernels in this process; returns its exit status. */
export async function runOnKernels(bytes: Uint8Array, name: string, args: string[], o: KernelRunFlags): Promise<number> {
  const isas = parseKernels(o.kernels);
  if ((o.migrateEvery || o.migrateAt) && isas.length < 2) {
    // "the next kernel" of a run with one is the one it is on: the run would end with no migration and no word
    const flag = o.migrateAt ? "--migrate-at" : "--migrate-every";
    throw new CompileError(`${flag} moves the process to the next kernel, and --kernels ${o.kernels} starts one — list two or more, e.g. --kernels x86-64,aarch64`);
  }
  const program = loadProgram(bytes, name); // refuse a bad module before any thread starts
  if (o.migrateEvery || o.migrateAt) refuseUnmovable(program);
  if (isas.some((e) => kernelSpec(e).qemu)) return runOnOwnDaemons(isas, bytes, name, args, o);
  if (o.trace !== undefined) {
    // before the run: a trace path that cannot be written must not cost the run its output and status
    refuseSameFile("--trace", o.trace, name, "the program");
    checkOutput("--trace", o.trace);
  }
  const pids: number[] = [];
  // a reader that does not keep up holds the process; one that went away (| head) is its SIGPIPE (output.ts)
  const started: { kernels?: EmbeddedKernels } = {};
  const out = programOutput({
    json: o.json,
    hold: (on) => started.kernels?.hold(on),
    brokenPipe: () => {
      for (const pid of pids) started.kernels?.signal(pid, SIGPIPE);
    },
  });
  const kernels = (started.kernels = await EmbeddedKernels.start({
    isas,
    cores: o.cores,
    trace: o.trace !== undefined,
    onOutput: (_pid, stream, line) => out.write(stream, line),
  }));
  const control = await serveControl(kernels, name, () => pids);
  // the first Ctrl-C (SIGTERM) is passed on as signal 2 (15): the process stops at its next migration point
  // and exits 130 (143), as `popcorn kill` would make it; a program that has none (or is stuck where points
  // do not fire) would never stop, so the second one ends the run here, with the same status
  let interrupts = 0;
  const stop = (signal: NodeJS.Signals) => {
    const signo = osConstants.signals[signal];
    const what = signal === "SIGINT" ? "interrupt" : signal;
    if (++interrupts > 1) {
      process.stderr.write(`popcorn: ${signal === "SIGINT" ? "interrupted" : signal} again — stopping the kernels\n`);
      void control.close().then(() => kernels.stop()).then(() => process.exit(128 + signo));
      return;
    }
    process.stderr.write(`popcorn: ${what} — the process stops at its next migration point (again to stop the kernels now)\n`);
    for (const pid of pids) kernels.signal(pid, signo);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const t0 = performance.now();
  try {
    const { pid, exited } = kernels.exec(bytes, name, args, { schedule: o.migrateAt, scheduler: o.scheduler });
    pids.push(pid);
    const timer = o.migrateEvery ? setInterval(() => kernels.signal(pid, SIGMIGRATE), o.migrateEvery) : undefined;
    const ex = await exited;
    if (timer) clearInterval(timer);
    if (o.trace !== undefined) await writeTrace(o.trace, name, kernels);
    const lines = o.dmesg || o.json ? await kernels.dmesg() : [];
    if (o.json) {
      printRunJson({ status: ex.status, error: ex.error, output: out.lines, ms: performance.now() - t0, dmesg: lines, pid });
    } else {
      // (a run whose reader went away ends quietly, as a shell's pipeline does)
      if (ex.error && !out.broken) process.stderr.write(`popcorn: ${ex.error.startsWith(`${name}: `) ? ex.error : `${name}: ${ex.error}`}\n`);
      if (o.dmesg) process.stderr.write(lines.join("\n") + "\n");
    }
    return ex.status;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    await control.close();
    await kernels.stop();
  }
}

/**
 * A kernel under QEMU is a process of its own (an arm64 Node), so such a run
 * starts one kernel daemon per entry on loopback ports and runs the program
 * on them as a cluster client; the daemons stop when it ends.
 */
async function runOnOwnDaemons(entries: string[], bytes: Uint8Array, name: string, args: string[], o: KernelRunFlags): Promise<number> {
  if (o.trace || o.cores) throw new CompileError("--trace and --cores are not available with <isa>@qemu kernels yet");
  process.stderr.write(`popcorn: starting ${entries.length} kernel daemons (${entries.join(", ")}); one under QEMU takes a few seconds\n`);
  const cluster = await startLocalCluster(entries);
  try {
    return await runOnRemote(name, bytes, args, cluster.addresses[0]!, cluster.key, o, true);
  } finally {
    cluster.stop();
  }
}

async function writeTrace(file: string, program: string, kernels: EmbeddedKernels): Promise<void> {
  await new Promise((r) => setTimeout(r, 20)); // the destination's report of the last migration may trail the exit
  const trace: MigrationTraceFile = {
    format: "popcorn-trace",
    version: MIGRATION_TRACE_VERSION,
    program,
    kernels: kernels.isas.map((isa, id) => ({ id, isa })),
    migrations: kernels.traces(),
  };
  await writeOutput(file, JSON.stringify(trace));
  process.stderr.write(`popcorn: wrote ${file} (${trace.migrations.length} migration${trace.migrations.length === 1 ? "" : "s"}) — \`popcorn viz ${file}\` shows it\n`);
}

async function allRuns(): Promise<PsReply[]> {
  const replies = await Promise.all(runSockets().map((s) => controlRequest<PsReply>(s, { cmd: "ps" }).catch(() => undefined)));
  return replies.filter((r): r is PsReply => !!r?.ok);
}

export async function psCommand(o: { json?: boolean }): Promise<number> {
  const runs = await allRuns();
  const procs = runs.flatMap((r) => r.processes.map((p) => ({ ...p, run: r.run.pid, kernels: r.kernels.length })));
  if (o.json) {
    process.stdout.write(JSON.stringify({ runs: runs.map((r) => ({ ...r.run, kernels: r.kernels })), processes: procs }) + "\n");
    return 0;
  }
  if (!procs.length) {
    process.stdout.write(runs.length ? "no processes\n" : "no popcorn runs with kernels on this machine (start one with `popcorn run <prog> --kernels x86-64,aarch64`)\n");
    return 0;
  }
  process.stdout.write(psTable(procs, runs.length > 1));
  return 0;
}

/** ps rows as the table `popcorn ps` prints; `byRun`: a first column RUN (the OS pid of the `popcorn run` whose kernels they are on), when several runs' kernels are listed. */
export function psTable(procs: (ProcessInfo & { run?: number })[], byRun = false): string {
  // SENT/RECEIVED: this thread's migration messages; MEM OUT/IN: the process's memory traffic (pages, diffs) on that kernel
  const rows = [["PID", "NAME", "KERNEL", "ISA", "STATE", "MIGRATIONS", "LAST µs", "SENT", "RECEIVED", "MEM OUT", "MEM IN"]];
  for (const p of procs) {
    rows.push([
      threadName(p), p.name, String(p.kernel), p.arch && p.arch !== process.arch ? `${p.isa} (${p.arch})` : p.isa, p.state, String(p.migrations),
      p.lastUs === undefined ? "-" : p.lastUs.toFixed(0), bytesText(p.bytesOut), bytesText(p.bytesIn), bytesText(p.memOut ?? 0), bytesText(p.memIn ?? 0),
    ]);
  }
  // a process whose client is not reading its output (kernel/daemon.ts): the bytes it has not read
  if (procs.some((p) => p.unread)) rows.forEach((r, i) => r.push(i ? (procs[i - 1]!.unread === undefined ? "-" : bytesText(procs[i - 1]!.unread!)) : "UNREAD"));
  if (byRun) rows.forEach((r, i) => r.unshift(i ? String(procs[i - 1]!.run ?? "-") : "RUN"));
  return table(rows);
}

/** Finds the run that has the thread and sends it a signal. */
export async function signalCommand(target: ThreadTarget, signo: number, to?: number): Promise<number> {
  const { pid, tid } = target;
  for (const r of await allRuns()) {
    if (!r.processes.some((p) => p.pid === pid && (p.tid ?? 0) === tid)) continue;
    const reply = await controlRequest<{ ok: boolean; error?: string }>(r.run.socket, { cmd: "signal", pid, tid, signo, to });
    if (reply?.ok) return 0;
    throw new CompileError(`pid ${threadName(target)}: ${reply?.error ?? "its run has ended"}`);
  }
  throw new CompileError(`no popcorn ${tid ? "thread" : "process"} ${threadName(target)}${notHere(pid)}`);
}

/** The end of "no process <pid>": where to look — a pid a kernel gave (PID_SPAN and up) is likely a cluster's. */
function notHere(pid: number): string {
  const cluster = pid >= PID_SPAN ? `; a pid of ${PID_SPAN} or more is likely a cluster's: add --cluster <address> --key-file <file>` : "";
  return ` in the runs on this machine — \`popcorn ps\` lists them${cluster}`;
}

export async function migrateCommand(target: ThreadTarget, to: number): Promise<number> {
  for (const r of await allRuns()) {
    if (!r.processes.some((p) => p.pid === target.pid)) continue;
    if (to >= r.kernels.length) {
      throw new CompileError(`--to ${to}: no such kernel (pid ${target.pid}'s run has kernels 0..${r.kernels.length - 1})`);
    }
    return signalCommand(target, SIGMIGRATE, to);
  }
  throw new CompileError(`no popcorn process ${target.pid}${notHere(target.pid)}`);
}

export async function dmesgCommand(o: { json?: boolean }): Promise<number> {
  const out: { run: number; lines: string[] }[] = [];
  for (const s of runSockets()) {
    const r = await controlRequest<{ ok: boolean; lines: string[] }>(s, { cmd: "dmesg" }).catch(() => undefined);
    if (r?.ok) out.push({ run: Number(s.replace(/.*\/(\d+)\.sock$/, "$1")), lines: r.lines });
  }
  if (o.json) process.stdout.write(JSON.stringify(out) + "\n");
  else for (const r of out) process.stdout.write((out.length > 1 ? `run ${r.run}:\n` : "") + r.lines.join("\n") + "\n");
  if (!out.length && !o.json) process.stdout.write("no popcorn runs with kernels on this machine\n");
  return 0;
}

function bytesText(n: number): string {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(w[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}
