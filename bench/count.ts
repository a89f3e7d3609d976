/**
 * `popcorn bench count`: the counting benchmark, the experiment Popcorn
 * Linux's tutorial ran — N threads of one process, each counting `load`
 * iterations (assembly/examples/count.ts), on one kernel or on two.
 *
 * Configurations (every kernel has one core unless said):
 *   (a) one kernel                                       the baseline
 *   (b) two kernels, threads balanced by the scheduler   (--scheduler balance; hetero
 *                                                        when a kernel runs under QEMU)
 *   (c) two kernels, half the threads moved by signal 35 right after they start,
 *       as in the original experiment (kill -35 <pid>.<tid>)
 *   (d) one kernel with two cores                        the shared-memory upper bound
 * The kernels of (b) and (c) are x86-64 and aarch64 (or `--kernels`). With an
 * `<isa>@qemu` entry (a real arm64 Node.js under QEMU: popcorn setup arm64),
 * (b) and (c) run on kernel daemons on loopback instead of worker threads,
 * and (a) and (d) on the first entry's ISA, natively. With `--cluster <addr>`
 * (b) and (c) run on that cluster's first two kernels (popcorn kernel
 * daemons, maybe on other machines), and (a) and (d) here; the result names
 * the two kernels' addresses for (b) and (c), in the table's header, the
 * JSON's `configs` and the plot's legend.
 *
 * Method. Each configuration has its own kernels, booted once and kept for
 * the whole run (on a cluster, (b) and (c) share its kernels and one client
 * connection to each), so that a measurement is a process's life only: from the
 * exec request to its exit, as the client sees it. The first run of each
 * configuration is a warm-up (V8 compiles the program on every core) and is
 * dropped. Then for every (threads, load) the configurations run one after
 * another, in rotating order, `reps` times; a figure is the median of its
 * runs. Migrations and bytes moved are counted from the kernels' migration
 * records: a migration's destination sends its record to every client that
 * watches it, so each kernel has one watching client here, or every record
 * would count once per client. Every run's output must equal (a)'s, or the
 * benchmark throws.
 *
 * Reported: a table (time, speedup over (a), migrations, bytes moved; a
 * note under it, and `note` in the row, where (c) moved no thread — one
 * thread has no half, and at a small load the threads can end before signal
 * 35 reaches them), each configuration's cores (on a cluster, as each
 * daemon says its own), JSON
 * (`speedup` = (a)/(b) at the largest load with the most threads), an SVG
 * plot of time against load per configuration, and the smallest load at
 * which (b) beats (a) — below it, migrating does not pay.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  EmbeddedKernels, RemoteKernel, SIGMIGRATE, mergePs, type ExitInfo, type MigrationRecord, type ProcessInfo, type Scheduler,
} from "../host/kernel/index.js";
import { kernelSpec, startLocalCluster } from "../host/cli/local-cluster.js";
import { stackmapBackends } from "../host/isa/index.js";
import { compile, packageRoot } from "../host/toolchain/index.js";
import { linePlot } from "./plot.js";
import { median, round } from "./stats.js";

export interface CountBenchOptions {
  threads?: number[];
  loads?: number[];
  reps?: number;
  /** the two kernels of (b) and (c) */
  kernels?: string[];
  /** the policy of (b): balance, or hetero (the default when a kernel runs under QEMU) */
  scheduler?: Scheduler;
  /** run (b) and (c) on this running cluster (popcorn kernel daemons): a kernel's address and the cluster's key */
  cluster?: { address: string; key: Uint8Array };
  json?: boolean;
  /** where count.json and count.svg go (default: build/bench) */
  out?: string;
  quick?: boolean;
  log?(line: string): void;
}

type ConfigName = "a" | "b" | "c" | "d";

interface Config {
  name: ConfigName;
  what: string;
  isas: string[];
  cores: number;
  scheduler?: Scheduler;
  /** move half the threads to kernel 1 with signal 35 once they run */
  signal35?: boolean;
  /** runs on these kernel daemons of a running cluster (--cluster), kernel 0 first */
  cluster?: string[];
  /** on a cluster, each kernel's cores as its daemon says them (undefined: a daemon from before ClusterInfo had cores) */
  kernelCores?: (number | undefined)[];
}

