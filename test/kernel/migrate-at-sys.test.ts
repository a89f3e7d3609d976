// SIGMIGRATE for a thread whose only migration points are the points right
// after its syscalls (--points explicit, a loop of lock/unlock and atomic
// adds): the migration asked for while it is between calls is taken at the
// point after the next call, once the call is made — and the call is made
// once, its result reaching the thread on the kernel it runs on next.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedKernels, type MigrationRecord } from "../../host/kernel/index.js";
import { compileSource, within } from "../helpers.js";



/**
 * Main makes only lock/unlock and atomic adds for a long time (long enough
 * that it is still at it when the signal comes), then says where it ended.
 * Every add's result is checked against the count kept under the lock: a
 * call made twice, or a result lost, shows.
 */
const CALLS_ONLY = `
import { print, args, currentKernel, Mutex, AtomicCounter } from "popcorn";
const m = new Mutex();
const c = new AtomicCounter(0);
let x: i32 = 0;
export function main(): i32 {
  let n = I32.parseInt(args()[0]);
  print("started");
  let bad = 0;
  let i = 0;
  // until it has left kernel 0 (or n calls: the signal never took effect)
  for (; i < n && currentKernel() == 0; i++) {
    m.lock(); x = x + 1; m.unlock();
    if (c.add(1) != i) bad++;
  }
  print("left kernel 0"); // (the test asks it back only then: back before it saw kernel 1, it would go on in the loop above)
  // on kernel 1 (not the origin: its calls are made at the origin) until it is back on kernel 0
  for (; i < 2 * n && currentKernel() != 0; i++) {
    m.lock(); x = x + 1; m.unlock();
    if (c.add(1) != i) bad++;
  }
  const end = i + 200;
  for (; i < end; i++) {
    m.lock(); x = x + 1; m.unlock();
    if (c.add(1) != i) bad++;
  }
  n = end;
  print("x " + (x == n ? "ok" : "WRONG") + " c " + (c.get() == n ? "ok" : "WRONG") + " bad " + bad.toString() + " kernel " + currentKernel().toString());
  return 0;
}
`;

/** The same in a spawned thread, on a mutex main contends for: its lock may park it, and the signal may find it parked. */
const CONTENDED = `
import { print, args, currentKernel, Thread, Mutex, AtomicCounter } from "popcorn";
const m = new Mutex();
const c = new AtomicCounter(0);
const done = new AtomicCounter(0);
// in memory: a global is each thread's own
const box = new StaticArray<i32>(3); // x, the worker's calls, the kernel it ended on
function worker(n: i32): void {
  let i = 0;
  for (; i < n && currentKernel() == 0; i++) { m.lock(); box[0] = box[0] + 1; m.unlock(); c.add(1); }
  const end = i + 200;
  for (; i < end; i++) { m.lock(); box[0] = box[0] + 1; m.unlock(); c.add(1); }
  m.lock(); box[1] = i; box[2] = currentKernel(); m.unlock();
  done.add(1);
}
export function main(): i32 {
  const t = Thread.spawn(worker, I32.parseInt(args()[0]));
  print("started");
  let mine = 0;
  while (done.get() == 0) { m.lock(); box[0] = box[0] + 1; m.unlock(); c.add(1); mine++; }
  t.join();
  m.lock();
  const n = mine + box[1];
  print("x " + (box[0] == n ? "ok" : "WRONG") + " c " + (c.get() == n ? "ok" : "WRONG") + " worker ended on kernel " + box[2].toString());
  m.unlock();
  return 0;
}
`;

const out = new Map<number, string[]>();
const onOutput = (pid: number, _stream: 1 | 2, line: string) => {
  if (!out.has(pid)) out.set(pid, []);
  out.get(pid)!.push(line);
};
const migrations: MigrationRecord[] = [];

describe("SIGMIGRATE for a thread whose only points follow its syscalls", () => {
  let two: EmbeddedKernels;
  beforeAll(async () => {
    two = await EmbeddedKernels.start({ isas: ["x86-64", "aarch64"], onOutput, onMigration: (m) => migrations.push(m) });
  });
  afterAll(() => two?.stop());

  it("migrates at the point after its next call, and every call is made once", async () => {
    const wasm = await compileSource("callsonly", CALLS_ONLY, ["explicit"]);
    const n = 2_000_000;
    const { pid, exited } = two.exec(wasm, "callsonly", [String(n)]);
    for (let i = 0; i < 1000 && !out.get(pid); i++) await new Promise((r) => setTimeout(r, 2));
    expect(out.get(pid)).toEqual(["started"]);
    expect(two.signal(pid, 35, 1)).toBe(true);
    let moved = false;
    for (let i = 0; i < 1500 && !moved; i++) {
      moved = migrations.some((m) => m.pid === pid && m.to === 1);
      if (!moved) await new Promise((r) => setTimeout(r, 2));
    }
    expect(moved, "migrated to kernel 1 within ~3 s of the signal").toBe(true);
    // and back, from the kernel that is not its origin, once it has seen that it left
    for (let i = 0; i < 1500 && out.get(pid)!.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
    expect(out.get(pid)).toEqual(["started", "left kernel 0"]);
    expect(two.signal(pid, 35, 0)).toBe(true);
    let back = false;
    for (let i = 0; i < 1500 && !back; i++) {
      back = migrations.some((m) => m.pid === pid && m.to === 0);
      if (!back) await new Promise((r) => setTimeout(r, 2));
    }
    expect(back, "migrated back to kernel 0 within ~3 s of the signal").toBe(true);
    const ex = await within(exited, 20_000);
    expect(ex === "stuck" ? "stuck" : ex.status).toBe(0);
    expect(out.get(pid)).toEqual(["started", "left kernel 0", "x ok c ok bad 0 kernel 0"]);
  });

  it("migrates a spawned thread contending for a mutex, and every call is made once", async () => {
    const wasm = await compileSource("contended", CONTENDED, ["explicit"]);
    const { pid, exited } = two.exec(wasm, "contended", ["2000000"]);
    for (let i = 0; i < 1000 && !out.get(pid); i++) await new Promise((r) => setTimeout(r, 2));
    expect(out.get(pid)).toEqual(["started"]);
    await new Promise((r) => setTimeout(r, 20));
    expect(two.signal(pid, 35, 1, 1)).toBe(true);
    let moved = false;
    for (let i = 0; i < 1500 && !moved; i++) {
      moved = migrations.some((m) => m.pid === pid && m.to === 1);
      if (!moved) await new Promise((r) => setTimeout(r, 2));
    }
    expect(moved, "thread 1 migrated to kernel 1 within ~3 s of the signal").toBe(true);
    const ex = await within(exited, 20_000);
    expect(ex === "stuck" ? "stuck" : ex.status).toBe(0);
    expect(out.get(pid)).toEqual(["started", "x ok c ok worker ended on kernel 1"]);
  });
});
