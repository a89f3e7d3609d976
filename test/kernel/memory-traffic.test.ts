// The memory a process moves between kernels, as each kernel's dmesg counts
// it when the process ends ("memory traffic on this kernel", the MEM IN and
// MEM OUT of ps): what comes into a kernel is what another sent out, and
// every kernel the process touched says so in the log the run collects.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedKernels, type Scheduler } from "../../host/kernel/index.js";
import { compileExample } from "../helpers.js";

let kernels: EmbeddedKernels;
beforeAll(async () => {
  kernels = await EmbeddedKernels.start({ isas: ["x86-64", "aarch64"], cores: 1 });
});
afterAll(() => kernels?.stop());

/** Per kernel, the "memory traffic on this kernel" line of process `pid` in `log`. */
function traffic(log: string[], pid: number): Map<number, { in: number; out: number }> {
  const by = new Map<number, { in: number; out: number }>();
  for (const l of log) {
    const m = new RegExp(`kernel (\\d+) \\(.*\\): pid ${pid} memory traffic on this kernel: (\\d+) B in, (\\d+) B out`).exec(l);
    if (m) by.set(Number(m[1]), { in: Number(m[2]), out: Number(m[3]) });
  }
  return by;
}

async function run(name: string, args: string[], o: { schedule?: number[]; scheduler?: Scheduler; settle?: number } = {}) {
  const c = await compileExample(name);
  const { pid, exited } = kernels.exec(c.wasm, name, args, { schedule: o.schedule, scheduler: o.scheduler });
  const ex = await exited;
  if (o.settle) await new Promise((r) => setTimeout(r, o.settle));
  return { ...ex, pid, log: await kernels.dmesg() };
}

describe("memory traffic per kernel", () => {
  it("counts the pages sent ahead of a migration once: out on the origin, in on the destination", async () => {
    const r = await run("fib", ["10", "5"], { schedule: [60], settle: 50 });
    expect(r.status).toBe(0);
    const sent = Number(/pid \d+ migrating to kernel 1 \(aarch64\): \d+ frames, memory (\d+) B/.exec(r.log.join("\n"))?.[1]);
    expect(sent).toBeGreaterThan(0);
    expect(Object.fromEntries(traffic(r.log, r.pid))).toEqual({ 0: { in: 0, out: sent }, 1: { in: sent, out: 0 } });
  });

  // there and back (pages, then a release), threads placed and moved by the scheduler (pages ahead of spawns
  // and moves, syscalls' releases and their answers' pages), a producer and consumer that synchronize all along
  const cases: [string, string[], { schedule?: number[]; scheduler?: Scheduler }][] = [
    ["fib", ["10", "5"], { schedule: [60, 5] }],
    ["count", ["4", "20000000"], { scheduler: "balance" }],
    ["prodcons", ["300"], { scheduler: "balance" }],
  ];
  for (const [name, args, o] of cases) {
    it(`${name} ${args.join(" ")}: the bytes in on all kernels are the bytes out`, async () => {
      const r = await run(name, args, { ...o, settle: 50 });
      expect(r.status).toBe(0);
      const t = [...traffic(r.log, r.pid).values()];
      expect(t.length, "both kernels' lines").toBe(2);
      const sum = (k: "in" | "out") => t.reduce((a, x) => a + x[k], 0);
      expect(sum("out")).toBeGreaterThan(0);
      expect(sum("in")).toBe(sum("out"));
    });
  }
});

describe("the log a run collects as its process exits", () => {
  it("has the memory traffic line of every kernel the process touched, every time", async () => {
    for (let i = 0; i < 6; i++) {
      const r = await run("fib", ["10", "5"], { schedule: [60, 5] }); // no wait: the log is asked for at once, as `run --dmesg` does
      expect(r.status).toBe(0);
      expect([...traffic(r.log, r.pid).keys()].sort(), `run ${i}`).toEqual([0, 1]);
    }
  });
});