export interface CountRow {
  config: ConfigName;
  threads: number;
  load: number;
  ms: number;
  /** (a)'s time over this one's, same threads and load */
  speedup: number;
  migrations: number;
  bytesMoved: number;
  runs: number;
  /**
   * why (c) moved no thread here, when it did not: with one thread there is
   * no half to move; at a small load the threads end before signal 35
   * reaches them (ps has to see them first)
   */
  note?: string;
}

export interface CountResult {
  /**
   * `cores`: each kernel's cores. `cluster`: the addresses of the cluster's
   * kernels 0 and 1, for (b) and (c) with --cluster; `kernelCores` then says
   * each one's cores as its daemon told them (null for a daemon from before
   * ClusterInfo had cores), and `cores` is given only if both told the same
   */
  configs: { name: ConfigName; what: string; kernels: string[]; cores?: number; kernelCores?: (number | undefined)[]; cluster?: string[] }[];
  rows: CountRow[];
  /** (a)/(b) at the largest load with the most threads (≥ 2) */
  speedup: number;
  /** the smallest load from which on (b) is at least 1.1× faster than (a) for the most threads, if any */
  breakEvenLoad?: number;
  files: { json: string; svg: string };
}

const DEFAULT_THREADS = [1, 2, 4, 8];
/** a speedup that is not noise on a shared machine */
const PAYS = 1.1;
const DEFAULT_LOADS = [100_000, 1_000_000, 10_000_000, 100_000_000];

