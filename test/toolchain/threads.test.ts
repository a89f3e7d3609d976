// Threads from the toolchain's side: what the link step adds for them (the
// table export, the per-thread global, the allocation guard) and what the
// guest library passes to the host (assembly/popcorn/threads.ts, the ABI in
// host/toolchain/abi.ts).
//
// The programs run on a small host written here, not on a kernel: it runs a
// spawned thread to completion inside the SPAWN call, on a new instance of the
// program on the same shared memory, with the parent's globals, as abi.ts
// tells a host to. Only programs that never block on another thread can run
// this way (count, psum, prodcons with n <= the ring's capacity, stencil with
// one thread); the kernel's tests run them for real.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ARGUMENTS_LENGTH_GLOBAL,
  type CompileResult,
  GLOBAL_EXPORT_PREFIX,
  GUEST_MODULE,
  INIT_MEMORY_EXPORT,
  MEMORY_IMPORT,
  RT_MODULE,
  type Runtime,
  STACK_POINTER_GLOBAL,
  START_EXPORT,
  SYS_ATOMIC_ADD,
  SYS_BARRIER,
  SYS_JOIN,
  SYS_LOCK,
  SYS_SPAWN,
  SYS_UNLOCK,
  SYS_YIELD,
  TABLE_EXPORT,
  THREAD_ALLOC_IMPORT,
  SITES_SECTION,
  THREAD_GLOBAL,
  compile,
  customSection,
  decodeSites,
  encodeSites,
  memoryImport,
  packageRoot,
  tableIndexOfFunctionRef,
  wasmModule,
} from "../../host/toolchain/index.js";
import { loadProgram } from "../../host/kernel/index.js";
import { withSection } from "../helpers.js";

const cache = new Map<string, Promise<CompileResult>>();
function build(file: string, runtime: Runtime): Promise<CompileResult> {
  const key = `${file}:${runtime}`;
  if (!cache.has(key)) cache.set(key, compile(file, { runtime }));
  return cache.get(key)!;
}
const example = (name: string) => join(packageRoot(), "assembly/examples", `${name}.ts`);

/** A guest thread's end other than returning: the host's thread_alloc error, or a trap. */
class ThreadDied extends Error {}

interface Spawn {
  tid: number;
  ref: number;
  tableIndex: number;
  arity: number;
  arg: number;
  stackTop: number;
  died?: string;
}

/** One process of `wasm` on the small host described at the top. */
class Process {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly output: string[] = [];
  readonly spawns: Spawn[] = [];
  /** threads that called thread_alloc */
  readonly allocAttempts: number[] = [];
  readonly main: WebAssembly.Instance;
  private nextTid = 1;
  private readonly mutexes = new Map<number, number>();

  constructor(wasm: Uint8Array, private readonly args: string[] = []) {
    this.module = wasmModule(wasm);
    const limits = memoryImport(wasm)!;
    this.memory = new WebAssembly.Memory({ initial: limits.initial, maximum: limits.maximum!, shared: true });
    this.main = this.instantiate(0);
    const ex = this.main.exports as Record<string, () => void>;
    ex[INIT_MEMORY_EXPORT]!();
    ex[START_EXPORT]?.();
  }

  call(name: string, ...a: number[]): number {
    return (this.main.exports[name] as (...a: number[]) => number)(...a);
  }

  global(instance: WebAssembly.Instance, name: string): WebAssembly.Global {
    return instance.exports[name] as WebAssembly.Global;
  }

