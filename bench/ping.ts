/**
 * `popcorn ping`: message round trips between two kernels, over the local
 * transport (kernels as worker threads of this process) or TCP (two
 * `popcorn kernel` daemons on loopback), against the floor of the same
 * medium measured in the same run:
 *
 *   local  a SharedArrayBuffer spin round trip between two threads: the
 *          fastest any two threads here can exchange a word
 *   tcp    a raw Node TCP echo on loopback (Nagle off), no framing, no
 *          authentication, no MessagePack
 *
 * Kernel 0 sends pings of `size` payload bytes to kernel 1, one at a time;
 * kernel 1 answers each with a pong of the same payload. The kernels and the
 * floor take turns, in BLOCKS blocks of count/BLOCKS round trips each, after
 * one warm-up block of each that is dropped: on a shared machine whose load
 * comes and goes, both series see the same moments (measured before: the
 * floor run after the kernels' series swung from 33 to 80 µs between runs,
 * and the ratio with it). Bandwidth is payload bytes both ways over the
 * time of the kept blocks.
 *
 * A floor is only a floor while its threads run. On a machine busier than
 * its cores, the spinning thread of the local floor is descheduled for a
 * scheduler tick on every round trip, and a block of them measures the
 * tick: 16,000 µs instead of 0.2–0.3 (seen twice, `--count 200` on a
 * heavily loaded machine: "ratio 0.01× the floor"). So after the blocks:
 *
 *   best = the smallest median of a floor block
 *   a floor block whose median > IMPLAUSIBLE (100) × best is measured again,
 *     up to REMEASURE (3) times; one that stays so is dropped from the floor
 *   floorSuspect, with floorSuspectReason, when a block was dropped, or when
 *     the floor's p50 is above the kernels' (ratio < 1: every block was
 *     descheduled alike, which the first rule cannot see)
 *
 * A suspect floor is printed with a warning line after the ratio.
 *
 * `--cluster <addr>`: the round trips between the kernel daemon at that
 * address and the next kernel of its cluster that is up — two machines'
 * real link. No floor is measured then (a raw echo would need a server on
 * the far machine): floorP50us and ratio are left out.
 */
import { createConnection, type Socket } from "node:net";
import { freePort } from "../host/cli/local-cluster.js";
import { Worker } from "node:worker_threads";
import { type ClusterInfo, EmbeddedKernels, RemoteKernel } from "../host/kernel/index.js";
import { loopbackCluster } from "./cluster.js";
import { median, quantile, round } from "./stats.js";

export interface PingOptions {
  transport: "local" | "tcp";
  /** a running cluster instead of kernels started here: the kernel daemon at `address` pings the next one that is up */
  cluster?: { address: string; key: Uint8Array };
  size: number;
  count: number;
  json?: boolean;
  log?(line: string): void;
}

export interface PingReport {
  transport: string;
  size: number;
  count: number;
  p50us: number;
  p99us: number;
  /** no floor on a cluster (the header) */
  floorP50us?: number;
  floor: string;
  ratio?: number;
  bandwidthMBps: number;
  floorBandwidthMBps?: number;
  /** floor blocks measured again because their median was implausible (the header) */
  floorRemeasured: number;
  /** the floor is not to be trusted: a block stayed implausible and was dropped, or ratio < 1 */
  floorSuspect: boolean;
  floorSuspectReason?: string;
}

/** Blocks per series (after one warm-up block): the kernels and the floor alternate. */
const BLOCKS = 10;
/** A floor block whose median is more than this many times the best block's measured a descheduled thread (the header). */
export const IMPLAUSIBLE = 100;
/** How many times an implausible floor block is measured again before it is dropped. */
const REMEASURE = 3;

/**
 * The blocks, by index, whose median round trip is more than `factor` times
 * the smallest (positive) block median: the blocks in which the floor's
 * threads were descheduled rather than running.
 */