export async function benchCount(o: CountBenchOptions = {}): Promise<CountResult> {
  const log = o.log ?? (() => {});
  const threads = o.threads ?? (o.quick ? [1, 2] : DEFAULT_THREADS);
  const loads = o.loads ?? (o.quick ? [10_000, 1_000_000] : DEFAULT_LOADS);
  const reps = o.reps ?? (o.quick ? 1 : 3);
  const joined = o.cluster ? await clusterKernels(o.cluster) : undefined;
  const pair = joined?.map((k) => k.isa) ?? o.kernels ?? ["x86-64", "aarch64"];
  if (pair.length !== 2) throw new RangeError(`--kernels: the counting benchmark compares one kernel with two; give two ISAs, not ${pair.length}`);
  for (const e of pair) kernelSpec(e); // an unknown ISA is named before anything starts
  const scheduler = o.scheduler ?? (pair.some((e) => kernelSpec(e).qemu) ? "hetero" : "balance");
  const cluster = joined?.map((k) => k.address);
  const kernelCores = joined?.map((k) => k.cores);
  const two = cluster ? `2 kernels on cluster ${cluster.join(",")}` : "2 kernels";
  const configs: Config[] = [
    { name: "a", what: "1 kernel, 1 core", isas: [kernelSpec(pair[0]!).isa], cores: 1 },
    { name: "b", what: `${two}, scheduler ${scheduler}`, isas: pair, cores: 1, scheduler, cluster, kernelCores },
    { name: "c", what: `${two}, half moved by signal 35`, isas: pair, cores: 1, signal35: true, cluster, kernelCores },
    { name: "d", what: "1 kernel, 2 cores", isas: [kernelSpec(pair[0]!).isa], cores: 2 },
  ];

  log("compiling assembly/examples/count.ts");
  const wasm = (await compile(join(packageRoot(), "assembly/examples/count.ts"), { backends: stackmapBackends() })).wasm;

  const records = new Map<number, MigrationRecord[]>();
  const outputs = new Map<number, string[]>();
  const onOutput = (pid: number, stream: 1 | 2, line: string) => outputs.get(pid)?.push(`${stream}:${line}`);
  const onMigration = (m: MigrationRecord) => records.get(m.pid)?.push(m);
  // (b) and (c) on a cluster share its kernels, and so one client per kernel: each
  // client that watches hears every migration into its kernel, so a second set of
  // watching clients would report every record twice
  const onTheCluster = cluster ? onCluster(cluster, o.cluster!.key, onOutput, onMigration) : undefined;
  // every configuration's kernels boot at once; if one fails, those that did start are stopped before the error goes on
  const starting = await Promise.allSettled(
    configs.map(async (c) =>
      c.cluster && onTheCluster
        ? onTheCluster
        : c.isas.some((e) => kernelSpec(e).qemu)
          ? onDaemons(c.isas, onOutput, onMigration, log)
          : embedded(c.isas.map((e) => kernelSpec(e).isa), c.cores, onOutput, onMigration),
    ),
  );
  const failed = starting.find((s) => s.status === "rejected");
  if (failed) {
    const up = starting.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    await Promise.allSettled([...new Set(up)].map((k) => k.stop()));
    throw failed.reason;
  }
  const running = starting.map((s) => (s as PromiseFulfilledResult<Kernels>).value);

  /** One process's life on one configuration: ms, its output, its migrations. */
  async function runOnce(ci: number, n: number, load: number) {
    const c = configs[ci]!;
    const k = running[ci]!;
    const t0 = performance.now();
    const { pid, exited } = await k.exec(wasm, [String(n), String(load)], c.scheduler, (p) => {
      outputs.set(p, []);
      records.set(p, []);
    });
    if (c.signal35) {
      // the original experiment: once the threads run, kill -35 half of them
      void (async () => {
        for (let i = 0; i < 200; i++) {
          const ps = await k.ps();
          const mine = ps.filter((p) => p.pid === pid && p.tid > 0);
          if (mine.length >= n) {
            for (const p of mine.slice(Math.ceil(n / 2))) k.signal(pid, SIGMIGRATE, 1, p.tid);
            return;
          }
          if (!ps.some((p) => p.pid === pid)) return;
          await new Promise((r) => setTimeout(r, 1));
        }
      })();
    }
    const ex = await exited;
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 2)); // a destination's record may trail the exit
    const out = outputs.get(pid)!;
    const recs = records.get(pid)!;
    outputs.delete(pid);
    records.delete(pid);
    if (ex.status !== 0) throw new Error(`count on (${c.name}) ${n}×${load}: exit ${ex.status}${ex.error ? `: ${ex.error}` : ""}\n${out.join("\n")}`);
    return { ms, out: out.join("\n"), migrations: recs.length, bytes: recs.reduce((s, r) => s + r.messageBytes, 0) };
  }

  try {
    log("warm-up: one run per configuration");
    for (let ci = 0; ci < configs.length; ci++) await runOnce(ci, Math.max(...threads), Math.min(...loads));
    const samples = new Map<string, { ms: number[]; migrations: number[]; bytes: number[] }>();
    const total = threads.length * loads.length * reps * configs.length;
    let done = 0;
    for (const n of threads) {
      for (const load of loads) {
        let reference: string | undefined;
        for (let rep = 0; rep < reps; rep++) {
          for (let j = 0; j < configs.length; j++) {
            const ci = (j + rep) % configs.length; // rotating order
            const r = await runOnce(ci, n, load);
            if (ci === 0 || reference === undefined) reference ??= r.out;
            if (r.out !== reference) throw new Error(`count ${n}×${load}: (${configs[ci]!.name}) printed\n${r.out}\nbut the first run printed\n${reference}`);
            const key = `${configs[ci]!.name}:${n}:${load}`;
            const s = samples.get(key) ?? { ms: [], migrations: [], bytes: [] };
            s.ms.push(r.ms);
            s.migrations.push(r.migrations);
            s.bytes.push(r.bytes);
            samples.set(key, s);
            done++;
            log(`[${done}/${total}] (${configs[ci]!.name}) ${n} thread${n > 1 ? "s" : ""} × ${load}: ${r.ms.toFixed(1)} ms, ${r.migrations} migrations`);
          }
        }
      }
    }
    const rows: CountRow[] = [];
    for (const n of threads) {
      for (const load of loads) {
        const base = median(samples.get(`a:${n}:${load}`)!.ms);
        for (const c of configs) {
          const s = samples.get(`${c.name}:${n}:${load}`)!;
          const ms = median(s.ms);
          const migrations = Math.round(median(s.migrations));
          rows.push({
            config: c.name, threads: n, load, ms: round(ms, 2), speedup: round(base / ms, 3),
            migrations, bytesMoved: Math.round(median(s.bytes)), runs: s.ms.length,
            note: c.signal35 && migrations === 0 ? (n < 2 ? "with one thread there is no half to move" : "the threads ended before signal 35 reached them") : undefined,
          });
        }
      }
    }
    const most = Math.max(...threads.filter((n) => n >= 2), 0) || Math.max(...threads);
    const top = Math.max(...loads);
    const at = (c: ConfigName, n: number, load: number) => rows.find((r) => r.config === c && r.threads === n && r.load === load)!;
    const speedup = round(at("a", most, top).ms / at("b", most, top).ms, 3);
    // the smallest load from which on (b) is clearly faster than (a), at every larger load too
    const sorted = [...loads].sort((x, y) => x - y);
    const pays = (l: number) => at("b", most, l).speedup >= PAYS;
    const breakEvenLoad = sorted.find((l, i) => sorted.slice(i).every(pays));
    const dir = o.out ?? join(packageRoot(), "build", "bench");
    await mkdir(dir, { recursive: true });
    const files = { json: join(dir, "count.json"), svg: join(dir, "count.svg") };
    const result: CountResult = {
      configs: configs.map((c) => ({
        name: c.name, what: c.what, kernels: c.isas, cores: c.kernelCores ? sameCores(c.kernelCores) : c.cores, kernelCores: c.kernelCores, cluster: c.cluster,
      })),
      rows, speedup, breakEvenLoad, files,
    };
    await writeFile(files.json, JSON.stringify(result, null, 2));
    await writeFile(
      files.svg,
      linePlot(
        configs.map((c) => ({ name: `(${c.name}) ${c.what}`, points: rows.filter((r) => r.config === c.name && r.threads === most).map((r) => [r.load, r.ms] as [number, number]) })),
        { title: `count: ${most} threads, time against load per thread`, xLabel: "load per thread (iterations)", yLabel: "time (ms)", logX: true, logY: true },
      ),
    );
    if (o.json) process.stdout.write(JSON.stringify(result) + "\n");
    else process.stdout.write(formatCount(result));
    return result;
  } finally {
    await Promise.all([...new Set(running)].map((k) => k.stop()));
  }
}

