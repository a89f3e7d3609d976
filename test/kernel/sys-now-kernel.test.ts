// Syscalls made while the thread waits on its core (host/kernel/sys-now.ts),
// on real kernels: what a review checked around them —
// time slices and signals for a thread that makes only calls that complete
// at once, a control thread too busy to answer (the core gives up and the
// call is made after the thread stopped: once), and two cores of one kernel
// on one mutex.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Replica } from "../../host/memory/index.js";
import { EmbeddedKernels } from "../../host/kernel/index.js";
import { SYS_ACQUIRE, type PointKind } from "../../host/toolchain/index.js";
import { compileSource, within } from "../helpers.js";
import { example, ScriptedCluster, type Exit } from "./scripted.js";



/** A spawned thread spins on calls that complete at once (on the mutex main needs) until main, which shares its one core, has run. */
const SPIN_UNTIL_MAIN = `
import { print, Thread, Mutex, AtomicCounter } from "popcorn";
const m = new Mutex();
const flag = new AtomicCounter(0);
function spinner(arg: i32): void {
  while (flag.get() == 0) { m.lock(); m.unlock(); }
}
export function main(): i32 {
  const t = Thread.spawn(spinner, 0);
  m.lock();
  flag.add(1);
  m.unlock();
  t.join();
  print("main ran");
  return 0;
}
`;

/** Main spins on calls that complete at once, for ever. */
const SPIN_FOREVER = `
import { print, Mutex } from "popcorn";
const m = new Mutex();
export function main(): i32 {
  print("spinning");
  for (;;) { m.lock(); m.unlock(); }
  return 0;
}
`;

const out = new Map<number, string[]>();
const onOutput = (pid: number, _stream: 1 | 2, line: string) => {
  if (!out.has(pid)) out.set(pid, []);
  out.get(pid)!.push(line);
};

describe("a thread that makes only calls that complete at once (migration points at explicit checkMigrate() and syscalls only)", () => {
  let one: EmbeddedKernels;
  beforeAll(async () => {
    one = await EmbeddedKernels.start({ isas: ["x86-64"], cores: 1, onOutput });
  });
  afterAll(() => one?.stop());

  it("still gives its one core to a sibling when its slice is over (with every kind of point, too)", async () => {
    for (const points of [["explicit"], undefined] as (PointKind[] | undefined)[]) {
      const wasm = await compileSource("spin", SPIN_UNTIL_MAIN, points);
      const { pid, exited } = one.exec(wasm, "spin", []);
      const ex = await within(exited, 5000);
      expect(ex === "stuck" ? "stuck" : ex.status, `points ${points ?? "all"}`).toBe(0);
      expect(out.get(pid)).toEqual(["main ran"]);
    }
  });

  it("still stops for kill -9", async () => {
    const wasm = await compileSource("spinforever", SPIN_FOREVER, ["explicit"]);
    const { pid, exited } = one.exec(wasm, "spinforever", []);
    for (let i = 0; i < 500 && !out.get(pid); i++) await new Promise((r) => setTimeout(r, 2));
    await new Promise((r) => setTimeout(r, 20));
    one.signal(pid, 9);
    const ex = await within(exited, 5000);
    expect(ex === "stuck" ? "stuck" : ex.status).toBe(137);
  });
});

/** Threads add to a counter under a mutex, and with atomic adds: each call made once gives the exact sums. */
const COUNTERS = `
import { print, args, Thread, Mutex, AtomicCounter } from "popcorn";
let n: i32 = 0;
const m = new Mutex();
const c = new AtomicCounter(0);
let box = new StaticArray<i32>(4);
function work(arg: i32): void {
  for (let i = 0; i < n; i++) {
    m.lock(); box[0] = box[0] + 1; m.unlock();
    c.add(1);
  }
}
export function main(): i32 {
  n = I32.parseInt(args()[0]);
  const threads = I32.parseInt(args()[1]);
  box = new StaticArray<i32>(4);
  const ts = new Array<Thread>(0);
  for (let t = 0; t < threads; t++) ts.push(Thread.spawn(work, t));
  work(0);
  for (let t = 0; t < threads; t++) ts[t].join();
  const want = n * (threads + 1);
  print("x " + box[0].toString() + " c " + c.get().toString() + (box[0] == want && c.get() == want ? " ok" : " WRONG"));
  return 0;
}
`;