export function implausibleBlocks(medians: readonly number[], factor = IMPLAUSIBLE): number[] {
  const positive = medians.filter((m) => m > 0);
  if (positive.length === 0) return [];
  const best = Math.min(...positive);
  return medians.flatMap((m, i) => (m > factor * best ? [i] : []));
}

/** Why a floor is suspect (the header), or undefined when it is not. */
export function floorSuspicion(f: { p50us: number; floorP50us: number; blocks: number; dropped: number[] }): string | undefined {
  const why: string[] = [];
  if (f.dropped.length) {
    why.push(
      `${f.dropped.length} of ${f.blocks} floor blocks (medians ${f.dropped.map((m) => `${round(m, 2)} µs`).join(", ")}) stayed above ${IMPLAUSIBLE}× ` +
        `the best block's median when measured again (up to ${REMEASURE} times) and were left out: the floor's threads were descheduled`,
    );
  }
  if (f.floorP50us > f.p50us) {
    why.push(`the floor's p50 (${f.floorP50us} µs) is above the kernels' (${f.p50us} µs), which a floor cannot be: its threads were descheduled, the machine is busier than its cores`);
  }
  return why.length ? why.join("; ") : undefined;
}

/** What takes turns: the kernels, or the floor. `run` makes `count` round trips. */
interface Medium {
  run(count: number): Promise<Series>;
  close(): Promise<void>;
}

/** Round trips, and their total time (for bandwidth). */
interface Series {
  rttUs: number[];
  totalMs: number;
  error?: string;
}

export async function benchPing(o: PingOptions): Promise<PingReport> {
  const log = o.log ?? (() => {});
  if (o.cluster) return pingCluster(o, o.cluster, log);
  log(`${o.transport}: ${o.count} pings of ${o.size} bytes between two kernels, and as many on the floor, in ${BLOCKS} alternating blocks`);
  const kernels = o.transport === "local" ? await localKernels(o.size) : await tcpKernels(o.size);
  const blocks = { kernels: [] as Series[], floor: [] as Series[] };
  let floorRemeasured = 0;
  let dropped: number[] = [];
  const run = async (medium: Medium, n: number) => {
    const r = await medium.run(n);
    if (r.error) throw new Error(`ping: ${r.error}`);
    return r;
  };
  try {
    const floor = o.transport === "local" ? await spinFloor() : await tcpFloor(o.size);
    try {
      const per = Math.max(1, Math.ceil(o.count / BLOCKS));
      for (let b = -1; b < BLOCKS; b++) {
        for (const [name, medium] of [["kernels", kernels], ["floor", floor]] as const) {
          const r = await run(medium, b < 0 ? Math.max(1, Math.ceil(per / 2)) : per);
          if (b >= 0) blocks[name].push(r); // else the warm-up
        }
      }
      const floorMedians = () => blocks.floor.map((s) => median(s.rttUs));
      for (let again = 0; again < REMEASURE; again++) {
        const medians = floorMedians();
        const bad = implausibleBlocks(medians);
        if (!bad.length) break;
        const best = Math.min(...medians);
        for (const i of bad) {
          log(`floor block ${i + 1}: median ${round(medians[i]!, 2)} µs, over ${IMPLAUSIBLE}× the best block's ${round(best, 2)} µs (its thread was descheduled): measuring it again`);
          blocks.floor[i] = await run(floor, per);
          floorRemeasured++;
        }
      }
      const medians = floorMedians();
      const bad = implausibleBlocks(medians);
      dropped = bad.map((i) => medians[i]!);
      blocks.floor = blocks.floor.filter((_, i) => !bad.includes(i));
    } finally {
      await floor.close();
    }
  } finally {
    await kernels.close();
  }
  const pool = (ss: Series[]): Series => ({ rttUs: ss.flatMap((s) => s.rttUs), totalMs: ss.reduce((t, s) => t + s.totalMs, 0) });
  const kept = { kernels: pool(blocks.kernels), floor: pool(blocks.floor) };
  const bandwidth = (s: Series) => round((2 * o.size * s.rttUs.length) / (s.totalMs / 1000) / 1e6, 1);
  const report: PingReport = {
    transport: o.transport,
    size: o.size,
    count: kept.kernels.rttUs.length,
    p50us: round(median(kept.kernels.rttUs), 2),
    p99us: round(quantile(kept.kernels.rttUs, 0.99), 2),
    floorP50us: round(median(kept.floor.rttUs), 2),
    floor: o.transport === "local" ? "SharedArrayBuffer spin round trip between two threads" : "raw Node TCP echo on loopback, Nagle off",
    ratio: 0,
    bandwidthMBps: bandwidth(kept.kernels),
    floorBandwidthMBps: o.transport === "tcp" ? bandwidth(kept.floor) : undefined,
    floorRemeasured,
    floorSuspect: false,
  };
  report.ratio = round(report.p50us / report.floorP50us!, 2);
  report.floorSuspectReason = floorSuspicion({ p50us: report.p50us, floorP50us: report.floorP50us!, blocks: BLOCKS, dropped });
  report.floorSuspect = report.floorSuspectReason !== undefined;
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(
      `${report.transport} transport, ${o.size} B payload, ${report.count} round trips: p50 ${report.p50us} µs, p99 ${report.p99us} µs, ` +
        `${report.bandwidthMBps} MB/s\nfloor (${report.floor}): p50 ${report.floorP50us} µs${report.floorBandwidthMBps !== undefined ? `, ${report.floorBandwidthMBps} MB/s` : ""}\n` +
        `ratio ${report.ratio}× the floor\n` +
        (report.floorSuspect ? `warning: the floor is suspect, and the ratio with it: ${report.floorSuspectReason}\n` : ""),
    );
  }
  return report;
}

