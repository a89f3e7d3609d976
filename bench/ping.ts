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
 */
import { createConnection, type Socket } from "node:net";
import { freePort } from "../host/cli/local-cluster.js";
import { Worker } from "node:worker_threads";
import { EmbeddedKernels, RemoteKernel } from "../host/kernel/index.js";
import { loopbackCluster } from "./cluster.js";
import { median, quantile, round } from "./stats.js";

export interface PingOptions {
  transport: "local" | "tcp";
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
  floorP50us: number;
  floor: string;
  ratio: number;
  bandwidthMBps: number;
  floorBandwidthMBps?: number;
}

/** Blocks per series (after one warm-up block): the kernels and the floor alternate. */
const BLOCKS = 10;

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
  log(`${o.transport}: ${o.count} pings of ${o.size} bytes between two kernels, and as many on the floor, in ${BLOCKS} alternating blocks`);
  const kernels = o.transport === "local" ? await localKernels(o.size) : await tcpKernels(o.size);
  const kept = { kernels: { rttUs: [] as number[], totalMs: 0 }, floor: { rttUs: [] as number[], totalMs: 0 } };
  try {
    const floor = o.transport === "local" ? await spinFloor() : await tcpFloor(o.size);
    try {
      const per = Math.max(1, Math.ceil(o.count / BLOCKS));
      for (let b = -1; b < BLOCKS; b++) {
        for (const [name, medium] of [["kernels", kernels], ["floor", floor]] as const) {
          const r = await medium.run(b < 0 ? Math.max(1, Math.ceil(per / 2)) : per);
          if (r.error) throw new Error(`ping: ${r.error}`);
          if (b < 0) continue; // warm-up
          kept[name].rttUs.push(...r.rttUs);
          kept[name].totalMs += r.totalMs;
        }
      }
    } finally {
      await floor.close();
    }
  } finally {
    await kernels.close();
  }
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
  };
  report.ratio = round(report.p50us / report.floorP50us, 2);
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(
      `${report.transport} transport, ${o.size} B payload, ${report.count} round trips: p50 ${report.p50us} µs, p99 ${report.p99us} µs, ` +
        `${report.bandwidthMBps} MB/s\nfloor (${report.floor}): p50 ${report.floorP50us} µs${report.floorBandwidthMBps !== undefined ? `, ${report.floorBandwidthMBps} MB/s` : ""}\n` +
        `ratio ${report.ratio}× the floor\n`,
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
