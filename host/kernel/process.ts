/**
 * A process's thread on one kernel: instantiate, run `main`, capture and
 * resume.
 *
 * Capture: the host sets CTRL_REQUEST in the thread's control word and a
 * countdown of points; the point that takes the countdown to zero unwinds,
 * calling `save_<sig>` once per frame (innermost first), and `main` returns
 * to the host with `__popcorn_unwinding` set. The frames and the mutable
 * globals make a ThreadState; the memory stays where it is.
 *
 * Resume: a fresh instance on the process memory (already holding the right
 * bytes), the globals written back, the frames queued outermost first,
 * CTRL_REWIND set, and `main` called again: each function takes its frame
 * with `rewind_frame`/`restore_<t>` and the point the thread stopped at
 * clears CTRL_REWIND: the rewind is over only then, not when the last value
 * has been handed back (the innermost frame's dispatch comes after that).
 *
 * A syscall (sys) stops the thread the same way, at the point right after
 * the call — unless the kernel makes it while the thread waits (sysNow,
 * kernel/sys-now.ts), and the thread goes on. A migration asked for by then
 * waits until the call is made; the thread then leaves from that point, its
 * call's result in its state (ThreadState.sysResult), and is not resumed first.
 *
 * A ProcessImage (image.ts) is a ThreadState plus the memory's pages: what a
 * checkpoint writes to a file and `restore` reads back into fresh memory.
 */
import {
  CTRL_PTR_GLOBAL,
  CTRL_REWIND,
  CTRL_URGENT,
  THREAD_GLOBAL,
  TABLE_EXPORT,
  STACK_POINTER_GLOBAL,
  ARGUMENTS_LENGTH_GLOBAL,
  ctrlAddress,
  GLOBAL_EXPORT_PREFIX,
  INIT_MEMORY_EXPORT,
  MEMORY_IMPORT,
  RT_MODULE,
  START_EXPORT,
  UNWINDING_GLOBAL,
  functionNames,
  hex,
} from "../toolchain/index.js";
import { ControlWord } from "./control-word.js";
import { type Frame, ImageError, type ProcessImage, type Value, capturePages, PAGE_SIZE } from "./image.js";
import { guestImports, type GuestHost, wasmFrames } from "./guest.js";
import { FrameLayout } from "./frame-layout.js";
import { type Program, ProgramError } from "./program.js";

/** A syscall a thread made (see toolchain/abi.ts SYS_*): it stops, the kernel performs it, it resumes with the result. */
export interface SysCall {
  op: number;
  a: number;
  b: number;
  c: number;
}

/** Internal stop reasons, in the control word's signal field: above every real signal number. */
export const SIG_SYS = 0x1000;
/** The kernel asks a thread to give its core to another (its time slice is over). */
export const SIG_YIELD = 0x1001;

export interface KernelInfo {
  id: number;
  isa: string;
  count: number;
}

/** Why a thread unwound. */
export type CaptureReason =
  | { kind: "checkpoint" }
  | { kind: "migrate"; to: number; requestedAt: number }
  | { kind: "signal"; signo: number; requestedAt: number }
  | { kind: "sys"; call: SysCall; requestedAt: number };

/** A stopped thread: its frames (innermost first) and the process's mutable globals. */
export interface ThreadState {
  frames: Frame[];
  globals: [string, number | bigint][];
  /** a migration that was asked for while the thread stopped for a syscall: made once the call is done */
  migrateTo?: number;
  /**
   * the result of the syscall it stopped for, when it leaves before it is
   * resumed with it (core.ts: a migration asked for meanwhile) — the call
   * is made once, here, and its result is the thread's on the kernel it
   * runs on next; resume hands it to sys_result()
   */
  sysResult?: number;
}

/** The shadow-stack pointer of AssemblyScript's runtime: per thread (each has its own stack). */
const STACK_POINTER = GLOBAL_EXPORT_PREFIX + STACK_POINTER_GLOBAL;
/** How many arguments an indirect call passes, for a thread function with optional parameters. */
const ARGUMENTS_LENGTH = GLOBAL_EXPORT_PREFIX + ARGUMENTS_LENGTH_GLOBAL;