/** `ping --cluster`: the addressed kernel pings the next kernel of its cluster that is up, in BLOCKS blocks after a warm-up; no floor (the header). */
async function pingCluster(o: PingOptions, c: { address: string; key: Uint8Array }, log: (line: string) => void): Promise<PingReport> {
  const k = await RemoteKernel.connect(c.address, c.key);
  const series: Series[] = [];
  let to: ClusterInfo["kernels"][number] | undefined;
  try {
    const info = await k.cluster();
    const others = info.kernels.filter((p) => p.up && p.id !== info.self);
    to = others.find((p) => p.id > info.self) ?? others[0];
    if (!to) throw new Error(`ping: kernel ${info.self} at ${c.address} has no peer that is up — start the others of its --peers list`);
    log(`cluster: ${o.count} pings of ${o.size} bytes from kernel ${info.self} (${c.address}) to kernel ${to.id} (${to.address}), in ${BLOCKS} blocks; no floor is measured on a cluster`);
    const per = Math.max(1, Math.ceil(o.count / BLOCKS));
    for (let b = -1; b < BLOCKS; b++) {
      const r = await k.ping(to.id, o.size, b < 0 ? Math.max(1, Math.ceil(per / 2)) : per);
      if (r.error) throw new Error(`ping: ${r.error}`);
      if (b >= 0) series.push(r);
    }
  } finally {
    k.close();
  }
  const rttUs = series.flatMap((s) => s.rttUs);
  const totalMs = series.reduce((t, s) => t + s.totalMs, 0);
  const report: PingReport = {
    transport: "tcp",
    size: o.size,
    count: rttUs.length,
    p50us: round(median(rttUs), 2),
    p99us: round(quantile(rttUs, 0.99), 2),
    floor: `none: a running cluster, kernel ${c.address} to kernel ${to.id} at ${to.address}`,
    bandwidthMBps: round((2 * o.size * rttUs.length) / (totalMs / 1000) / 1e6, 1),
    floorRemeasured: 0,
    floorSuspect: false,
  };
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(
      `cluster ${c.address} → ${to.address}, ${o.size} B payload, ${report.count} round trips: p50 ${report.p50us} µs, p99 ${report.p99us} µs, ${report.bandwidthMBps} MB/s\n`,
    );
  }
  return report;
}