let cluster: ScriptedCluster | undefined;
afterEach(() => {
  cluster?.shutdown();
  cluster = undefined;
});

async function execOn(c: ScriptedCluster, wasm: Uint8Array, args: string[], pid: number): Promise<Exit | "timeout"> {
  c.request(0, { t: "exec", pid, name: "counters", bytes: wasm, args });
  return c.exit(pid, 30_000);
}

const callsLine = (log: string[], pid: number) => {
  const m = log.join("\n").match(new RegExp(`pid ${pid} syscalls made here: (\\d+) while the thread waited on its core, (\\d+) after it stopped`));
  return m ? { waited: Number(m[1]), stopped: Number(m[2]) } : undefined;
};

describe("calls made while the thread waits, on a kernel whose control thread is this test's thread (scripted.ts)", () => {
  it("two cores on one mutex: every call made once", async () => {
    const c = (cluster = await ScriptedCluster.start({ kernels: 1, cores: 2 }));
    const wasm = await compileSource("counters", COUNTERS);
    const pid = 100_001;
    const ex = await execOn(c, wasm, ["3000", "1"], pid);
    expect(ex).toMatchObject({ status: 0 });
    expect(c.output(pid)).toEqual(["x 6000 c 6000 ok"]);
    await new Promise((r) => setTimeout(r, 20));
    const calls = callsLine(c.logs[0]!, pid);
    // per thread n × (lock, unlock, add); main's spawn, join and two gets
    expect(calls && calls.waited + calls.stopped).toBe(2 * 3000 * 3 + 4);
  });

  it("a control thread busy for longer than the core waits: the core gives up, and each call is made once (after the thread stopped)", async () => {
    // main alone on one core (every call completes at once: one made after the thread stopped is one the core gave up on),
    // then main and a thread on two cores, on one mutex
    const wasm = await compileSource("counters", COUNTERS);
    for (const [cores, threads, n] of [[1, 0, 3000], [2, 1, 1500]] as const) {
      const c = (cluster = await ScriptedCluster.start({ kernels: 1, cores }));
      const pid = 100_002;
      // the control thread (this one) is busy for 30 ms every 40 ms while the process runs
      let busy = 0;
      const timer = setInterval(() => {
        const t0 = performance.now();
        while (performance.now() - t0 < 30);
        busy++;
      }, 40);
      let ex: Exit | "timeout";
      try {
        ex = await execOn(c, wasm, [String(n), String(threads)], pid);
      } finally {
        clearInterval(timer);
      }
      const all = n * (threads + 1);
      expect(ex).toMatchObject({ status: 0 });
      expect(busy, "busy spells").toBeGreaterThan(0);
      expect(c.output(pid)).toEqual([`x ${all} c ${all} ok`]);
      await new Promise((r) => setTimeout(r, 20));
      const calls = callsLine(c.logs[0]!, pid);
      if (!threads) expect(calls?.stopped, "calls the core gave up on").toBeGreaterThan(0);
      // n × (lock, unlock, add) per thread; main's spawns, joins and two gets
      expect(calls && calls.waited + calls.stopped).toBe(all * 3 + 2 * threads + 2);
      c.shutdown();
      cluster = undefined;
    }
  });
});

/** Main alone: n locked increments and atomic adds, then where it ended up. */
const MAIN_ALONE = `
import { print, args, Mutex, AtomicCounter, currentKernel } from "popcorn";
const m = new Mutex();
const c = new AtomicCounter(0);
let box = new StaticArray<i32>(4);
export function main(): i32 {
  const n = I32.parseInt(args()[0]);
  box = new StaticArray<i32>(4);
  for (let i = 0; i < n; i++) {
    m.lock(); box[0] = box[0] + 1; m.unlock();
    c.add(1);
  }
  print("x " + box[0].toString() + " c " + c.get().toString() + " on kernel " + currentKernel().toString());
  return 0;
}
`;

