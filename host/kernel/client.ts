/**
 * The client side of embedded mode: the thread that starts the kernels (the
 * `popcorn run` process) and talks to each kernel's control thread over its
 * own MessagePort. It is not a kernel: it starts processes, forwards their
 * output, and asks the kernels for ps, dmesg and signals. Kernels talk to
 * each other only through their transport.
 *
 *   client → kernel   exec {pid?, req?, name, bytes, args, schedule?, scheduler?} | signal {pid, tid?, signo, to?}
 *                     | ps {req} | dmesg {req} | ping {req, to, size, count} | watch | shutdown
 *   kernel → client   ready | output {pid, stream, line} | exit {pid, status, error?}
 *                     | reply {req, data} | migrated {record} | trace {trace}   (to watching clients)
 *
 * The same objects travel over TCP in cluster mode (remote.ts).
 */
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../toolchain/index.js";
import { profile } from "../isa/index.js";
import { now } from "./control-word.js";
import type { PartialTrace } from "./jobs.js";
import type { MigrationTrace } from "./trace.js";

/** A client as a kernel sees it: where its replies, its processes' output and (if it watches) migration records go. */
export interface ClientLink {
  post(reply: ClientReply): void;
  /** bytes posted and not yet read by the client (a TCP client, kernel/daemon.ts): ps shows them */
  unread?(): number;
  /** receives migration records and traces of every process on this kernel */
  watches?: boolean;
  close?(): void;
}

/** How the origin places a process's threads over the kernels (kernel/balance.ts); none: they stay where they are spawned. */
export type Scheduler = "balance" | "hetero";
export const SCHEDULERS: Scheduler[] = ["balance", "hetero"];

export type ClientRequest =
  /** pid: chosen by the client (embedded mode) or, if absent, by the kernel, which replies to `req` with it */
  | { t: "exec"; pid?: number; req?: number; name: string; bytes: Uint8Array; args: string[]; schedule?: number[]; scheduler?: Scheduler }
  /** tid: the thread (default 0, main) */
  | { t: "signal"; pid: number; tid?: number; signo: number; to?: number }
  /** round trips from this kernel to kernel `to`: the reply's data is PingResult */
  | { t: "ping"; req: number; to: number; size: number; count: number }
  | { t: "ps"; req: number }
  /** from now on, send this client every migration record (and trace) of this kernel */
  | { t: "watch" }
  /** hold (or let go) the processes this client started: its reader does not keep up with their output (cli/output.ts) */
  | { t: "hold"; on: boolean }
  | { t: "dmesg"; req: number }
  | { t: "shutdown" };

export type ClientReply =
  | { t: "ready"; kernel: number }
  | { t: "output"; pid: number; stream: 1 | 2; line: string }
  | { t: "exit"; pid: number; status: number; error?: string }
  | { t: "reply"; req: number; data: unknown }
  | { t: "migrated"; record: MigrationRecord }
  | { t: "trace"; trace: PartialTrace };

/** One migration as its destination kernel saw it (times in µs). */
export interface MigrationRecord {
  pid: number;
  /** the thread (0: main) */
  tid: number;
  /** migrations the thread had made before this one */
  epoch: number;
  from: number;
  to: number;
  frames: number;
  stackBytes: number;
  memoryBytes: number;
  messageBytes: number;
  /** request on the source → the thread runs on the destination */
  totalUs: number;
  /** µs per phase: capture, ahead, dirty, lower, rewrite, send, load, pages, lift, resume (see trace.ts) */
  phases: Record<string, number>;
}

/** One thread, as the kernel it is on sees it (popcorn ps). */
export interface ProcessInfo {
  pid: number;
  /** 0: main */
  tid: number;
  name: string;
  kernel: number;
  isa: string;
  /** the machine the kernel really runs on (process.arch): x64, or arm64 under QEMU */
  arch: string;
  state: string;
  origin: number;
  migrations: number;
  migrationsIn: number;
  migrationsOut: number;
  bytesIn: number;
  bytesOut: number;
  lastUs?: number;
  /** bytes of the process's memory (pages, diffs) that came into and went out of this kernel */
  memIn: number;
  memOut: number;
  /**
   * cluster mode, on the process's origin: bytes sent to the client that
   * started it and not yet read by it — large when that client is stopped
   * or slow (kernel/daemon.ts drops it past MAX_CLIENT_BACKLOG_BYTES)
   */
  unread?: number;
}

/** Round-trip times (µs) of `count` pings of `size` payload bytes, one at a time, and the time of the whole series. */
export interface PingResult {
  rttUs: number[];
  totalMs: number;
  error?: string;
}

export interface ExitInfo {
  status: number;
  error?: string;
}

export class KernelError extends Error {}