  private instantiate(tid: number): WebAssembly.Instance {
    let result = 0;
    const utf16 = (ptr: number, len: number) => Buffer.from(this.memory.buffer, ptr, len * 2).toString("utf16le");
    const text = (kind: number, i: number) => (kind === 1 ? "x86-64" : this.args[i] ?? "");
    const popcorn: Record<string, (...a: number[]) => number | void> = {
      print: (ptr, len) => void this.output.push(utf16(ptr!, len!)),
      str_len: (kind, i) => (kind === 0 && i === -1 ? this.args.length : text(kind!, i!).length),
      str_copy: (kind, i, ptr) => void Buffer.from(this.memory.buffer).write(text(kind!, i!), ptr!, "utf16le"),
      current_kernel: () => 0,
      kernel_count: () => 1,
      migrate_request: () => {},
      check_migrate: () => {},
      current_thread: () => tid,
      sys_result: () => result,
      sys: (op, a, b, c) => {
        result = this.sys(tid, op!, a!, b!, c!);
        return 1; // always done at once: the thread never stops for a syscall here
      },
      [THREAD_ALLOC_IMPORT]: () => {
        this.allocAttempts.push(tid);
        throw new ThreadDied(`thread ${tid} allocated`);
      },
    };
    const env: Record<string, unknown> = {
      [MEMORY_IMPORT.name]: this.memory,
      abort: () => {
        throw new ThreadDied(`thread ${tid} aborted`);
      },
    };
    const imports: Record<string, Record<string, unknown>> = { [GUEST_MODULE]: popcorn, env, [RT_MODULE]: {} };
    for (const imp of WebAssembly.Module.imports(this.module)) {
      if (imp.module === RT_MODULE) {
        // unwind and rewind: never called, no thread is ever asked to stop here
        imports[RT_MODULE]![imp.name] = () => {
          throw new Error(`unexpected ${imp.module}.${imp.name}`);
        };
      } else if (imports[imp.module]?.[imp.name] === undefined) {
        throw new Error(`the program imports ${imp.module}.${imp.name}, which this test host does not provide`);
      }
    }
    return new WebAssembly.Instance(this.module, imports as WebAssembly.Imports);
  }

  private sys(tid: number, op: number, a: number, b: number, c: number): number {
    switch (op) {
      case SYS_SPAWN: return this.spawn(tid, a, b, c);
      case SYS_JOIN: {
        const s = this.spawns.find((x) => x.tid === a);
        if (!s) throw new Error(`join of unknown thread ${a}`);
        return s.stackTop;
      }
      case SYS_LOCK:
        if (this.mutexes.has(a)) throw new Error(`thread ${tid}: mutex ${a} is held by ${this.mutexes.get(a)}: would block`);
        this.mutexes.set(a, tid);
        return 0;
      case SYS_UNLOCK:
        if (this.mutexes.get(a) !== tid) throw new Error(`thread ${tid} unlocks mutex ${a}, which it does not hold`);
        this.mutexes.delete(a);
        return 0;
      case SYS_BARRIER:
        if (b !== 1) throw new Error(`barrier of ${b} parties: would block`);
        return 1;
      case SYS_ATOMIC_ADD:
        if (a % 4) throw new Error(`atomic add at unaligned address ${a}`);
        return Atomics.add(new Int32Array(this.memory.buffer), a >>> 2, b);
      case SYS_YIELD: return 0;
      default: throw new Error(`unknown syscall ${op}`);
    }
  }

  /** abi.ts, "Starting a thread", run to completion right here. */
  private spawn(parent: number, ref: number, arg: number, stackTop: number): number {
    const tid = this.nextTid++;
    const tableIndex = tableIndexOfFunctionRef(this.memory.buffer, ref);
    if (parent !== 0) throw new Error(`thread ${parent} spawned: only main may`);
    const child = this.instantiate(tid);
    for (const [name, v] of Object.entries(this.main.exports)) {
      if (!name.startsWith(GLOBAL_EXPORT_PREFIX) || !(v instanceof WebAssembly.Global)) continue;
      const mine = this.global(child, name);
      try {
        mine.value = name === GLOBAL_EXPORT_PREFIX + STACK_POINTER_GLOBAL ? stackTop : v.value;
      } catch {
        // an immutable global: the same in every instance
      }
    }
    this.global(child, THREAD_GLOBAL).value = tid;
    const argc = child.exports[GLOBAL_EXPORT_PREFIX + ARGUMENTS_LENGTH_GLOBAL] as WebAssembly.Global | undefined;
    if (argc) argc.value = 1;
    const fn = (child.exports[TABLE_EXPORT] as WebAssembly.Table).get(tableIndex) as ((arg: number) => void) | null;
    const s: Spawn = { tid, ref, tableIndex, arity: fn?.length ?? -1, arg, stackTop };
    this.spawns.push(s);
    try {
      fn!(arg);
    } catch (e) {
      s.died = (e as Error).message;
    }
    return tid;
  }
}

/** count's loop, as BigInt: `acc = (acc ^ (acc >>> 13)) + i` on an i64. */
function countLoop(seed: bigint, load: number): bigint {
  let acc = BigInt.asIntN(64, seed);
  for (let i = 0; i < load; i++) acc = BigInt.asIntN(64, (acc ^ (BigInt.asUintN(64, acc) >> 13n)) + BigInt(i));
  return acc;
}

const THREADED = ["count", "psum", "prodcons", "stencil", "locks"];

