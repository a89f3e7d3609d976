// popcorn bench count --cluster: (b) and (c) on two `popcorn kernel` daemons
// (here on loopback). Each migration is counted once, as in a local run of
// the same case, and the result says that (b) and (c) ran on the cluster, and
// where, with the cores each daemon says it has.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackCluster, type LoopbackCluster } from "../../bench/cluster.js";
import { benchCount, formatCount, type CountResult } from "../../bench/count.js";

const out = mkdtempSync(join(tmpdir(), "popcorn-bench-count-cluster-"));
let cluster: LoopbackCluster | undefined;
let r: CountResult;
let local: CountResult;

beforeAll(async () => {
  cluster = await loopbackCluster();
  // 2 and 4 threads: signal 35 moves 1 and 2 of them; the load keeps them running until it arrives
  const o = { threads: [2, 4], loads: [30_000_000], reps: 1, json: true };
  r = await benchCount({ ...o, out, cluster: { address: cluster.addresses[0]!, key: cluster.key } });
  local = await benchCount({ ...o, out: join(out, "local") });
}, 300_000);

afterAll(() => {
  cluster?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe("bench count --cluster", () => {
  it("counts each migration of (c) once: half the threads moved by signal 35, one record each", () => {
    const c = (n: number) => r.rows.find((x) => x.config === "c" && x.threads === n)!;
    expect(c(2).migrations).toBe(1);
    expect(c(4).migrations).toBe(2);
    // one thread's message is a few KiB: two of them are about twice one, not four times
    expect(c(4).bytesMoved / c(2).bytesMoved).toBeGreaterThan(1.5);
    expect(c(4).bytesMoved / c(2).bytesMoved).toBeLessThan(2.5);
  });

  it("reports the migrations and bytes of (c) as a local run does", () => {
    for (const n of [2, 4]) {
      const [there, here] = [r, local].map((x) => x.rows.find((y) => y.config === "c" && y.threads === n)!);
      expect(there!.migrations).toBe(here!.migrations);
      expect(there!.bytesMoved / here!.bytesMoved).toBeGreaterThan(0.75);
      expect(there!.bytesMoved / here!.bytesMoved).toBeLessThan(1.33);
    }
  });

  it("records the cluster's addresses for (b) and (c) in the configurations, the JSON, the table and the plot", () => {
    const addresses = cluster!.addresses;
    // the daemons were started with one core each, and each says so when asked
    expect(r.configs.map((x) => x.cores)).toEqual([1, 1, 1, 2]);
    expect(r.configs.map((x) => x.kernelCores)).toEqual([undefined, [1, 1], [1, 1], undefined]);
    expect(r.configs.map((x) => x.cluster)).toEqual([undefined, addresses, addresses, undefined]);
    const json = JSON.parse(readFileSync(r.files.json, "utf8")) as CountResult;
    expect(json.configs[1]!.cluster).toEqual(addresses);
    expect(json.configs[2]!.cluster).toEqual(addresses);
    const table = formatCount(r).split("\n");
    for (const name of ["b", "c"]) {
      const line = table.find((l) => l.startsWith(`  (${name})`))!;
      expect(line).toContain(`(${name}) 2 kernels on cluster ${addresses.join(",")}, `);
      expect(line).toMatch(/: kernels x86-64,aarch64, 1 core each$/);
    }
    for (const name of ["a", "d"]) expect(table.find((l) => l.startsWith(`  (${name})`))).not.toContain("cluster");
    const svg = readFileSync(r.files.svg, "utf8");
    expect(svg).toContain(`cluster ${addresses.join(",")}`);
  });
});

it("refuses a cluster of three kernels, whose scheduler would use them all: (b) and (c) compare one kernel with two", async () => {
  const three = await loopbackCluster(["x86-64", "aarch64", "x86-64"]);
  try {
    await expect(benchCount({ threads: [2], loads: [1_000_000], reps: 1, json: true, out: join(out, "three"), cluster: { address: three.addresses[0]!, key: three.key } })).rejects.toThrow(
      /compares one kernel with two, and this cluster has 3/,
    );
  } finally {
    three.stop();
  }
}, 120_000);