/** Every kernel's ps rows as one list: a thread in flight shows once, where it runs. */
export function mergePs(rows: ProcessInfo[]): ProcessInfo[] {
  const rank = (s: string) => ["leaving", "runnable", "starting", "blocked", "running"].indexOf(s);
  const byThread = new Map<string, ProcessInfo>();
  for (const p of rows) {
    const k = `${p.pid}.${p.tid ?? 0}`;
    const seen = byThread.get(k);
    if (!seen || rank(p.state) > rank(seen.state)) byThread.set(k, p);
  }
  return [...byThread.values()].sort((a, b) => a.pid - b.pid || (a.tid ?? 0) - (b.tid ?? 0));
}

/** The bundled worker script that runs kernels and cores (built by build.mjs). */
export function workerFile(): string {
  const f = join(packageRoot(), "dist", "worker.js");
  if (!existsSync(f)) throw new KernelError(`${f} is missing — run \`npm run build\` first`);
  return f;
}

export interface EmbeddedOptions {
  /** one ISA profile name per kernel, e.g. ["x86-64", "aarch64"] */
  isas: string[];
  cores?: number;
  onOutput?(pid: number, stream: 1 | 2, line: string): void;
  onMigration?(r: MigrationRecord): void;
  /** record every migration's stacks and transformation: see traces() */
  trace?: boolean;
}

/** Pids of embedded runs: unique in this process, however many sets of kernels it starts. */
let nextEmbeddedPid = process.pid;

/** Kernels as worker threads of this process, linked by the local transport. */
export class EmbeddedKernels {
  private readonly ports: MessagePort[] = [];
  private readonly workers: Worker[] = [];
  private readonly exits = new Map<number, (e: ExitInfo) => void>();
  private readonly origins = new Map<number, number>();
  private readonly replies = new Map<number, (d: unknown) => void>();
  private nextReq = 1;
  private stopped = false;

  private constructor(readonly isas: string[], private readonly opts: EmbeddedOptions) {}

  static async start(opts: EmbeddedOptions): Promise<EmbeddedKernels> {
    if (!opts.isas.length) throw new KernelError("no kernels: give at least one ISA, e.g. --kernels x86-64,aarch64");
    for (const isa of opts.isas) profile(isa); // names the known ISAs on a typo
    const k = new EmbeddedKernels(opts.isas, opts);
    await k.boot(opts.cores ?? 1);
    return k;
  }

