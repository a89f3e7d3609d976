// popcorn run --trace: every migration's portable frames, both native
// images and every value moved, consistent with each other.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedKernels, SIGMIGRATE, type MigrationTrace } from "../../host/kernel/index.js";
import { compileExample } from "../helpers.js";

let kernels: EmbeddedKernels;
beforeAll(async () => {
  kernels = await EmbeddedKernels.start({ isas: ["x86-64", "aarch64"], trace: true });
});
afterAll(() => kernels.stop());

/** The little-endian bytes of a traced value, as the portable frame holds it. */
function bytesOf(type: string, value: string): string {
  const b = Buffer.alloc(type === "v128" ? 16 : type === "i64" || type === "f64" ? 8 : 4);
  if (type === "i32") b.writeInt32LE(Number(value));
  else if (type === "i64") b.writeBigInt64LE(BigInt(value));
  else if (type === "f32") b.writeFloatLE(Number(value));
  else if (type === "f64") b.writeDoubleLE(Number(value));
  else return value;
  return b.toString("hex");
}

describe("migration traces", () => {
  let traces: MigrationTrace[];
  beforeAll(async () => {
    const c = await compileExample("fib", { runtime: "stub" });
    const { exited } = kernels.exec(c.wasm, "fib", ["12", "100"], { schedule: [40, 60, 25, 80] });
    expect((await exited).status).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    traces = kernels.traces();
  });

  it("record each migration once, in order, alternating between the ISAs", () => {
    expect(traces.map((t) => t.epoch)).toEqual([0, 1, 2, 3]);
    expect(traces.map((t) => `${t.from.isa}>${t.to.isa}`)).toEqual(["x86-64>aarch64", "aarch64>x86-64", "x86-64>aarch64", "aarch64>x86-64"]);
    for (const t of traces) expect(t.totalUs).toBeGreaterThan(0);
    for (const t of traces) for (const p of ["capture", "ahead", "lower", "rewrite", "send", "load", "lift", "resume"]) expect(t.phasesUs[p]).toBeGreaterThanOrEqual(0);
    // the source's encode is in the destination's send: a trace counts it once
    for (const t of traces) expect(t.phasesUs.encode).toBeUndefined();
  });

  it("move every live value of every frame with the bytes the portable frame holds", () => {
    for (const t of traces) {
      expect(t.transform.frames).toHaveLength(t.frames.length);
      t.frames.forEach((f, depth) => {
        const tf = t.transform.frames[depth]!;
        expect(tf.site).toBe(f.site);
        expect(tf.values.map((v) => v.name)).toEqual(f.values.map((v) => v.name));
        f.values.forEach((v, i) => expect(tf.values[i]!.hex).toBe(bytesOf(v.type, v.value)));
      });
    }
  });

  it("dump both images: the stack spans sp..stackTop and the pc is the innermost site's return address", () => {
    for (const t of traces) {
      for (const [img, side] of [[t.source, t.transform.frames[0]!.from], [t.destination, t.transform.frames[0]!.to]] as const) {
        expect(img.stack.length / 2).toBe(img.stackTop - img.sp);
        expect(img.pc).toBe(side.returnAddress);
      }
      expect(t.source.isa).toBe(t.from.isa);
      expect(t.destination.isa).toBe(t.to.isa);
    }
  });
});

describe("migration traces of threads", () => {
  it("hold every migration of every thread, with its tid: threads' first migrations (epoch 0 each) are not one", async () => {
    const c = await compileExample("count");
    const { pid, exited } = kernels.exec(c.wasm, "count", ["2", "60000000"]);
    // wait until both threads exist, then move each to kernel 1
    for (let i = 0; i < 500; i++) {
      if ((await kernels.ps()).filter((p) => p.pid === pid && p.tid > 0).length === 2) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(kernels.signal(pid, SIGMIGRATE, 1, 1)).toBe(true);
    expect(kernels.signal(pid, SIGMIGRATE, 1, 2)).toBe(true);
    expect((await exited).status).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    const mine = kernels.traces().filter((t) => t.pid === pid);
    expect(mine.map((t) => [t.tid, t.epoch, t.from.kernel, t.to.kernel]).sort()).toEqual([
      [1, 0, 0, 1],
      [2, 0, 0, 1],
    ]);
    // each with its own destination's record: its times, and memory sent ahead of it
    for (const t of mine) expect(t.totalUs).toBeGreaterThan(0);
    const log = await kernels.dmesg();
    for (const t of mine) {
      const line = log.find((l) => l.includes(`pid ${pid}.${t.tid} migrated in from kernel 0`));
      expect(line, `thread ${t.tid}'s arrival`).toContain(`memory ${t.memory.bytes} B`);
    }
  });
});
