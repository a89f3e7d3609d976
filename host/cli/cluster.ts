/**
 * Cluster mode on the command line: `popcorn kernel` (a kernel daemon),
 * `popcorn keygen`, and `run/ps/kill/migrate/dmesg --cluster <addr>` (a
 * client of the kernel at that address, which finds the others).
 *
 * ps, kill, migrate and dmesg connect to every kernel the first one says is
 * up, all at once: a kernel that does not answer its handshake (frozen,
 * overloaded, unreachable) is left out with one line on stderr, and however
 * many there are, they cost one handshake timeout (5 s) together — after
 * the first kernel's own, which is asked first for the list.
 */
import { constants as osConstants } from "node:os";
import { readFile } from "node:fs/promises";
import { type ClusterInfo, RemoteKernel, SIGMIGRATE, loadProgram, mergePs, startKernelDaemon, type ExitInfo, type ProcessInfo, type Scheduler } from "../kernel/index.js";
import { ConfigError, generateKey, readKeyFile } from "../msg/index.js";
import { CompileError } from "../toolchain/index.js";
import { psTable, refuseUnmovable, threadName, type ThreadTarget } from "./kernels.js";
import { qemuIsa, runUnderQemu } from "./qemu.js";
import { holdLeash } from "./leash.js";
import { SIGPIPE, programOutput } from "./output.js";
import { printRunJson } from "./run-json.js";

export interface ClusterFlags {
  cluster: string;
  keyFile?: string;
  /** each kernel's handshake deadline (default DEFAULT_HANDSHAKE_MS, 5 s); no flag sets it, tests shorten it */
  handshakeTimeoutMs?: number;
}

/** The cluster's key, from --key-file. */
export function clusterKey(o: ClusterFlags): Uint8Array {
  if (!o.keyFile) throw new ConfigError("--cluster needs --key-file <file> (the cluster's shared key, from `popcorn keygen`)");
  return readKeyFile(o.keyFile);
}

export async function keygenCommand(): Promise<number> {
  process.stdout.write(generateKey());
  return 0;
}

/** `popcorn kernel`: runs until SIGINT/SIGTERM, printing its dmesg as it goes. */
export async function kernelCommand(o: { isa: string; listen: string; peers: string; keyFile: string; cores?: number; quiet?: boolean; qemu?: boolean }): Promise<number> {
  if (o.qemu) {
    qemuIsa(o.isa, `--qemu with --isa ${o.isa}`, "use --qemu only with --isa aarch64, or leave it out");
    const args = ["kernel", "--isa", o.isa, "--listen", o.listen, "--peers", o.peers, "--key-file", o.keyFile];
    if (o.cores) args.push("--cores", String(o.cores));
    if (o.quiet) args.push("--quiet");
    return runUnderQemu(args);
  }
  // the reader of the log went away (`popcorn kernel … | head`, a `| tee` that was stopped): the kernel runs on
  // without printing it — its processes, and its peers', must not end with a viewer (main.ts ends other commands)
  let printing = !o.quiet;
  const logGone = (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    if (!printing) return;
    printing = false;
    process.stderr.write(`popcorn: kernel at ${o.listen}: the reader of its log went away — it runs on without printing the log (\`popcorn dmesg --cluster ${o.listen} --key-file …\` reads it)\n`);
  };
  process.stdout.on("error", logGone);
  process.stderr.on("error", logGone);
  const daemon = await startKernelDaemon({
    isa: o.isa,
    listen: o.listen,
    peers: o.peers,
    keyFile: o.keyFile,
    cores: o.cores,
    log: o.quiet ? undefined : (line) => void (printing && process.stdout.write(line + "\n")),
  });
  let letGo = () => {};
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    letGo = holdLeash(stop);
  });
  await daemon.close();
  letGo();
  return 0;
}

/** Every up kernel of the cluster that `o.cluster` belongs to, connected, by kernel id. */
async function connectAll(o: ClusterFlags): Promise<{ info: ClusterInfo; kernels: Map<number, RemoteKernel> }> {
  const k = clusterKey(o);
  const first = await RemoteKernel.connect(o.cluster, k, { timeoutMs: o.handshakeTimeoutMs });
  const kernels = new Map<number, RemoteKernel>();
  try {
    const info = await first.cluster();
    kernels.set(info.self, first);
    const others = info.kernels.filter((peer) => peer.id !== info.self && peer.up);
    // all at once: kernels that do not answer (frozen, unreachable) cost one handshake timeout together, not one each
    const connected = await Promise.allSettled(others.map((peer) => RemoteKernel.connect(peer.address, k, { timeoutMs: o.handshakeTimeoutMs })));
    connected.forEach((c, i) => {
      const peer = others[i]!;
      if (c.status === "fulfilled") kernels.set(peer.id, c.value);
      // one unreachable kernel does not stop the others from answering
      else process.stderr.write(`popcorn: kernel ${peer.id} (${peer.address}) does not answer: ${(c.reason as Error).message} — left out\n`);
    });
    return { info, kernels };
  } catch (e) {
    first.close();
    closeAll(kernels);
    throw e;
  }
}