/** The control thread (this test's thread) busy for `ms`, then `then()` at once, while the process runs. */
function busyThen(ms: number, after: number, then: () => void): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      const t0 = performance.now();
      while (performance.now() - t0 < ms);
      then();
      resolve();
    }, after),
  );
}

describe("signals for a thread whose core waits for (or gave up on) its call", () => {
  // SIGMIGRATE right after a busy spell of the control thread (the core gave up), and right after a short one (it still waits)
  it("SIGMIGRATE moves it, every call made once", async () => {
    const c = (cluster = await ScriptedCluster.start({ kernels: 2, cores: 1 }));
    const wasm = await compileSource("alone", MAIN_ALONE);
    for (const [i, ms] of [30, 2].entries()) {
      const pid = 100_010 + i;
      c.request(0, { t: "exec", pid, name: "alone", bytes: wasm, args: ["4000"] });
      await busyThen(ms, 20, () => c.request(0, { t: "signal", pid, signo: 35, to: 1 }));
      expect(await c.exit(pid, 30_000), `busy ${ms} ms`).toMatchObject({ status: 0 });
      expect(c.output(pid)).toEqual(["x 4000 c 4000 on kernel 1"]);
    }
  });

  for (const points of [undefined, ["explicit"]] as (PointKind[] | undefined)[]) {
    it(`kill -9 ends it (points ${points ?? "all"})`, async () => {
      const c = (cluster = await ScriptedCluster.start({ kernels: 1, cores: 1 }));
      const wasm = await compileSource("alone", MAIN_ALONE, points);
      for (const [i, ms] of [30, 2].entries()) {
        const pid = 100_020 + i;
        c.request(0, { t: "exec", pid, name: "alone", bytes: wasm, args: ["100000000"] });
        await busyThen(ms, 40, () => c.request(0, { t: "signal", pid, signo: 9 }));
        expect(await c.exit(pid, 5000), `busy ${ms} ms`).toMatchObject({ status: 137 });
      }
    });
  }
});

/** A thread spins on calls that complete at once while the process ends: main returns (0), or another thread traps (1). */
const ENDS_WHILE_SPINNING = `
import { print, args, Thread, Mutex, AtomicCounter } from "popcorn";
const m = new Mutex();
const c = new AtomicCounter(0);
function spinner(arg: i32): void {
  for (;;) { m.lock(); m.unlock(); c.add(1); }
}
function trapper(arg: i32): void {
  while (c.get() < 3000) {}
  unreachable();
}
export function main(): i32 {
  const mode = I32.parseInt(args()[0]);
  Thread.spawn(spinner, 0);
  if (mode == 1) Thread.spawn(trapper, 0).join();
  while (c.get() < 3000) {}
  print("main returns");
  return 0;
}
`;

describe("the process ends while a thread's core waits for its call", () => {
  for (const points of [undefined, ["explicit"]] as (PointKind[] | undefined)[]) {
    it(`main returns, or a thread traps: the spinning thread stops and its core is free (points ${points ?? "all"})`, async () => {
      const c = (cluster = await ScriptedCluster.start({ kernels: 1, cores: 2 }));
      const wasm = await compileSource("ends", ENDS_WHILE_SPINNING, points);
      const cores = (c.kernels[0] as unknown as { cores: { busy?: string }[] }).cores;
      let pid = 100_030;
      for (const mode of [0, 1]) {
        for (const ms of [0, 30]) {
          pid++;
          c.request(0, { t: "exec", pid, name: "ends", bytes: wasm, args: [String(mode)] });
          if (ms) await busyThen(ms, 15, () => {});
          const ex = await c.exit(pid, 10_000);
          expect(ex === "timeout" ? ex : ex.status, `mode ${mode}, busy ${ms}`).toBe(mode);
          for (let i = 0; i < 200 && cores.some((k) => k.busy); i++) await new Promise((r) => setTimeout(r, 5));
          expect(cores.map((k) => k.busy ?? "free"), `mode ${mode}, busy ${ms}`).toEqual(["free", "free"]);
        }
      }
    });
  }
});

