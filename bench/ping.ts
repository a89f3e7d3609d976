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
 * Kernel 0 sends `count` pings of `size` payload bytes to kernel 1, one at a
 * time; kernel 1 answers each with a pong of the same payload. The first
 * fifth of both series is warm-up and dropped. Bandwidth is payload bytes
 * both ways over the time of the series.
 */
import { createConnection, type Socket } from "node:net";
import { freePort } from "../host/cli/local-cluster.js";
import { Worker } from "node:worker_threads";
import { EmbeddedKernels, RemoteKernel, type PingResult } from "../host/kernel/index.js";
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

const kept = (xs: number[]) => xs.slice(Math.floor(xs.length / 5));

export async function benchPing(o: PingOptions): Promise<PingReport> {
  const log = o.log ?? (() => {});
  log(`${o.transport}: ${o.count} pings of ${o.size} bytes between two kernels`);
  const r = o.transport === "local" ? await pingLocal(o) : await pingTcp(o);
  if (r.error) throw new Error(`ping: ${r.error}`);
  log(`${o.transport}: the floor`);
  const floor = o.transport === "local" ? await spinFloor(o.count) : await tcpFloor(o.size, o.count);
  const rtt = kept(r.rttUs);
  const report: PingReport = {
    transport: o.transport,
    size: o.size,
    count: o.count,
    p50us: round(median(rtt), 2),
    p99us: round(quantile(rtt, 0.99), 2),
    floorP50us: round(median(kept(floor.rttUs)), 2),
    floor: o.transport === "local" ? "SharedArrayBuffer spin round trip between two threads" : "raw Node TCP echo on loopback, Nagle off",
    ratio: 0,
    bandwidthMBps: round((2 * o.size * r.rttUs.length) / (r.totalMs / 1000) / 1e6, 1),
    floorBandwidthMBps: floor.totalMs ? round((2 * o.size * floor.rttUs.length) / (floor.totalMs / 1000) / 1e6, 1) : undefined,
  };
  report.ratio = round(report.p50us / report.floorP50us, 2);
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else {
    process.stdout.write(
      `${report.transport} transport, ${o.size} B payload, ${o.count} round trips: p50 ${report.p50us} µs, p99 ${report.p99us} µs, ` +
        `${report.bandwidthMBps} MB/s\nfloor (${report.floor}): p50 ${report.floorP50us} µs${report.floorBandwidthMBps !== undefined ? `, ${report.floorBandwidthMBps} MB/s` : ""}\n` +
        `ratio ${report.ratio}× the floor\n`,
    );
  }
  return report;
}

async function pingLocal(o: PingOptions): Promise<PingResult> {
  const kernels = await EmbeddedKernels.start({ isas: ["x86-64", "aarch64"] });
  try {
    return await kernels.ping(0, 1, o.size, o.count);
  } finally {
    await kernels.stop();
  }
}

/** Two kernel daemons on loopback; ping from kernel 0 to kernel 1. */
async function pingTcp(o: PingOptions): Promise<PingResult> {
  const cluster = await loopbackCluster();
  try {
    const k = await RemoteKernel.connect(cluster.addresses[0]!, cluster.key);
    try {
      return await k.ping(1, o.size, o.count);
    } finally {
      k.close();
    }
  } finally {
    cluster.stop();
  }
}

/** A floor's round trips; `totalMs` when it carries a payload (for bandwidth). */
interface Floor {
  rttUs: number[];
  totalMs?: number;
}

/** Round trips through one shared word, both threads spinning. */
async function spinFloor(count: number): Promise<Floor> {
  const sab = new SharedArrayBuffer(8);
  const w = new Worker(
    `const { workerData } = require("node:worker_threads");
     const a = new Int32Array(workerData.sab);
     for (let i = 1; i <= workerData.count; i++) { while (Atomics.load(a, 0) !== 2 * i - 1) {} Atomics.store(a, 0, 2 * i); }`,
    { eval: true, workerData: { sab, count } },
  );
  const a = new Int32Array(sab);
  await new Promise((r) => setTimeout(r, 50));
  const rttUs: number[] = [];
  for (let i = 1; i <= count; i++) {
    const s = performance.now();
    Atomics.store(a, 0, 2 * i - 1);
    while (Atomics.load(a, 0) !== 2 * i) {}
    rttUs.push((performance.now() - s) * 1000);
  }
  await w.terminate();
  return { rttUs };
}

/** A raw TCP echo: a server in a worker thread, this thread the client. */
async function tcpFloor(size: number, count: number): Promise<Floor> {
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
  const rttUs: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
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
  const totalMs = performance.now() - t0;
  sock.destroy();
  await w.terminate();
  return { rttUs, totalMs };
}
