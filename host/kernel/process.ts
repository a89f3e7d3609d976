/**
 * A process on one kernel: instantiate, run `main`, capture and restore.
 *
 * Capture: the host sets CTRL_REQUEST in the thread's control word and a
 * countdown of points; the point that takes the countdown to zero unwinds,
 * calling `save_<sig>` once per frame (innermost first), and `main` returns to the host with `__popcorn_unwinding` set. The frames,
 * the mutable globals and the non-zero memory pages make a ProcessImage.
 *
 * Restore: a fresh instance, memory and globals written back, the frames
 * queued outermost first, CTRL_REWIND set, and `main` called again: each
 * function takes its frame with `rewind_frame`/`restore_<t>` and the point
 * the thread stopped at clears CTRL_REWIND.
 */
import {
  COUNTDOWN_OFFSET,
  CTRL_PTR_GLOBAL,
  CTRL_REQUEST,
  CTRL_REWIND,
  GLOBAL_EXPORT_PREFIX,
  INIT_MEMORY_EXPORT,
  RT_MODULE,
  START_EXPORT,
  UNWINDING_GLOBAL,
  hex,
} from "../toolchain/index.js";
import { type Frame, ImageError, type ProcessImage, type Value, capturePages, PAGE_SIZE } from "./image.js";
import { guestImports, type GuestHost } from "./guest.js";
import type { Program } from "./program.js";

export interface KernelInfo {
  id: number;
  isa: string;
  count: number;
}

/** Why a thread unwound, and what the host should do with the image. */
export type CaptureReason = { kind: "checkpoint" } | { kind: "migrate"; to: number };

export interface ProcessOptions {
  args: string[];
  kernel: KernelInfo;
  stdout(line: string): void;
  stderr(line: string): void;
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
  private ex!: Exports;
  private captured: Frame[] = [];
  private rewindQueue: Frame[] = [];
  private restoring: Value[] = [];
  private pendingMigration: number | undefined;

  constructor(readonly program: Program, readonly opts: ProcessOptions) {}

  get instrumented(): boolean {
    return this.program.sites !== undefined;
  }

  /** A fresh instance; `boot` also initializes memory and runs the start function. */
  private instantiate(): void {
    const host: GuestHost = {
      memory: () => this.ex.memory,
      args: this.opts.args,
      kernel: this.opts.kernel,
      stdout: this.opts.stdout,
      requestMigration: (to) => this.requestMigration(to),
    };
    const imports: WebAssembly.Imports = guestImports(this.program, host);
    if (this.instrumented) imports[RT_MODULE] = this.runtimeImports();
    this.instance = new WebAssembly.Instance(this.program.module, imports);
    this.ex = this.instance.exports as unknown as Exports;
  }