/** A spawned thread (started on kernel 1 by the balance scheduler) makes n locked increments; main holds the mutex for a while first. */
const AWAY = `
import { print, args, Thread, Mutex } from "popcorn";
const m = new Mutex();
let box = new StaticArray<i32>(1); // in memory: a global is the thread's own
function work(n: i32): void {
  for (let i = 0; i < n; i++) { m.lock(); box[0]++; m.unlock(); }
}
export function main(): i32 {
  const n = I32.parseInt(args()[0]);
  const hold = I32.parseInt(args()[1]);
  box = new StaticArray<i32>(1);
  m.lock();
  const t = Thread.spawn(work, n);
  let x: i32 = 0;
  for (let i = 0; i < hold; i++) x += i ^ (x >> 3);
  m.unlock();
  t.join();
  print("sum " + box[0].toString() + (x == 7 ? "!" : ""));
  return 0;
}
`;

describe("calls made while the thread waits on another kernel than its origin (scripted transport)", () => {
  /** AWAY on two kernels, its worker on kernel 1; `script` sees every message. */
  async function away(n: number, hold: number, script?: ScriptedCluster["link"]["script"]): Promise<{ c: ScriptedCluster; pid: number }> {
    const c = (cluster = await ScriptedCluster.start({ kernels: 2, cores: 1 }));
    if (script) c.link.script = script;
    const wasm = await compileSource("away", AWAY);
    const pid = 100_001;
    c.request(0, { t: "exec", pid, name: "away", bytes: wasm, args: [String(n), String(hold)], scheduler: "balance" });
    return { c, pid };
  }

  /** Kernel 1 still has its core: a process of its own runs to its end there. */
  async function coreFree(c: ScriptedCluster): Promise<void> {
    const pid = await c.exec(1, "hello", ["0"]);
    expect(await c.exit(pid, 10_000)).toMatchObject({ status: 0 });
  }

  it("a lock held at the origin is answered sys-park: the thread stops for it, and every call is made once", async () => {
    const kinds = new Map<string, number>();
    const { c, pid } = await away(200, 30_000_000, (from, to, msg) => {
      const k = `${msg.t}${msg.t === "sys" && msg.now ? " now" : ""} ${from}→${to}`;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
      return "pass";
    });
    expect(await c.exit(pid, 30_000)).toMatchObject({ status: 0 });
    expect(c.output(pid)).toEqual(["sum 200"]);
    expect(kinds.get("sys-park 0→1"), [...kinds].join(", ")).toBeGreaterThan(0);
    // most of the worker's calls are asked for while it waits (not those made as its slice ended)
    expect(kinds.get("sys now 1→0"), "calls asked for while the thread waited").toBeGreaterThan(200);
    await new Promise((r) => setTimeout(r, 20));
    const calls = callsLine(c.logs[0]!, pid);
    // 200 × (lock, unlock) from kernel 1, main's lock, unlock, spawn and join
    expect(calls && calls.waited + calls.stopped).toBe(2 * 200 + 4);
  });

  it("a process killed while its thread's core waits on the origin: the core goes on, to the kill", async () => {
    // the worker's first call never reaches the origin: its core waits, claimed, until the process ends
    let lost = 0;
    const { c, pid } = await away(5, 0, (_from, _to, msg) => (msg.t === "sys" && msg.now && !lost++ ? "drop" : "pass"));
    for (let i = 0; i < 2000 && !lost; i++) await new Promise((r) => setTimeout(r, 5));
    expect(lost, "the call that was dropped").toBe(1);
    c.request(0, { t: "signal", pid, signo: 9 });
    expect(await c.exit(pid, 10_000)).toMatchObject({ status: 137 });
    await coreFree(c);
  });

  it("a sys-done whose merge left stale pages out: the acquire again is answered, and the call is not made twice", async () => {
    // a stale merge (replica.ts) needs a release of another core racing the answer: made here by
    // reporting stale for the merge of the first sys-done that answers a call asked for while waiting
    let asked = false;
    let armed = false;
    let fired = false;
    const kinds = new Map<string, number>();
    const merge = Replica.prototype.merge;
    Replica.prototype.merge = function (this: Replica, ...a: Parameters<Replica["merge"]>) {
      const m = merge.apply(this, a);
      if (!armed || fired) return m;
      fired = true;
      return { ...m, stale: m.stale + 1 };
    };
    try {
      const { c, pid } = await away(5, 0, (from, to, msg) => {
        const k = `${msg.t}${msg.t === "sys" && msg.now ? " now" : ""} ${from}→${to}`;
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
        if (msg.t === "sys" && msg.now && msg.op !== SYS_ACQUIRE && from === 1) asked = true;
        else if (asked && msg.t === "sys-done" && to === 1) armed = true;
        return "pass";
      });
      const ex = await c.exit(pid, 10_000);
      expect(fired, "a stale merge was reported").toBe(true);
      expect(ex === "timeout" ? ex : { status: ex.status, error: ex.error }).toMatchObject({ status: 0 });
      expect(c.output(pid)).toEqual(["sum 5"]);
      expect(kinds.get("sys-park 0→1") ?? 0, [...kinds].join(", ")).toBe(0);
    } finally {
      Replica.prototype.merge = merge;
    }
  });

  it("the origin's link drops while a core waits on it: the process is dropped there, and the core goes on", async () => {
    let lost = 0;
    const { c, pid } = await away(5, 0, (_from, _to, msg) => (msg.t === "sys" && msg.now && !lost++ ? "drop" : "pass"));
    for (let i = 0; i < 2000 && !lost; i++) await new Promise((r) => setTimeout(r, 5));
    expect(lost, "the call that was dropped").toBe(1);
    c.kernels[1]!.peerDown(0, "link dropped (test)");
    await new Promise((r) => setTimeout(r, 20));
    expect(c.logs[1]!.join("\n")).toContain(`pid ${pid} dropped: its origin, kernel 0, went away`);
    await coreFree(c);
  });
});

