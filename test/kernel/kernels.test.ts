// Two kernels of different ISAs in one process (worker threads, local
// transport): processes migrate between them and give the plain run's output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedKernels } from "../../host/kernel/index.js";
import { compile } from "../../host/toolchain/index.js";
import { EXAMPLES as ALL_EXAMPLES, compileExample, example, fromWat, run } from "../helpers.js";

// hello says which kernel it is on, so its output differs from a one-kernel run by design: its own test below
const EXAMPLES = ALL_EXAMPLES.filter((e) => e.name !== "hello");

let kernels: EmbeddedKernels;
const out = new Map<number, string[]>();
const err = new Map<number, string[]>();

beforeAll(async () => {
  kernels = await EmbeddedKernels.start({
    isas: ["x86-64", "aarch64"],
    onOutput: (pid, stream, line) => {
      const m = stream === 1 ? out : err;
      if (!m.has(pid)) m.set(pid, []);
      m.get(pid)!.push(line);
    },
  });
});
afterAll(() => kernels.stop());

async function runOn(wasm: Uint8Array, name: string, args: string[], schedule?: number[]) {
  const { pid, exited } = kernels.exec(wasm, name, args, { schedule });
  const ex = await exited;
  return { ...ex, pid, output: out.get(pid) ?? [], errors: err.get(pid) ?? [] };
}

/** A deterministic pseudo-random schedule: `n` gaps of 1..max migration points. */
function schedule(seed: number, n: number, max: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return 1 + (x % max);
  });
}

describe("hello popcorn", () => {
  it("hops between an x86-64 and an aarch64 kernel and says where it is", async () => {
    const c = await compileExample("hello");
    const r = await runOn(c.wasm, "hello", ["4"]);
    expect(r.status).toBe(0);
    expect(r.output).toEqual([
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "Hello from kernel 0 (x86-64)",
      "hops = 4",
    ]);
    const log = (await kernels.dmesg()).filter((l) => l.includes(`pid ${r.pid} migrated in`));
    expect(log).toHaveLength(4);
    expect(log[0]).toMatch(/kernel 1 \(aarch64\): .* migrated in from kernel 0 \(x86-64\): 1 frames, .* µs from request to running/);
  });
});

describe.each(EXAMPLES)("example $name migrated at pseudo-random points", ({ name, args, runtime }) => {
  it("gives the plain run's output", async () => {
    const c = await compileExample(name, { runtime: runtime ?? "stub" });
    const plain = run(c.plain, { args });
    const s = schedule(name.length * 7919, 30, 40);
    const r = await runOn(c.wasm, name, args, s);
    expect(r.error).toBeUndefined();
    expect(r.output).toEqual(plain.output);
    expect(r.status).toBe(plain.status);
    const hops = (await kernels.dmesg()).filter((l) => l.includes(`pid ${r.pid} migrated in`)).length;
    expect(hops).toBeGreaterThanOrEqual(10);
  });
});

describe("the memory that goes ahead of a migrating thread", () => {
  it("pingpong writes 64 KiB before each of 12 hops (releases of up to 8192 runs) and reads back what a plain run reads", async () => {
    const c = await compileExample("pingpong", { runtime: "stub" });
    const args = ["3", "64", "12", "1", "0"];
    const plain = run(c.plain, { args });
    const r = await runOn(c.wasm, "pingpong", args);
    expect(r.error).toBeUndefined();
    expect(r.output).toEqual(plain.output);
    expect((await kernels.dmesg()).filter((l) => l.includes(`pid ${r.pid} migrated in`))).toHaveLength(12);
  });
});

describe("failed migrations leave the process where it was", () => {
  it("a program without stackmaps stays on its kernel, says why, and finishes", async () => {
    const c = await compile(example("fib"), { runtime: "stub" }); // no backends: no popcorn.stackmap.* sections
    const plain = run(c.plain, { args: ["10", "50"] });
    const r = await runOn(c.wasm, "fib-nostackmap", ["10", "50"], [5]);
    expect(r.output).toEqual(plain.output);
    expect(r.status).toBe(0);
    expect(r.errors.join("\n")).toMatch(/migration of pid \d+ to kernel 1 \(aarch64\) failed: .*no stackmap for x86-64 .*staying on kernel 0/);
  });

  it("a migration request to a kernel that does not exist is refused and the process goes on", async () => {
    const c = await compileExample("count", { runtime: "stub" });
    const { pid, exited } = kernels.exec(c.wasm, "count", ["2000000000"]);
    await new Promise((r) => setTimeout(r, 50));
    kernels.signal(pid, 35, 7);
    await new Promise((r) => setTimeout(r, 50));
    expect((await kernels.ps()).find((p) => p.pid === pid)).toMatchObject({ kernel: 0, state: "running" });
    kernels.signal(pid, 15);
    expect((await exited).status).toBe(143);
    expect(err.get(pid)?.join("\n")).toMatch(/migration of pid \d+ to kernel 7 refused: no such kernel \(kernels 0\.\.1\)/);
  });
});