export interface ProcessOptions {
  args: string[];
  /** thread id: 0 is main (default) */
  tid?: number;
  /** a spawned thread's entry: the table index of its function and its argument (main runs `main`) */
  entry?: { fn: number; arg: number };
  /** the thread's control-word slot on this kernel (toolchain/abi.ts; default 0) */
  slot?: number;
  /** a kernel makes this thread's syscalls (threads, mutexes…); without one a syscall is an error */
  syscalls?: boolean;
  /**
   * A syscall the kernel may make while the thread waits, without stopping
   * it: its result, or undefined if the thread is to stop for it as usual.
   * Not asked while a stop is asked for now (CTRL_URGENT): the thread stops
   * for the call, at the point after it, as it did before sys-now.
   */
  sysNow?(call: SysCall): number | undefined;
  kernel: KernelInfo;
  stdout(line: string): void;
  stderr(line: string): void;
  /** the kernel's log (dmesg), for what the kernel refuses or notices */
  log?(line: string): void;
  /** the process memory, when it already exists (a thread arriving on a kernel that holds it) */
  memory?: WebAssembly.Memory;
  /**
   * Asked when main starts and after every capture: in how many migration
   * points to capture next (≥ 1), or undefined for none. Without it, points
   * fire only for migration requests.
   */
  nextCapture?(): number | undefined;
}

export class ProcessError extends Error {}

interface Exports {
  main(): number;
  memory: WebAssembly.Memory;
  [k: string]: unknown;
}

export class Process {
  private instance!: WebAssembly.Instance;
  /** the shadow-stack pointer's first value in a fresh instance: the top of main's shadow stack (guest.ts abortText) */
  private shadowStackTop: number | undefined;
  private ex!: Exports;
  private mem: WebAssembly.Memory | undefined;
  private control: ControlWord | undefined;
  private captured: Frame[] = [];
  /** the first parts of a frame being saved in parts (see instrument/emit.ts) */
  private savedParts: (number | bigint)[] = [];
  private rewindQueue: Frame[] = [];
  private restoring: Value[] = [];
  private resuming = false;
  /**
   * After a restore, "<file>: " (until the thread is resumed otherwise): a
   * failure while the rewind is under way (rewinding()) is the image's
   * fault, not the program's.
   */
  private rewindingImage?: string;
  /** Called once the last frame of a resume has been handed back: the thread runs again. */
  onResumed: (() => void) | undefined;
  /** the syscall this thread stopped for, while it stops for it */
  private pendingSys: SysCall | undefined;
  /** the result of its last syscall, which sys_result() returns */
  sysResult = 0;

  constructor(readonly program: Program, readonly opts: ProcessOptions) {
    this.mem = opts.memory;
  }

  get instrumented(): boolean {
    return this.program.sites !== undefined;
  }

  /** The process memory (after boot, restore or resume). */
  get memory(): WebAssembly.Memory {
    if (!this.mem) throw new ProcessError(`${this.program.name}: the process has no memory yet — boot or restore it first`);
    return this.mem;
  }

  /** Byte address of the thread's control word in the process memory (instrumented programs only). */
  get ctrlAddress(): number {
    return this.global(CTRL_PTR_GLOBAL).value as number;
  }

  /** The thread's control word (instrumented programs only). */
  get ctrl(): ControlWord {
    this.control ??= new ControlWord(this.memory.buffer, this.ctrlAddress);
    return this.control;
  }

  private freshMemory(): WebAssembly.Memory | undefined {
    const lim = this.program.memory;
    if (!lim) return undefined; // a plain module defines its own
    return new WebAssembly.Memory({ initial: lim.initial, maximum: lim.maximum, shared: lim.shared } as WebAssembly.MemoryDescriptor);
  }