describe("the link step, for threads", () => {
  it.each(THREADED)("%s: exports the function table and the per-thread global, and imports thread_alloc", async (name) => {
    const c = await build(example(name), "incremental");
    const mod = wasmModule(c.wasm);
    const exports = WebAssembly.Module.exports(mod);
    expect(exports).toContainEqual({ name: TABLE_EXPORT, kind: "table" });
    expect(exports).toContainEqual({ name: THREAD_GLOBAL, kind: "global" });
    expect(exports.map((e) => e.name)).not.toContain(GLOBAL_EXPORT_PREFIX + THREAD_GLOBAL); // never copied to a thread
    expect(exports).toContainEqual({ name: GLOBAL_EXPORT_PREFIX + STACK_POINTER_GLOBAL, kind: "global" });
    const imports = WebAssembly.Module.imports(mod).filter((i) => i.module === GUEST_MODULE).map((i) => i.name);
    expect(imports).toEqual(expect.arrayContaining(["sys", "sys_result", "current_thread", THREAD_ALLOC_IMPORT]));
  });

  it("leaves a program that cannot spawn without the guard and its import", async () => {
    const c = await build(example("hello"), "incremental");
    const mod = wasmModule(c.wasm);
    expect(WebAssembly.Module.imports(mod).map((i) => i.name)).not.toContain(THREAD_ALLOC_IMPORT);
    expect(WebAssembly.Module.exports(mod)).toContainEqual({ name: THREAD_GLOBAL, kind: "global" });
  });

  it("refuses --points without explicit for a program that uses threads: a parked syscall resumes at its explicit point", async () => {
    // without that point a call the kernel parks returned a stale result: workers never ran ("0 0", exit 0), or the heap broke
    for (const points of [["entry"], ["loops"], ["entry", "loops"]] as const) {
      await expect(compile(example("psum"), { points: [...points] }), points.join(",")).rejects.toThrow(
        new RegExp(`psum\\.ts: it uses threads, whose syscalls stop at explicit points, and --points ${points.join(",")} leaves them out — add explicit \\(--points ${points.join(",")},explicit\\)`),
      );
    }
    await expect(compile(example("psum"), { points: ["entry", "explicit"] })).resolves.toBeDefined();
    await expect(compile(example("fib"), { points: ["entry"] }), "no threads: any points").resolves.toBeDefined();
  });

  it("refuses to load such a build made before (its explicit sites removed from the table)", async () => {
    const c = await compile(example("psum"));
    const table = decodeSites(customSection(c.wasm, SITES_SECTION)!);
    const explicit = table.sites.filter((s) => s.kind === "explicit");
    expect(explicit.length).toBeGreaterThan(0);
    for (const s of explicit) s.kind = "loop";
    expect(() => loadProgram(withSection(c.wasm, SITES_SECTION, encodeSites(table)), "old.wasm")).toThrow(/old\.wasm: it uses threads but was compiled without explicit points/);
    expect(() => loadProgram(c.wasm, "new.wasm")).not.toThrow();
  });

  it("keeps count with one argument what it was: the single-threaded benchmark", async () => {
    for (const runtime of ["incremental", "stub"] as const) {
      const p = new Process((await build(example("count"), runtime)).wasm, ["3000"]);
      expect(p.call("main")).toBe(0);
      expect(p.output).toEqual([`count(3000) = ${countLoop(0n, 3000)}`]);
      expect(p.spawns).toEqual([]);
      expect(p.allocAttempts).toEqual([]);
    }
  });
});

describe("function references: SPAWN's a", () => {
  it.each(["incremental", "stub", "minimal"] as const)(
    "is the address of a u32 table index of a one-argument function (%s)",
    async (runtime) => {
      const p = new Process((await build(example("count"), runtime)).wasm, ["3", "1000"]);
      expect(p.call("main")).toBe(0);
      expect(p.spawns.map((s) => s.arg)).toEqual([0, 1, 2]);
      for (const s of p.spawns) {
        expect(s.tableIndex).toBeGreaterThan(0); // asc leaves index 0 empty
        expect(s.arity).toBe(1);
        expect(s.died).toBeUndefined();
        expect(s.stackTop % 16).toBe(0);
        expect(s.stackTop).toBeLessThanOrEqual(p.memory.buffer.byteLength);
      }
      const combined = [0n, 1n, 2n].reduce((sum, k) => BigInt.asIntN(64, sum + countLoop(k, 1000)), 0n);
      expect(p.output).toEqual([`count(3x1000) = ${combined}`]);
    },
  );
});