describe("a guest's migrate() to a kernel that does not exist", () => {
  it("is refused on stderr and in dmesg, and the program goes on", async () => {
    const { wasm } = fromWat(`(module
      (import "popcorn" "migrate_request" (func $request (param i32)))
      (import "popcorn" "check_migrate" (func $check))
      (memory 1)
      (export "memory" (memory 0))
      (func (export "main") (result i32)
        (call $request (i32.const 7))
        (call $check)
        (i32.const 3)))`);
    const r = await runOn(wasm, "refused", []);
    expect(r.status).toBe(3);
    expect(r.errors).toEqual(["popcorn: migration to kernel 7 refused: no such kernel (kernels 0..1) — staying on kernel 0"]);
    expect((await kernels.dmesg()).join("\n")).toMatch(new RegExp(`pid ${r.pid}: migration to kernel 7 refused: no such kernel`));
  });
});

describe("signals", () => {
  it("kill -9 stops a running process at its next migration point with status 137", async () => {
    const c = await compileExample("count", { runtime: "stub" });
    const { pid, exited } = kernels.exec(c.wasm, "count", ["2000000000"]);
    await new Promise((r) => setTimeout(r, 100));
    expect(kernels.signal(pid, 9)).toBe(true);
    const ex = await exited;
    expect(ex.status).toBe(137);
    expect(ex.error).toMatch(/killed by signal 9/);
  });

  it("kill -35 moves a running process to the other kernel; ps shows where it is", async () => {
    const c = await compileExample("count", { runtime: "stub" });
    const { pid, exited } = kernels.exec(c.wasm, "count", ["2000000000"]);
    const where = async () => (await kernels.ps()).find((p) => p.pid === pid);
    await new Promise((r) => setTimeout(r, 50));
    kernels.signal(pid, 35);
    let p = await where();
    for (let i = 0; i < 100 && p?.kernel !== 1; i++) {
      await new Promise((r) => setTimeout(r, 20));
      p = await where();
    }
    expect(p).toMatchObject({ kernel: 1, isa: "aarch64", state: "running", migrations: 1 });
    kernels.signal(pid, 35, 0);
    for (let i = 0; i < 100 && p?.kernel !== 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      p = await where();
    }
    expect(p).toMatchObject({ kernel: 0, isa: "x86-64", migrations: 2 });
    kernels.signal(pid, 15);
    expect((await exited).status).toBe(143);
  });
});

describe("a kill is never lost to a migration", () => {
  it("kill -9 ends a process that migrates back and forth all the time", async () => {
    const c = await compileExample("pingpong", { runtime: "stub" });
    for (let i = 0; i < 5; i++) {
      // depth 1, 4 KiB, a hundred million hops, rewriting memory each time, no pause between hops
      const { pid, exited } = kernels.exec(c.wasm, "pingpong", ["1", "4", "100000000", "1", "0"]);
      await new Promise((r) => setTimeout(r, 30 + 20 * i));
      kernels.signal(pid, 9);
      const outcome = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running after 10 s"), 10_000))]);
      expect(outcome).toEqual({ status: 137, error: "killed by signal 9" });
    }
  });
});

describe("the next kernel, with three kernels", () => {
  it("--migrate-at and signal 35 take a process from its origin to each other kernel in turn, and back to the origin from there", async () => {
    // each record comes from its destination kernel, on its own channel: in the order of their epochs, not of arrival
    const records: { epoch: number; hop: string }[] = [];
    const hops = () => [...records].sort((a, b) => a.epoch - b.epoch).map((r) => r.hop);
    const lines: string[] = [];
    const three = await EmbeddedKernels.start({
      isas: ["x86-64", "aarch64", "x86-64"],
      onMigration: (m) => records.push({ epoch: m.epoch, hop: `${m.from}→${m.to}` }),
      onOutput: (_pid, _stream, line) => lines.push(line),
    });
    try {
      const fib = (await compileExample("fib")).wasm;
      const { exited } = three.exec(fib, "fib", ["22"], { schedule: [20, 20, 20, 20, 20, 20] });
      const ex = await exited;
      expect(ex.status, ex.error).toBe(0);
      for (let i = 0; i < 1000 && records.length < 6; i++) await new Promise((r) => setTimeout(r, 5)); // a record may come after the exit
      expect(hops()).toEqual(["0→1", "1→0", "0→2", "2→0", "0→1", "1→0"]);
      // signal 35, to a process that runs until it is killed
      records.length = 0;
      const count = (await compileExample("count")).wasm;
      const { pid, exited: ended } = three.exec(count, "count", ["2000000000"]);
      for (let n = 1; n <= 3; n++) {
        expect(three.signal(pid, 35)).toBe(true);
        for (let i = 0; i < 1000 && records.length < n; i++) await new Promise((r) => setTimeout(r, 5));
      }
      three.signal(pid, 9);
      await ended;
      expect(hops()).toEqual(["0→1", "1→0", "0→2"]);
      // hello goes the same way
      const hello = (await compileExample("hello")).wasm;
      lines.length = 0;
      expect((await three.exec(hello, "hello", ["4"]).exited).status).toBe(0);
      expect(lines).toEqual(["Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "Hello from kernel 2 (x86-64)", "Hello from kernel 0 (x86-64)", "hops = 4"]);
    } finally {
      await three.stop();
    }
  });
});