  /** A fresh instance on this.mem (made if there is none); `boot` also initializes memory and runs the start function. */
  private instantiate(): void {
    const host: GuestHost = {
      memory: () => this.ex.memory,
      args: this.opts.args,
      kernel: this.opts.kernel,
      stdout: this.opts.stdout,
      stderr: this.opts.stderr,
      requestMigration: (to) => this.requestMigration(to),
      tid: this.opts.tid ?? 0,
      sys: (call) => this.sys(call),
      sysResult: () => this.sysResult,
      shadowStackTop: () => this.shadowStackTop,
    };
    const imports: WebAssembly.Imports = guestImports(this.program, host);
    if (this.instrumented) imports[RT_MODULE] = this.runtimeImports();
    if (this.program.memory) {
      this.mem ??= this.freshMemory();
      (imports[MEMORY_IMPORT.module] ??= {})[MEMORY_IMPORT.name] = this.mem!;
    }
    this.instance = new WebAssembly.Instance(this.program.module, imports);
    this.ex = this.instance.exports as unknown as Exports;
    this.shadowStackTop = (this.ex[STACK_POINTER] as WebAssembly.Global | undefined)?.value as number | undefined; // before a spawn or restore sets it
    this.mem ??= this.ex.memory;
    if (this.instrumented) {
      this.global(CTRL_PTR_GLOBAL).value = ctrlAddress(this.opts.slot ?? 0);
      this.control = undefined;
    }
    const tid = this.ex[THREAD_GLOBAL] as WebAssembly.Global | undefined;
    if (tid) tid.value = this.opts.tid ?? 0;
  }

  /** A syscall: made at once while the thread waits (sysNow), or the thread stops at the point right after it and resumes with `sysResult` set. */
  private sys(call: SysCall): number {
    if (!this.instrumented) {
      throw new ProcessError(`${this.program.name}: threads and their synchronization need migration points — compile it with \`popcorn compile\``);
    }
    if (!this.opts.syscalls) {
      throw new ProcessError(
        `${this.program.name}: threads need a kernel, and this run has none (--checkpoint-every, --stop-at, --save and resume run one thread here) — run it with \`popcorn run\` alone, or with --kernels`,
      );
    }
    // a stop asked for now (a time slice over, a signal, a migration) is taken here, at the point after the call, as
    // before sys-now: a thread making only calls that complete at once may reach no other point (--points explicit)
    const result = this.ctrl.value & CTRL_URGENT ? undefined : this.opts.sysNow?.(call);
    if (result !== undefined) {
      this.sysResult = result;
      return 1;
    }
    this.pendingSys = call;
    const dest = this.ctrl.destination(); // a migration asked for meanwhile waits until the call is done
    this.ctrl.request({ signo: SIG_SYS, dest });
    return 0;
  }

  /** The thread function a spawned thread starts in (and is rewound into). */
  private entryFunction(): () => number | undefined {
    const entry = this.opts.entry;
    if (!entry) return () => this.ex.main();
    const table = this.ex[TABLE_EXPORT] as WebAssembly.Table | undefined;
    const f = table?.get(entry.fn) as ((arg: number) => void) | null | undefined;
    if (typeof f !== "function") throw new ProcessError(`${this.program.name}: thread ${this.opts.tid}: no function at table index ${entry.fn}`);
    const argc = this.ex[ARGUMENTS_LENGTH] as WebAssembly.Global | undefined;
    return () => {
      if (argc) argc.value = 1;
      f(entry.arg);
      return 0;
    };
  }

  /** Starts a spawned thread on memory that is already in place: the parent's globals, its own shadow stack. */
  spawn(globals: [string, number | bigint][], stackTop: number): void {
    this.instantiate();
    const mine = this.globals();
    for (const [name, value] of globals) {
      const g = mine.get(name);
      if (g) g.value = name === STACK_POINTER && stackTop ? stackTop : value;
    }
    this.armPoints();
  }