describe("examples on a host that runs each thread to completion at spawn", () => {
  it.each(["incremental", "stub"] as const)("psum adds up its slices and counts n elements atomically (%s)", async (runtime) => {
    const p = new Process((await build(example("psum"), runtime)).wasm, ["4", "1000"]);
    expect(p.call("main")).toBe(0);
    let sum = 0;
    for (let i = 0; i < 1000; i++) sum += ((i * 7919) % 10007) - 5003;
    expect(p.output).toEqual([`psum 1000: ${sum} ok counted 1000`]);
    expect(p.spawns.every((s) => !s.died)).toBe(true);
  });

  it.each(["incremental", "stub"] as const)("prodcons passes n values through the ring under the mutex (%s)", async (runtime) => {
    const p = new Process((await build(example("prodcons"), runtime)).wasm, ["8"]); // 8: fits the ring, nobody waits
    expect(p.call("main")).toBe(0);
    expect(p.output).toEqual(["prodcons 8: sum 36 ok"]);
  });

  it.each(["incremental", "stub"] as const)("stencil with one thread matches the sequential steps (%s)", async (runtime) => {
    const p = new Process((await build(example("stencil"), runtime)).wasm, ["1", "5"]);
    expect(p.call("main")).toBe(0);
    expect(p.output).toHaveLength(1);
    expect(p.output[0]).toMatch(/^stencil 1x5: \d+(\.\d+)? ok$/);
  });
});

// A program for the guard: exported functions that spawn threads which
// allocate, compute, or join another thread.
const GUARD_PROGRAM = `
import { Thread } from "popcorn";

const box = new StaticArray<i32>(4);
let first: Thread | null = null;

function allocates(n: i32): void { box[0] = <i32>changetype<usize>(new StaticArray<i32>(n)); }
function computes(n: i32): void { box[1] = n * 2; }
function joinsFirst(_: i32): void { first!.join(); box[2] = 7; }

export function spawnAllocating(): i32 { Thread.spawn(allocates, 3).join(); return box[0]; }
export function spawnComputing(): i32 { Thread.spawn(computes, 21).join(); return box[1]; }
export function spawnJoining(): i32 {
  first = Thread.spawn(computes, 1);
  Thread.spawn(joinsFirst, 0).join();
  first!.join();
  return box[2];
}
export function allocate(n: i32): i32 { return <i32>changetype<usize>(new StaticArray<i32>(n)); }
`;

let guardFile: string | undefined;
function guardProgram(): string {
  if (!guardFile) {
    guardFile = join(mkdtempSync(join(tmpdir(), "popcorn-threads-")), "guard.ts");
    writeFileSync(guardFile, GUARD_PROGRAM);
  }
  return guardFile;
}

describe.each(["incremental", "minimal", "stub"] as const)("the allocation guard (%s runtime)", (runtime) => {
  it("stops a spawned thread that allocates, before the heap changes", async () => {
    const p = new Process((await build(guardProgram(), runtime)).wasm);
    const before = p.call("allocate", 4);
    expect(p.call("spawnAllocating")).toBe(0); // the thread never stored its pointer
    expect(p.allocAttempts).toEqual([1]);
    expect(p.spawns[0]!.died).toBe("thread 1 allocated");
    const after = p.call("allocate", 4);
    expect(after).toBeGreaterThan(before); // main's heap goes on where it was
    expect(p.allocAttempts).toEqual([1]);
  });

  it("lets spawned threads compute and join without allocating, and main allocate", async () => {
    const p = new Process((await build(guardProgram(), runtime)).wasm);
    expect(p.call("spawnComputing")).toBe(42);
    expect(p.call("spawnJoining")).toBe(7);
    expect(p.call("allocate", 16)).toBeGreaterThan(0);
    expect(p.allocAttempts).toEqual([]);
    expect(p.spawns.every((s) => !s.died)).toBe(true);
  });

  it("is what __popcorn_thread switches: main's instance with it set to 1 is refused", async () => {
    const p = new Process((await build(guardProgram(), runtime)).wasm);
    p.global(p.main, THREAD_GLOBAL).value = 1;
    expect(() => p.call("allocate", 4)).toThrow(ThreadDied);
    expect(p.allocAttempts).toEqual([0]); // current_thread() of this instance is still 0
    p.global(p.main, THREAD_GLOBAL).value = 0;
    expect(p.call("allocate", 4)).toBeGreaterThan(0);
  });
});