/** What the benchmark needs of a set of kernels, embedded (worker threads) or daemons (cluster mode). */
interface Kernels {
  /** `started` runs before any output or record of the process can arrive */
  exec(bytes: Uint8Array, args: string[], scheduler: Scheduler | undefined, started: (pid: number) => void): Promise<{ pid: number; exited: Promise<ExitInfo> }>;
  ps(): Promise<ProcessInfo[]>;
  signal(pid: number, signo: number, to: number, tid: number): void;
  stop(): Promise<void>;
}

type OnOutput = (pid: number, stream: 1 | 2, line: string) => void;

async function embedded(isas: string[], cores: number, onOutput: OnOutput, onMigration: (m: MigrationRecord) => void): Promise<Kernels> {
  const k = await EmbeddedKernels.start({ isas, cores, onOutput, onMigration });
  return {
    exec: async (bytes, args, scheduler, started) => {
      const r = k.exec(bytes, "count.wasm", args, { scheduler });
      started(r.pid); // embedded pids are chosen here, before the kernel runs anything
      return r;
    },
    ps: () => k.ps(),
    signal: (pid, signo, to, tid) => void k.signal(pid, signo, to, tid),
    stop: () => k.stop(),
  };
}

/**
 * The first two kernels of a running cluster, which must both be up, with
 * their cores: a daemon knows its own cores but not its peers' (a peer's
 * handshake says its ISA and arch only), so each is asked for its own.
 */
async function clusterKernels(c: { address: string; key: Uint8Array }): Promise<{ address: string; isa: string; cores?: number }[]> {
  const k = await RemoteKernel.connect(c.address, c.key);
  try {
    const info = await k.cluster();
    // the scheduler places threads on every kernel of the cluster: on three, (b) and (c) were not two kernels
    if (info.kernels.length !== 2) {
      throw new RangeError(
        `--cluster ${c.address}: the counting benchmark compares one kernel with two, and this cluster has ${info.kernels.length} ` +
          `(its scheduler would use them all) — run it on a cluster of two kernels`,
      );
    }
    const two = info.kernels.filter((x) => x.id < 2);
    if (two.length < 2 || two.some((x) => !x.up)) throw new RangeError(`--cluster ${c.address}: the counting benchmark needs kernels 0 and 1 up (${info.kernels.map((x) => `${x.id} ${x.up ? "up" : "DOWN"}`).join(", ")})`);
    const ownCores = async (x: (typeof two)[number]): Promise<number | undefined> => {
      if (x.cores !== undefined || x.id === info.self) return x.cores;
      const peer = await RemoteKernel.connect(x.address, c.key);
      try {
        const its = await peer.cluster();
        return its.kernels.find((y) => y.id === its.self)?.cores;
      } finally {
        peer.close();
      }
    };
    return Promise.all(two.sort((a, b) => a.id - b.id).map(async (x) => ({ address: x.address, isa: x.isa, cores: await ownCores(x) })));
  } finally {
    k.close();
  }
}

/** The cores of each of a cluster's kernels, if they all said the same. */
const sameCores = (cores: (number | undefined)[]): number | undefined => (cores.every((n) => n === cores[0]) ? cores[0] : undefined);