  /** Migration points fire only while main runs: not during initialization. */
  private armPoints(): void {
    if (!this.instrumented) return;
    const n = this.opts.nextCapture?.();
    if (n === undefined) this.ctrl.clear();
    else this.ctrl.request({ countdown: n });
  }

  boot(): void {
    this.instantiate();
    this.guard(() => {
      (this.ex[INIT_MEMORY_EXPORT] as (() => void) | undefined)?.();
      (this.ex[START_EXPORT] as (() => void) | undefined)?.();
    });
    this.armPoints();
  }

  /**
   * Runs main until it returns (the exit status) or a thread stops at a
   * migration point. On a stop, `onCapture` gets the thread's state; it
   * either resumes the thread here (`resume`/`restore`, then "resume") or
   * returns "stop", and run returns undefined with the state in `lastState`.
   */
  run(onCapture?: (t: ThreadState, reason: CaptureReason) => "resume" | "stop"): number | undefined {
    const entry = this.entryFunction();
    for (;;) {
      let status: number | undefined;
      try {
        status = this.guard(entry);
      } catch (e) {
        throw this.misfit(e);
      }
      if (this.rewinding()) {
        const left = this.rewindQueue.length ? `${this.rewindQueue.length} frames left` : "before the point the thread stopped at";
        throw this.misfit(new ProcessError(`rewind ended ${left} — the image does not match the program`));
      }
      if (!this.instrumented || !this.global(UNWINDING_GLOBAL).value) return status;
      const state = this.captureThread();
      const to = this.ctrl.destination();
      const signo = this.ctrl.signal();
      const requestedAt = this.ctrl.requestedAt();
      const call = this.pendingSys;
      this.pendingSys = undefined;
      if (call && to !== undefined) state.migrateTo = to;
      const reason: CaptureReason = call
        ? { kind: "sys", call, requestedAt }
        : to !== undefined
          ? { kind: "migrate", to, requestedAt }
          : signo
            ? { kind: "signal", signo, requestedAt }
            : { kind: "checkpoint" };
      this.ctrl.clear();
      this.lastState = state;
      if (onCapture?.(state, reason) !== "resume") return undefined;
    }
  }

  lastState: ThreadState | undefined;

  private captureThread(): ThreadState {
    this.global(UNWINDING_GLOBAL).value = 0;
    const frames = this.captured;
    this.captured = [];
    const globals: [string, number | bigint][] = [];
    for (const [name, g] of this.globals()) globals.push([name, g.value as number | bigint]);
    return { frames, globals };
  }

  /** A stopped thread and the memory's non-zero pages, as one image. */
  image(t: ThreadState = this.lastState!): ProcessImage {
    return {
      moduleHash: this.program.sites!.moduleHash,
      args: this.opts.args,
      memory: capturePages(new Uint8Array(this.memory.buffer)),
      globals: t.globals,
      threads: [{ frames: t.frames }],
    };
  }

  /** Replaces this process's memory and instance with fresh ones holding `img`, ready to rewind. */
  restore(img: ProcessImage): void {
    const sites = this.requireSites();
    const from = img.where ? `${img.where}: ` : "";
    if (hex(img.moduleHash) !== hex(sites.moduleHash)) {
      throw new ImageError(
        `${from}image is of module ${hex(img.moduleHash).slice(0, 12)}…, ${this.program.name} is ${hex(sites.moduleHash).slice(0, 12)}… — restore it with the program it was taken from`,
      );
    }
    const state: ThreadState = { frames: img.threads[0]?.frames ?? [], globals: img.globals };
    this.mem = this.freshMemory();
    this.control = undefined;
    this.instantiate(); // runs no guest code: checkFrames needs it to know main
    this.checkFrames(state.frames, from);
    this.rewindingImage = from;
    const mem = this.memory;
    const have = mem.buffer.byteLength / 65536;
    if (img.memory.wasmPages > have) {
      try {
        mem.grow(img.memory.wasmPages - have);
      } catch {
        throw new ImageError(`${from}image has ${img.memory.wasmPages} wasm pages of memory, more than ${this.program.name}'s memory can grow to`);
      }
    }
    const bytes = new Uint8Array(mem.buffer);
    for (const [index, data] of img.memory.pages) {
      if (data.length !== PAGE_SIZE || index < 0 || (index + 1) * PAGE_SIZE > bytes.length) throw new ImageError(`${from}image page ${index} is out of range`);
      bytes.set(data, index * PAGE_SIZE);
    }
    this.resumeInstance(state, from);
  }