const closeAll = (kernels: Map<number, RemoteKernel>) => {
  for (const k of kernels.values()) k.close();
};

export async function runOnCluster(file: string, bytes: Uint8Array, args: string[], o: ClusterFlags & { migrateEvery?: number; migrateAt?: number[] }): Promise<number> {
  const program = loadProgram(bytes, file);
  if (o.migrateEvery || o.migrateAt) refuseUnmovable(program);
  return runOnRemote(file, bytes, args, o.cluster, clusterKey(o), o);
}

/** Runs a program on the kernel at `address` (the cluster's key in hand) and returns its exit status. */
export async function runOnRemote(
  file: string,
  bytes: Uint8Array,
  args: string[],
  address: string,
  clusterKey: Uint8Array,
  o: { migrateEvery?: number; migrateAt?: number[]; dmesg?: boolean; json?: boolean; scheduler?: Scheduler },
  /** the kernels were started for this run (--kernels …@qemu): their whole log is the run's */
  ownKernels = false,
): Promise<number> {
  const kernel = await RemoteKernel.connect(address, clusterKey);
  // --json: the summary every run prints (run-json.ts), with the pid as on embedded kernels
  // a reader that does not keep up: this client stops reading, and the kernel holds the process as for any slow client
  // (daemon.ts); one that went away (| head) is the process's SIGPIPE (output.ts)
  let started: number | undefined;
  const out = programOutput({
    json: o.json,
    hold: (on) => kernel.hold(on),
    brokenPipe: () => {
      if (started !== undefined) signalQuietly(kernel, started, SIGPIPE);
    },
  });
  kernel.onOutput = (_pid, stream, line) => out.write(stream, line);
  const t0 = performance.now();
  try {
    const { pid, exited } = await kernel.exec(bytes, file, args, o.migrateAt, o.scheduler);
    started = pid;
    if (out.broken) signalQuietly(kernel, pid, SIGPIPE); // its first lines came before the exec's reply
    // the first Ctrl-C (SIGTERM) is passed on as signal 2 (15): the process stops at its next migration point; the
    // second one leaves it to the cluster
    let interrupts = 0;
    const stop = (signal: NodeJS.Signals) => {
      const signo = osConstants.signals[signal];
      if (++interrupts > 1) {
        process.stderr.write(`popcorn: ${signal === "SIGINT" ? "interrupted" : signal} again — leaving pid ${pid} to the cluster (\`popcorn kill -9 ${pid} --cluster …\`)\n`);
        kernel.close();
        process.exit(128 + signo);
      }
      process.stderr.write(`popcorn: ${signal === "SIGINT" ? "interrupt" : signal} — the process stops at its next migration point (again to detach)\n`);
      kernel.signal(pid, signo);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    const timer = o.migrateEvery ? setInterval(() => kernel.signal(pid, SIGMIGRATE), o.migrateEvery) : undefined;
    const ex: ExitInfo = await exited;
    if (timer) clearInterval(timer);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    const ms = performance.now() - t0;
    if (ex.error && !o.json && !out.broken) process.stderr.write(`popcorn: ${ex.error.startsWith(`${file}: `) ? "" : `${file}: `}${ex.error}\n`);
    const log: string[] = [];
    if (o.dmesg || o.json) {
      // what the kernels still reachable say: the one this client talks to may be the one that went away
      const info = await kernel.cluster().catch(() => undefined);
      // all at once, as connectAll: kernels that do not answer cost one timeout together
      const logs = await Promise.all(
        (info?.kernels ?? []).map(async (peer) => {
          const k = peer.id === info!.self ? kernel : await RemoteKernel.connect(peer.address, clusterKey).catch(() => undefined);
          const lines = await k?.dmesg().catch(() => undefined);
          if (k && k !== kernel) k.close();
          return lines ?? [];
        }),
      );
      for (const lines of logs) log.push(...(ownKernels ? lines : runLines(lines, pid)));
    }
    if (o.json) printRunJson({ status: ex.status, error: ex.error, output: out.lines, ms, dmesg: log, pid });
    else if (o.dmesg) process.stderr.write(log.join("\n") + "\n");
    return ex.status;
  } finally {
    kernel.close();
  }
}

/** A signal for pid, if the kernel is still there to take it (a lost connection reports itself: the run's exit). */
function signalQuietly(kernel: RemoteKernel, pid: number, signo: number): void {
  try {
    kernel.signal(pid, signo);
  } catch {
    // the connection is closed: its exit says why
  }
}

/**
 * A daemon's log holds every process it ran since it started: this run's
 * part of it is from the first line about `pid` on, without the lines about
 * other processes — what happened to the kernel meanwhile (a peer that
 * left) stays.
 */
function runLines(lines: string[], pid: number): string[] {
  const about = (l: string) => /\bpid (\d+)/.exec(l)?.[1];
  const first = lines.findIndex((l) => about(l) === String(pid));
  return first < 0 ? [] : lines.slice(first).filter((l) => about(l) === undefined || about(l) === String(pid));
}

export async function psOnCluster(o: ClusterFlags & { json?: boolean }): Promise<number> {
  const { info, kernels } = await connectAll(o);
  try {
    // a kernel knows its own cores, not its peers' (their handshakes do not say them): each connected one is asked for its own
    const [rows, cores] = await Promise.all([
      Promise.all([...kernels.values()].map((k) => k.ps())).then((ps): ProcessInfo[] => mergePs(ps.flat())),
      Promise.all(
        [...kernels].map(async ([id, k]) => {
          const its = id === info.self ? info : await k.cluster().catch(() => undefined);
          return [id, its?.kernels.find((x) => x.id === its.self)?.cores] as const;
        }),
      ).then((l) => new Map(l)),
    ]);
    const list = info.kernels.map((k) => ({ ...k, cores: k.cores ?? cores.get(k.id) }));
    if (o.json) process.stdout.write(JSON.stringify({ kernels: list, processes: rows }) + "\n");
    else {
      const about = (k: (typeof list)[number]) => {
        const what = [k.arch && `node ${k.arch}`, k.cores !== undefined && `${k.cores} core${k.cores > 1 ? "s" : ""}`].filter(Boolean);
        return what.length ? ` (${what.join(", ")})` : "";
      };
      process.stdout.write(list.map((k) => `kernel ${k.id} ${k.isa} ${k.address} ${k.up ? "up" : "DOWN"}${about(k)}`).join("\n") + "\n");
      process.stdout.write(rows.length ? psTable(rows) : "no processes\n");
    }
    return 0;
  } finally {
    closeAll(kernels);
  }
}

export async function signalOnCluster(target: ThreadTarget, signo: number, to: number | undefined, o: ClusterFlags): Promise<number> {
  const { pid, tid } = target;
  const { info, kernels } = await connectAll(o);
  try {
    if (to !== undefined && !info.kernels.some((k) => k.id === to)) {
      throw new CompileError(`--to ${to}: no such kernel (the cluster has kernels 0..${info.kernels.length - 1})`);
    }
    const rows = mergePs((await Promise.all([...kernels.values()].map((k) => k.ps()))).flat());
    const row = rows.find((p) => p.pid === pid && (p.tid ?? 0) === tid);
    if (!row) throw new CompileError(`no popcorn ${tid ? "thread" : "process"} ${threadName(target)} in the cluster — \`popcorn ps --cluster ${o.cluster}\` lists them`);
    // to the kernel where it runs; if it has moved on since, that kernel forwards the signal along
    (kernels.get(row.kernel) ?? kernels.get(info.self)!).signal(pid, signo, to, tid);
    await new Promise((r) => setTimeout(r, 20)); // let the frame leave before the connection closes
    return 0;
  } finally {
    closeAll(kernels);
  }
}

export async function dmesgOnCluster(o: ClusterFlags & { json?: boolean }): Promise<number> {
  const { kernels } = await connectAll(o);
  try {
    const logs = await Promise.all([...kernels.values()].map((k) => k.dmesg()));
    if (o.json) process.stdout.write(JSON.stringify(logs) + "\n");
    else process.stdout.write(logs.map((l) => l.join("\n")).join("\n") + "\n");
    return 0;
  } finally {
    closeAll(kernels);
  }
}

export async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