/** Two kernels as worker threads of this process; kernel 0 pings kernel 1. */
async function localKernels(size: number): Promise<Medium> {
  const kernels = await EmbeddedKernels.start({ isas: ["x86-64", "aarch64"] });
  return { run: (n) => kernels.ping(0, 1, size, n), close: () => kernels.stop() };
}

/** Two kernel daemons on loopback; kernel 0 pings kernel 1. */
async function tcpKernels(size: number): Promise<Medium> {
  const cluster = await loopbackCluster();
  let k: RemoteKernel;
  try {
    k = await RemoteKernel.connect(cluster.addresses[0]!, cluster.key);
  } catch (e) {
    cluster.stop();
    throw e;
  }
  return {
    run: (n) => k.ping(1, size, n),
    close: async () => {
      k.close();
      cluster.stop();
    },
  };
}

/**
 * Round trips through one shared word, both threads spinning. Between
 * blocks the echoing thread sleeps in Atomics.wait, so that it does not
 * spin while the kernels take their turn.
 *
 *   word 0  the round trip counter: odd, a ping; even, its echo
 *   word 1  round trips left in the block (0: asleep; -1: exit)
 */
async function spinFloor(): Promise<Medium> {
  const sab = new SharedArrayBuffer(8);
  const a = new Int32Array(sab);
  const w = new Worker(
    `const { workerData } = require("node:worker_threads");
     const a = new Int32Array(workerData.sab);
     for (;;) {
       Atomics.wait(a, 1, 0);
       const n = Atomics.load(a, 1);
       if (n < 0) break;
       for (let i = 0; i < n; i++) { while (Atomics.load(a, 0) % 2 === 0) {} Atomics.add(a, 0, 1); }
       Atomics.store(a, 1, 0);
     }`,
    { eval: true, workerData: { sab } },
  );
  await new Promise((r) => w.once("online", r));
  return {
    async run(n) {
      Atomics.store(a, 1, n);
      Atomics.notify(a, 1);
      const rttUs: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        const v = Atomics.add(a, 0, 1) + 1; // odd: a ping
        while (Atomics.load(a, 0) === v) {}
        rttUs.push((performance.now() - s) * 1000);
      }
      const totalMs = performance.now() - t0;
      while (Atomics.load(a, 1) !== 0) {} // the echoing thread is back to sleep
      return { rttUs, totalMs };
    },
    async close() {
      Atomics.store(a, 1, -1);
      Atomics.notify(a, 1);
      await w.terminate();
    },
  };
}

/** A raw TCP echo: a server in a worker thread, this thread the client, one connection for every block. */
async function tcpFloor(size: number): Promise<Medium> {
  const port = await freePort();
  const w = new Worker(
    `const net = require("node:net"); const { workerData, parentPort } = require("node:worker_threads");
     const s = net.createServer((c) => { c.setNoDelay(true); c.on("data", (d) => c.write(d)); });
     s.listen(workerData.port, "127.0.0.1", () => parentPort.postMessage("up"));`,
    { eval: true, workerData: { port } },
  );
  await new Promise((r) => w.once("message", r));
  const sock: Socket = createConnection({ port, host: "127.0.0.1" });
  sock.setNoDelay(true);
  await new Promise((r) => sock.once("connect", r));
  const payload = Buffer.alloc(Math.max(size, 1));
  return {
    async run(n) {
      const rttUs: number[] = [];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = performance.now();
        await new Promise<void>((resolve) => {
          let got = 0;
          const on = (d: Buffer) => {
            got += d.length;
            if (got >= payload.length) {
              sock.off("data", on);
              resolve();
            }
          };
          sock.on("data", on);
          sock.write(payload);
        });
        rttUs.push((performance.now() - s) * 1000);
      }
      return { rttUs, totalMs: performance.now() - t0 };
    },
    async close() {
      sock.destroy();
      await w.terminate();
    },
  };
}