  /**
   * Resumes a stopped thread on this process's memory, which already holds
   * the right bytes. The instance it stopped in is reused: once unwound it
   * holds nothing but globals, and those are written back.
   */
  resume(state: ThreadState): void {
    this.requireSites();
    if (!this.ex) this.instantiate();
    this.checkFrames(state.frames);
    this.rewindingImage = undefined;
    this.resumeInstance(state);
  }

  private resumeInstance(state: ThreadState, from = ""): void {
    const globals = this.globals();
    if (state.sysResult !== undefined) this.sysResult = state.sysResult;
    for (const [name, value] of state.globals) {
      const g = globals.get(name);
      if (!g) throw new ImageError(`${from}image has global ${name}, the program does not`);
      if (typeof value !== typeof g.value) throw new ImageError(`${from}image has global ${name} = ${String(value)}, the program's is a ${typeof g.value}`);
      g.value = value;
    }
    this.rewindQueue = [...state.frames]; // innermost first: pop() yields the outermost
    this.resuming = true;
    this.armPoints(); // after the memory: it holds the old control word
    this.ctrl.rewind();
  }

  private requireSites() {
    const sites = this.program.sites;
    if (!sites) throw new ImageError(`${this.program.name}: a plain module cannot be restored — compile it with \`popcorn compile\``);
    return sites;
  }

  /**
   * Refuses frames the program could not have left: unknown sites, values
   * that do not fit, and frames that do not chain — innermost first, the
   * thread stopped at a point (entry, loop, explicit), every frame outside
   * it at a call, and the outermost in the function the thread starts in
   * (main, or a spawned thread's function; when the name section names it).
   * A direct call's site names the function it calls (sites.ts callee): the
   * frame inside it must be in that function. An indirect call's does not:
   * a chain that passes here and still does not fit fails while rewinding,
   * and misfit() refuses it then.
   */
  private checkFrames(frames: Frame[], from = ""): void {
    const sites = this.requireSites();
    if (!frames.length) throw new ImageError(`${from}image has no frames to resume`);
    for (const [i, f] of frames.entries()) {
      const site = sites.sites[f.site];
      if (!site) throw new ImageError(`${from}image frame names site ${f.site}, the program has ${sites.sites.length}`);
      if ((i > 0) !== (site.kind === "call")) {
        const why = i > 0 ? "a frame outside another stops at a call site" : "the innermost frame stops at a migration point";
        throw new ImageError(
          `${from}image does not fit ${this.program.name}: its frame ${i} (innermost 0) is at ${site.kind} site ${f.site} in ${site.func}, but ${why} — ` +
            "take the image again with `popcorn run --stop-at` and this program",
        );
      }
      const inner = i > 0 ? sites.sites[frames[i - 1]!.site]!.func : undefined;
      if (site.callee !== undefined && inner !== site.callee) {
        throw new ImageError(
          `${from}image does not fit ${this.program.name}: its frame ${i} (innermost 0) is at call site ${f.site} in ${site.func}, which calls ${site.callee}, ` +
            `but the frame inside it is in ${inner} — take the image again with \`popcorn run --stop-at\` and this program`,
        );
      }
      if (site.values.length !== f.values.length) {
        throw new ImageError(`${from}image frame at site ${f.site} (${site.func}) has ${f.values.length} values, the site has ${site.values.length}`);
      }
      site.values.forEach((v, j) => {
        if (!fitsType(f.values[j]!, v.type)) {
          throw new ImageError(`${from}image frame at site ${f.site} (${site.func}): value ${v.name} is ${String(f.values[j])}, not a valid ${v.type}`);
        }
      });
    }
    const outermost = sites.sites[frames[frames.length - 1]!.site]!.func;
    const entry = this.entryName();
    if (entry !== undefined && outermost !== entry) {
      const where = this.opts.entry ? `thread ${this.opts.tid}'s function ${entry}` : "main";
      throw new ImageError(
        `${from}image does not fit ${this.program.name}: its outermost frame is in ${outermost}, not in ${where} — ` +
          "take the image again with `popcorn run --stop-at` and this program",
      );
    }
  }