  private async boot(cores: number): Promise<void> {
    const n = this.isas.length;
    const file = workerFile();
    const links: Map<number, MessagePort>[] = this.isas.map(() => new Map());
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        const ch = new MessageChannel();
        links[a]!.set(b, ch.port1);
        links[b]!.set(a, ch.port2);
      }
    }
    const bootAt = now();
    const ready: Promise<void>[] = [];
    for (let id = 0; id < n; id++) {
      const ch = new MessageChannel();
      const peers = Object.fromEntries(links[id]!);
      const w = new Worker(file, {
        workerData: { role: "kernel", id, isas: this.isas, cores, bootAt, workerFile: file, trace: this.opts.trace, client: ch.port2, peers },
        transferList: [ch.port2, ...links[id]!.values()],
      });
      this.workers.push(w);
      this.ports.push(ch.port1);
      ready.push(
        new Promise((resolve, reject) => {
          w.once("error", reject);
          ch.port1.on("message", (m: ClientReply) => {
            if (m.t === "ready") resolve();
            else this.fromKernel(m);
          });
        }),
      );
      w.on("error", (e) => this.failAll(`kernel ${id} crashed: ${e.message}`));
    }
    await Promise.all(ready);
  }

  private fromKernel(m: ClientReply): void {
    if (m.t === "output") this.opts.onOutput?.(m.pid, m.stream, m.line);
    else if (m.t === "exit") {
      this.exits.get(m.pid)?.({ status: m.status, error: m.error });
      this.exits.delete(m.pid);
    } else if (m.t === "migrated") {
      this.opts.onMigration?.(m.record);
      this.traced(m.record).record = m.record;
    } else if (m.t === "trace") {
      this.traced(m.trace).trace = m.trace;
    } else if (m.t === "reply") {
      this.replies.get(m.req)?.(m.data);
      this.replies.delete(m.req);
    }
  }

  /** pid.tid:epoch → what the source (trace) and the destination (record) said of a migration (each thread counts its own epochs) */
  private readonly traceParts = new Map<string, { trace?: PartialTrace; record?: MigrationRecord }>();

  private traced(m: { pid: number; tid: number; epoch: number }): { trace?: PartialTrace; record?: MigrationRecord } {
    const key = `${m.pid}.${m.tid}:${m.epoch}`;
    let t = this.traceParts.get(key);
    if (!t && this.opts.trace) this.traceParts.set(key, (t = {}));
    return t ?? {};
  }

  /** Every migration traced so far (with `trace: true`), process by process, in the order they were requested. */
  traces(): MigrationTrace[] {
    const out: (MigrationTrace & { requestedAt: number })[] = [];
    for (const { trace, record } of this.traceParts.values()) {
      if (!trace) continue;
      out.push({
        seq: 0,
        ...trace,
        phasesUs: { ...trace.phasesUs, ...(record?.phases ?? {}) },
        // the memory travels ahead of the thread, sent by the source's control thread: its destination counted it
        memory: record ? { ...trace.memory, bytes: record.memoryBytes, pages: Math.ceil(record.memoryBytes / 4096) } : trace.memory,
        totalUs: record?.totalUs,
      });
    }
    out.sort((a, b) => a.pid - b.pid || a.requestedAt - b.requestedAt || a.tid - b.tid || a.epoch - b.epoch);
    return out.map(({ requestedAt: _, ...t }, seq) => ({ ...t, seq }));
  }

  /** A kernel worker died: every waiting exit and request is settled, nothing hangs. */
  private failAll(why: string): void {
    for (const done of this.exits.values()) done({ status: 1, error: why });
    this.exits.clear();
    for (const r of this.replies.values()) r(undefined);
    this.replies.clear();
  }

  /** Starts `bytes` on kernel `on` (default 0); resolves when the process exits, wherever it is then. */
  /** `schedule`: migrate to the next kernel at the n-th migration point, then after m more, … (ProcessMeta.schedule) */
  exec(bytes: Uint8Array, name: string, args: string[], o: { on?: number; schedule?: number[]; scheduler?: Scheduler } = {}) {
    const pid = nextEmbeddedPid++;
    const on = o.on ?? 0;
    if (on < 0 || on >= this.isas.length) throw new KernelError(`no kernel ${on} (kernels 0..${this.isas.length - 1})`);
    this.origins.set(pid, on);
    const exited = new Promise<ExitInfo>((resolve) => this.exits.set(pid, resolve));
    this.ports[on]!.postMessage({ t: "exec", pid, name, bytes, args, schedule: o.schedule, scheduler: o.scheduler } satisfies ClientRequest);
    return { pid, exited };
  }

  /** Holds (or lets go) the processes started here: this process's reader does not keep up with their output (Kernel.hold). */
  hold(on: boolean): void {
    if (this.stopped) return;
    for (const p of this.ports) p.postMessage({ t: "hold", on } satisfies ClientRequest);
  }

  /** Sends a signal to a thread (default: main), through its origin kernel (which forwards it to where the thread is). */
  signal(pid: number, signo: number, to?: number, tid?: number): boolean {
    const origin = this.origins.get(pid);
    if (origin === undefined) return false;
    this.ports[origin]!.postMessage({ t: "signal", pid, tid, signo, to } satisfies ClientRequest);
    return true;
  }

  private ask<T>(make: (req: number) => ClientRequest, kernel: number): Promise<T> {
    const req = this.nextReq++;
    return new Promise<T>((resolve) => {
      this.replies.set(req, resolve as (d: unknown) => void);
      this.ports[kernel]!.postMessage(make(req));
    });
  }

  /**
   * One row per process, from the kernel where it is. The kernels answer at
   * slightly different moments: a process in flight can be "leaving" on one
   * and already "running" on the other; the row where it runs wins.
   */
  async ps(): Promise<ProcessInfo[]> {
    const all = await Promise.all(this.isas.map((_, k) => this.ask<ProcessInfo[] | undefined>((req) => ({ t: "ps", req }), k)));
    return mergePs(all.flatMap((x) => x ?? []));
  }

  /** Every kernel's log, merged in time order. */
  async dmesg(): Promise<string[]> {
    const all = await Promise.all(this.isas.map((_, k) => this.ask<string[] | undefined>((req) => ({ t: "dmesg", req }), k)));
    return all.flatMap((x) => x ?? []).sort((a, b) => Number(a.slice(1, 13)) - Number(b.slice(1, 13)));
  }

  /** Round trips between kernel `from` and kernel `to`, over their transport. */
  ping(from: number, to: number, size: number, count: number): Promise<PingResult> {
    return this.ask<PingResult | undefined>((req) => ({ t: "ping", req, to, size, count }), from).then(
      (r) => r ?? { rttUs: [], totalMs: 0, error: `kernel ${from} stopped answering` },
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.ports) p.postMessage({ t: "shutdown" } satisfies ClientRequest);
    await Promise.all(this.workers.map((w) => w.terminate()));
    for (const p of this.ports) p.close();
  }
}