const coresText = (n: number) => `${n} core${n > 1 ? "s" : ""}`;

/** A configuration's cores, for its line in the table. */
function describeCores(c: CountResult["configs"][number]): string {
  const each = c.kernels.length > 1 ? " each" : "";
  if (c.cores !== undefined) return coresText(c.cores) + each;
  if (!c.kernelCores?.some((n) => n !== undefined)) return "cores as the daemons were started with";
  const unknown = c.kernelCores.some((n) => n === undefined) ? " (a daemon from before cluster info had cores)" : "";
  return c.kernelCores.map((n, id) => (n === undefined ? `kernel ${id}'s not known` : `${coresText(n)} on kernel ${id}`)).join(", ") + unknown;
}

/** Kernel daemons on loopback (one per entry; `<isa>@qemu` under QEMU), one client connection to each. */
async function onDaemons(entries: string[], onOutput: OnOutput, onMigration: (m: MigrationRecord) => void, log: (l: string) => void): Promise<Kernels> {
  log(`starting kernel daemons ${entries.join(", ")} (one under QEMU takes a few seconds)`);
  const cluster = await startLocalCluster(entries);
  const k = await onCluster(cluster.addresses, cluster.key, onOutput, onMigration);
  return { ...k, stop: async () => (await k.stop(), cluster.stop()) };
}

/** A client connection to each kernel of a cluster; processes start on the first. */
async function onCluster(addresses: string[], key: Uint8Array, onOutput: OnOutput, onMigration: (m: MigrationRecord) => void): Promise<Kernels> {
  const clients = await Promise.all(addresses.map((a) => RemoteKernel.connect(a, key)));
  // output comes through the origin (kernel 0); a migration is recorded by its destination
  const early = new Map<number, [1 | 2, string][]>();
  let known: ((pid: number) => boolean) | undefined;
  clients[0]!.onOutput = (pid, stream, line) => (known?.(pid) ? onOutput(pid, stream, line) : early.set(pid, [...(early.get(pid) ?? []), [stream, line]]));
  for (const c of clients) {
    c.onMigration = onMigration;
    c.watch();
  }
  const started = new Set<number>();
  known = (pid) => started.has(pid);
  return {
    exec: async (bytes, args, scheduler, onStart) => {
      const r = await clients[0]!.exec(bytes, "count.wasm", args, undefined, scheduler);
      onStart(r.pid);
      started.add(r.pid);
      for (const [stream, line] of early.get(r.pid) ?? []) onOutput(r.pid, stream, line);
      early.delete(r.pid);
      return r;
    },
    ps: async () => mergePs((await Promise.all(clients.map((c) => c.ps()))).flat()),
    signal: (pid, signo, to, tid) => clients[0]!.signal(pid, signo, to, tid),
    stop: async () => {
      for (const c of clients) c.close();
    },
  };
}

export function formatCount(r: CountResult): string {
  const lines = ["configurations:"];
  for (const c of r.configs) lines.push(`  (${c.name}) ${c.what}: kernels ${c.kernels.join(",")}, ${describeCores(c)}`);
  lines.push("", "config  threads         load      time ms  speedup  migrations  moved");
  for (const row of r.rows) {
    lines.push(
      `(${row.config})     ${String(row.threads).padStart(7)} ${String(row.load).padStart(12)} ${row.ms.toFixed(1).padStart(12)} ${row.speedup.toFixed(2).padStart(8)} ${String(row.migrations).padStart(11)}  ${(row.bytesMoved / 1024).toFixed(1)} KiB`,
    );
  }
  // a (c) that moved nothing is not a (c) measurement: say so, under the rows
  const notes = r.rows.filter((row) => row.note).map((row) => `(${row.config}) moved no thread at ${row.threads} thread${row.threads > 1 ? "s" : ""} × load ${row.load}: ${row.note}`);
  if (notes.length) lines.push("", ...notes);
  lines.push(
    "",
    `speedup (a)/(b) at the largest load, most threads: ×${r.speedup.toFixed(2)}`,
    r.breakEvenLoad === undefined
      ? "(b) never beat (a) by 10% at the largest loads: at these loads migrating does not pay"
      : `migrating pays from a load of ${r.breakEvenLoad} iterations per thread on (the smallest load from which (b) beats (a) by 10% or more)`,
    `wrote ${r.files.json} and ${r.files.svg}`,
    "",
  );
  return lines.join("\n");
}