  /**
   * The name-section name of the function the thread starts in (main, or a
   * spawned thread's function), or undefined if the module does not name it.
   * An exported function's (and a table function's) `name` is its function
   * index in the module (the JS API's rule).
   */
  private entryName(): string | undefined {
    const entry = this.opts.entry;
    const f = entry ? (this.ex[TABLE_EXPORT] as WebAssembly.Table | undefined)?.get(entry.fn) : this.ex.main;
    const index = Number((f as { name?: unknown } | null | undefined)?.name);
    return Number.isInteger(index) ? namesIn(this.program.module).get(index) : undefined;
  }

  private requestMigration(to: number): void {
    if (!this.instrumented) return;
    if (to < 0 || to >= this.opts.kernel.count) {
      const why = `migration to kernel ${to} refused: no such kernel (kernels 0..${this.opts.kernel.count - 1}) — staying on kernel ${this.opts.kernel.id}`;
      this.opts.stderr(`popcorn: ${why}`);
      this.opts.log?.(why);
      return;
    }
    // a stop the kernel asked for (a kill, or its own migration request) wins over the program's;
    // a time-slice yield does not: leaving gives up the core as well
    const signo = this.ctrl.signal();
    if (signo && signo !== SIG_YIELD) return;
    this.ctrl.request({ dest: to });
  }

  /** The thread runs again once its last frame and value have been handed back. */
  private resumed(): void {
    if (this.resuming && !this.rewindQueue.length && !this.restoring.length) {
      this.resuming = false;
      this.onResumed?.();
    }
  }

  /**
   * Whether a rewind is under way: frames or values still to hand back, or
   * the point the thread stopped at not reached yet (it clears CTRL_REWIND;
   * the innermost frame's function dispatches to it after taking its values).
   */
  private rewinding(): boolean {
    return this.rewindQueue.length > 0 || this.restoring.length > 0 || (this.instrumented && (this.ctrl.value & CTRL_REWIND) !== 0);
  }

  private runtimeImports(): Record<string, (...a: never[]) => unknown> {
    const rt: Record<string, (...a: never[]) => unknown> = {
      rewind_frame: () => {
        const f = this.rewindQueue.pop();
        if (!f) throw new ProcessError("rewind: more frames were asked for than the image holds");
        this.restoring = this.layout().whole(f.site, f.values).reverse();
        this.resumed();
        return f.site;
      },
    };
    // restore_I takes an i64 (a bigint), the others a number: a value of the other kind is a frame of another function
    const next = (i64: boolean) => (): Value => {
      if (!this.restoring.length) throw new ProcessError("rewind: a frame has fewer values than its function restores");
      const v = this.restoring.pop()!;
      if ((typeof v === "bigint") !== i64) throw new ProcessError(`rewind: a frame holds ${typeof v === "bigint" ? "an i64" : "a number"} where its function restores ${i64 ? "an i64" : "a number"}`);
      this.resumed();
      return v;
    };
    rt.restore_i = rt.restore_f = rt.restore_F = next(false);
    rt.restore_I = next(true);
    for (const imp of WebAssembly.Module.imports(this.program.module)) {
      if (imp.module !== RT_MODULE || !imp.name.startsWith("save_")) continue;
      // a frame too large for one call comes in parts: save_more_<sig> first, then save_<sig> with its site
      if (imp.name.startsWith("save_more_")) rt[imp.name] = (...raw: (number | bigint)[]) => void this.savedParts.push(...raw);
      else {
        rt[imp.name] = (site: number, ...raw: (number | bigint)[]) => {
          const all = this.savedParts.length ? [...this.savedParts.splice(0), ...raw] : raw;
          this.captured.push({ site, values: this.layout().live(site, all) });
        };
      }
    }
    return rt;
  }