  /** Migration points fire only while main runs: not during initialization. */
  private armPoints(): void {
    if (!this.instrumented) return;
    const n = this.opts.nextCapture?.();
    this.setCtrl(n === undefined ? 0 : CTRL_REQUEST);
    this.setCountdown(n ?? 0);
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
   * Runs main to completion, capturing and restoring as asked; returns the
   * exit status. `onCapture` sees every image; returning "stop" ends the
   * run there (run returns undefined) with the image in `lastImage`.
   */
  run(onCapture?: (img: ProcessImage, reason: CaptureReason) => "resume" | "stop"): number | undefined {
    for (;;) {
      const status = this.guard(() => this.ex.main());
      if (this.rewindQueue.length || this.restoring.length) {
        throw new ProcessError(`rewind ended with ${this.rewindQueue.length} frames left — the image does not match the program`);
      }
      if (!this.instrumented || !this.global(UNWINDING_GLOBAL).value) return status;
      const image = this.captureImage();
      const reason: CaptureReason =
        this.pendingMigration !== undefined ? { kind: "migrate", to: this.pendingMigration } : { kind: "checkpoint" };
      this.pendingMigration = undefined;
      this.lastImage = image;
      if (onCapture?.(image, reason) === "stop") return undefined;
      this.restore(image);
    }
  }

  lastImage: ProcessImage | undefined;

  /** The state of a thread that has just unwound, as an image. */
  private captureImage(): ProcessImage {
    this.global(UNWINDING_GLOBAL).value = 0;
    const frames = this.captured;
    this.captured = [];
    const globals: [string, number | bigint][] = [];
    for (const [name, g] of this.globals()) globals.push([name, g.value as number | bigint]);
    return {
      moduleHash: this.program.sites!.moduleHash,
      args: this.opts.args,
      memory: capturePages(new Uint8Array(this.ex.memory.buffer)),
      globals,
      threads: [{ frames }],
    };
  }

  /** Replaces this process's instance with a fresh one holding `img`, ready to rewind. */
  restore(img: ProcessImage): void {
    const sites = this.program.sites;
    if (!sites) throw new ImageError(`${this.program.name}: a plain module cannot be restored — compile it with \`popcorn compile\``);
    if (hex(img.moduleHash) !== hex(sites.moduleHash)) {
      throw new ImageError(
        `image is of module ${hex(img.moduleHash).slice(0, 12)}…, ${this.program.name} is ${hex(sites.moduleHash).slice(0, 12)}… — restore it with the program it was taken from`,
      );
    }
    const frames = img.threads[0]?.frames ?? [];
    if (!frames.length) throw new ImageError("image has no frames to resume");
    for (const f of frames) {
      const site = sites.sites[f.site];
      if (!site) throw new ImageError(`image frame names site ${f.site}, the program has ${sites.sites.length}`);
      if (site.values.length !== f.values.length) {
        throw new ImageError(`image frame at site ${f.site} (${site.func}) has ${f.values.length} values, the site has ${site.values.length}`);
      }
    }
    this.instantiate();
    const mem = this.ex.memory;
    const have = mem.buffer.byteLength / 65536;
    if (img.memory.wasmPages > have) mem.grow(img.memory.wasmPages - have);
    const bytes = new Uint8Array(mem.buffer);
    for (const [index, data] of img.memory.pages) {
      if (data.length !== PAGE_SIZE || (index + 1) * PAGE_SIZE > bytes.length) throw new ImageError(`image page ${index} is out of range`);
      bytes.set(data, index * PAGE_SIZE);
    }
    const globals = this.globals();
    for (const [name, value] of img.globals) {
      const g = globals.get(name);
      if (!g) throw new ImageError(`image has global ${name}, the program does not`);
      g.value = value;
    }
    this.rewindQueue = [...frames]; // innermost first: pop() yields the outermost
    this.armPoints(); // after the memory: the image holds the old control word
    this.setCtrl(this.ctrl() | CTRL_REWIND);
  }

  private requestMigration(to: number): void {
    if (!this.instrumented) return;
    if (to < 0 || to >= this.opts.kernel.count) {
      this.opts.stderr(
        `popcorn: migration to kernel ${to} refused: no such kernel (kernels 0..${this.opts.kernel.count - 1}) — staying on kernel ${this.opts.kernel.id}`,
      );
      return;
    }
    this.pendingMigration = to;
    this.setCtrl(this.ctrl() | CTRL_REQUEST);
    this.setCountdown(1);
  }

  private runtimeImports(): Record<string, (...a: never[]) => unknown> {
    const rt: Record<string, (...a: never[]) => unknown> = {
      rewind_frame: () => {
        const f = this.rewindQueue.pop();
        if (!f) throw new ProcessError("rewind: more frames were asked for than the image holds");
        // a v128 travels as two i64 lanes, low first
        this.restoring = f.values.flatMap((v) => (Array.isArray(v) ? v : [v])).reverse();
        return f.site;
      },
    };
    const next = (): Value => {
      if (!this.restoring.length) throw new ProcessError("rewind: a frame has fewer values than its site");
      return this.restoring.pop()!;
    };
    rt.restore_i = rt.restore_I = rt.restore_f = rt.restore_F = next;
    for (const imp of WebAssembly.Module.imports(this.program.module)) {
      if (imp.module !== RT_MODULE || !imp.name.startsWith("save_")) continue;
      const sig = imp.name.slice(5);
      rt[imp.name] = (site: number, ...raw: (number | bigint)[]) => {
        const values: Value[] = [];
        for (let i = 0, r = 0; i < sig.length; i++) {
          if (sig[i] === "v") {
            values.push([raw[r] as bigint, raw[r + 1] as bigint]);
            r += 2;
          } else values.push(raw[r++]!);
        }
        this.captured.push({ site, values });
      };
    }
    return rt;
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

  private ctrlIndex(): number {
    return (this.global(CTRL_PTR_GLOBAL).value as number) >>> 2;
  }
  private ctrl(): number {
    return new Int32Array(this.ex.memory.buffer)[this.ctrlIndex()]!;
  }
  private setCtrl(v: number): void {
    new Int32Array(this.ex.memory.buffer)[this.ctrlIndex()] = v;
  }
  private setCountdown(v: number): void {
    new Int32Array(this.ex.memory.buffer)[this.ctrlIndex() + (COUNTDOWN_OFFSET >>> 2)] = v;
  }

  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof ProcessError || e instanceof ImageError) throw e;
      if (e instanceof WebAssembly.RuntimeError) throw new ProcessError(`${this.program.name}: trap: ${e.message}${wasmFrames(e)}`, { cause: e });
      throw e;
    }
  }
}

/** " in f <- g <- main" from a trap's stack, innermost first. */
function wasmFrames(e: Error): string {
  const names = (e.stack ?? "")
    .split("\n")
    .map((l) => /at (\S+) \(wasm:\/\//.exec(l)?.[1])
    .filter((n): n is string => !!n);
  return names.length ? ` in ${names.slice(0, 8).join(" <- ")}` : "";
}