/** Only atomic adds, each result checked (--points explicit: its only points follow its calls). */
const ADDS = `
import { print, args, AtomicCounter } from "popcorn";
const c = new AtomicCounter(0);
export function main(): i32 {
  const n = I32.parseInt(args()[0]);
  print("started");
  let bad = 0;
  for (let i = 0; i < n; i++) if (c.add(1) != i) bad++;
  print("bad " + bad.toString() + " c " + c.get().toString());
  return 0;
}
`;

describe("a migration asked for again after one failed (scripted transport)", () => {
  it("keeps the result of the call the thread stopped for: the retry leaves, or resumes, with it", async () => {
    const c = (cluster = await ScriptedCluster.start({ kernels: 2, cores: 1 }));
    const wasm = await compileSource("adds", ADDS, ["explicit"]);
    const hog = 100_011;
    const pid = 100_012;
    // the first migrate message to kernel 1 is lost; then the link is down: the migration fails, and the thread stays
    let dropped = 0;
    c.link.script = (from, _to, msg) => (msg.t === "migrate" && from === 0 && !dropped++ ? "drop" : "pass");
    // a process that keeps the one core busy, so that the thread that stays waits in the run queue
    c.request(0, { t: "exec", pid: hog, name: "count", bytes: await example("count"), args: ["20000000000"] });
    c.request(0, { t: "exec", pid, name: "adds", bytes: wasm, args: ["20000"] });
    for (let i = 0; i < 2000 && !c.output(pid).includes("started"); i++) await new Promise((r) => setTimeout(r, 5));
    c.request(0, { t: "signal", pid, signo: 35, to: 1 });
    for (let i = 0; i < 2000 && !dropped; i++) await new Promise((r) => setTimeout(r, 5));
    expect(dropped, "the migrate message that was lost").toBe(1);
    c.kernels[0]!.peerDown(1, "link dropped (test)");
    // asked again while it waits for the core: it leaves again, from where it stopped, with its call's result
    c.request(0, { t: "signal", pid, signo: 35, to: 1 });
    const ex = await c.exit(pid, 30_000);
    c.request(0, { t: "signal", pid: hog, signo: 9 });
    expect(ex).toMatchObject({ status: 0 });
    const out = c.output(pid);
    expect(out.filter((l) => l.startsWith("popcorn: ")).length, "both migrations failed, and said so").toBe(2);
    expect(out.filter((l) => !l.startsWith("popcorn: "))).toEqual(["started", "bad 0 c 20000"]);
  });
});