  private layout(): FrameLayout {
    if (!this.program.sites) throw new ProcessError(`${this.program.name} has no popcorn.sites section — compile it with \`popcorn compile\``);
    return FrameLayout.of(this.program.sites);
  }

  private global(name: string): WebAssembly.Global {
    return this.ex[name] as WebAssembly.Global;
  }

  /** Export names of the program's mutable globals: a property of the module, found once. */
  private mutableGlobals: string[] | undefined;

  /** Exported mutable globals of the program (the per-thread popcorn globals are not among them). */
  private globals(): Map<string, WebAssembly.Global> {
    this.mutableGlobals ??= Object.entries(this.ex)
      .filter(([k]) => k.startsWith(GLOBAL_EXPORT_PREFIX))
      .filter(([, v]) => {
        const g = v as WebAssembly.Global;
        try {
          g.value = g.value; // immutable globals throw; they need no saving
          return true;
        } catch {
          return false;
        }
      })
      .map(([k]) => k);
    return new Map(this.mutableGlobals.map((k) => [k, this.ex[k] as WebAssembly.Global]));
  }

  /**
   * A failure while rewinding an image read back — a trap, a frame too few
   * or too many, a value handed to a restore of another type (a TypeError at
   * the wasm boundary) — as an ImageError naming the image (see
   * checkFrames); any other, and any once the rewind is over, as it is.
   */
  private misfit(e: unknown): unknown {
    if (this.rewindingImage === undefined || !(e instanceof ProcessError || e instanceof TypeError) || !this.rewinding()) return e;
    const from = this.rewindingImage;
    this.rewindingImage = undefined;
    return new ImageError(
      `${from}image does not fit ${this.program.name}: its frames do not chain (${e.message}) — take the image again with \`popcorn run --stop-at\` and this program`,
      { cause: e },
    );
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof ProcessError || e instanceof ImageError) throw e;
      if (e instanceof WebAssembly.RuntimeError) throw new ProcessError(`${this.program.name}: trap: ${e.message}${wasmFrames(e)}`, { cause: e });
      // the guest's own failures, as a trap is: its abort() (guest.ts), and a recursion deeper than the host's stack
      if (e instanceof ProgramError) throw new ProcessError(e.message, { cause: e });
      if (e instanceof RangeError && /call stack/i.test(e.message)) {
        throw new ProcessError(`${this.program.name}: trap: call stack exhausted (a recursion too deep)${wasmFrames(e)}`, { cause: e });
      }
      throw e;
    }
  }
}

/** Function index → name, from a module's name section, read once per module. */
const namesOf = new WeakMap<WebAssembly.Module, Map<number, string>>();

function namesIn(module: WebAssembly.Module): Map<number, string> {
  let names = namesOf.get(module);
  if (!names) {
    const section = WebAssembly.Module.customSections(module, "name")[0];
    names = section ? functionNames(section) : new Map<number, string>();
    namesOf.set(module, names);
  }
  return names;
}

/** Whether a frame value holds a value of Wasm type `type`: what the restore_<t> imports can hand back as it is. */
function fitsType(v: Value, type: string): boolean {
  switch (type) {
    case "i32":
      return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 32;
    case "f32":
    case "f64":
      return typeof v === "number";
    case "i64":
      return typeof v === "bigint";
    case "v128":
      return Array.isArray(v) && v.length === 2 && typeof v[0] === "bigint" && typeof v[1] === "bigint";
    default:
      return true;
  }
}
