/**
 * A core: one worker thread of a kernel, running guest code.
 *
 * While a guest thread runs, its core's JavaScript thread does nothing else;
 * the kernel's control thread stops it by writing its control word. So a core
 * takes one job at a time from its control thread (start a process, start a
 * spawned thread, run a parked one, take in an arriving one), runs that
 * thread until it exits, parks (a syscall, the end of its time slice) or
 * leaves, reports how it ended, and says "free".
 *
 * A parked thread's state goes to the control thread: it may resume on any
 * core of the kernel. The process memory is the kernel's one replica
 * (memory/replica.ts), made by the control thread and handed to each core
 * once; releases and acquires of a kernel that is not the origin are the
 * control thread's, made one at a time, in order.
 *
 * Departure, on the source core, once the thread has unwound to portable
 * frames: "leaving" with the frames; the control thread sends the memory
 * ahead and makes the migrate message (departure.ts) — the thread no longer
 * writes memory.
 *
 * A syscall that usually completes at once (a lock, an unlock, an atomic
 * add) does not park the thread: the core asks its control thread and
 * waits in Atomics.wait on its answer word (sys-now.ts; the "up" report
 * carries the word), up to 20 ms before it parks the thread after all —
 * unless the control thread took the call, which may then ask the
 * process's origin on another kernel.
 *
 * A parked thread asked to migrate meanwhile (a signal 35 that came while
 * it stopped for a syscall, or before) is not resumed when its call is
 * done: it departs from the point it stopped at, the call's result in its
 * state, and sys_result() returns it on the destination.
 *
 * Arrival, on the destination core (its control thread has merged the
 * pages, and its transport has decoded the message): lift the native image
 * to portable frames with this ISA's stackmap, and rewind. Each phase is
 * timed (µs) and reported with the
 * migration, in one "arrived" report that also says the thread runs (no
 * "running" before it: the control thread wakes once per arrival).
 */
import type { MessagePort } from "node:worker_threads";
import { profile } from "../isa/index.js";
import { releaseMessage } from "../msg/index.js";
import { lift } from "../transform/index.js";
import { now } from "./control-word.js";
import { arrivingMeta, nextKernel, type CoreJob, type CoreReport, type ProcessMeta } from "./jobs.js";
import { Process, ProcessError, SIG_YIELD, type SysCall, type ThreadState } from "./process.js";
import { ctrlAddress } from "../toolchain/index.js";
import { loadProgram, type Program } from "./program.js";
import { SYS_NOW, SysAsker } from "./sys-now.js";
import { OutputCredit } from "./output-credit.js";

export interface CoreConfig {
  kernel: number;
  core: number;
  /** the ISA of every kernel, by kernel id */
  isas: string[];
}

/** Signals a process can be stopped with; 35 is Popcorn's migration signal. */
export const SIGMIGRATE = 35;
/** The signals that stop a whole process (SIGINT, SIGKILL, SIGTERM). */
export const STOP_SIGNALS: ReadonlySet<number> = new Set([2, 9, 13, 15]);
/** Every signal popcorn delivers; the kernel ignores the others. */
export const SIGNALS: readonly number[] = [...STOP_SIGNALS, SIGMIGRATE];

/** How a thread's run on this core ended. */
type Outcome =
  | { t: "exit"; status: number; error?: string }
  | { t: "leave"; state: ThreadState; to: number; requestedAt: number }
  | { t: "park"; state: ThreadState; call?: SysCall };

const key = (pid: number, tid: number) => `${pid}.${tid}`;

export class Core {
  private readonly programs = new Map<string, Program>();
  /** the process memories this core has been handed (the kernel's replicas: their memory is all a core touches), by pid */
  private readonly memories = new Map<number, WebAssembly.Memory>();
  /** threads' instances on this core, by "pid.tid" */
  private readonly instances = new Map<string, Process>();
  /** this core's answer word for syscalls made while the thread waits (sys-now.ts) */
  private readonly asker = new SysAsker();
  /** this core's output lines in flight to its control thread (output-credit.ts) */
  private readonly credit = new OutputCredit();

  constructor(
    private readonly cfg: CoreConfig,
    private readonly port: MessagePort,
  ) {
    port.on("message", (job: CoreJob) => this.take(job));
    this.post({ t: "up", sysNow: this.asker.buffer, output: this.credit.buffer });
  }

  private post(r: CoreReport, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(r, transfer);
  }

  private log(line: string): void {
    this.post({ t: "log", line });
  }

  private take(job: CoreJob): void {
    try {
      switch (job.t) {
        case "start":
          return this.start(job);
        case "spawn":
          return this.spawn(job);
        case "run":
          return this.runParked(job);
        case "arrive":
          return this.arrive(job);
        case "reap":
          this.memories.delete(job.pid);
          for (const k of [...this.instances.keys()]) if (k.startsWith(`${job.pid}.`)) this.instances.delete(k);
          return;
        case "isas":
          this.cfg.isas.splice(0, this.cfg.isas.length, ...job.isas);
          return;
      }
    } catch (e) {
      this.log(`core ${this.cfg.core}: ${(e as Error).message}`);
      // a thread that could not be started or run again ends with the reason, rather than wait for ever
      if (job.t === "start" || job.t === "spawn" || job.t === "run") this.exit(job.meta, e);
    } finally {
      if (job.t !== "reap" && job.t !== "isas") this.post({ t: "free" });
    }
  }

  private program(meta: { program: string; name: string }, bytes?: Uint8Array): Program {
    let p = this.programs.get(meta.program);
    if (!p) {
      if (!bytes) throw new ProcessError(`${meta.name}: program ${meta.program.slice(0, 12)}… is not on this core`);
      p = loadProgram(bytes, meta.name);
      this.programs.set(meta.program, p);
    }
    return p;
  }

  /** A thread's instance on this core, made afresh unless it has one in the same slot. */
  private instance(program: Program, meta: ProcessMeta, slot: number, memory: WebAssembly.Memory | undefined, fresh = false): Process {
    const k = key(meta.pid, meta.tid);
    const known = this.instances.get(k);
    if (known && !fresh && known.program === program && known.opts.slot === slot && known.opts.memory === memory) return known;
    const p = new Process(program, {
      args: meta.args,
      tid: meta.tid,
      slot,
      entry: meta.entry,
      syscalls: true,
      sysNow: (call) => this.sysNow(meta, call),
      kernel: { id: this.cfg.kernel, isa: this.cfg.isas[this.cfg.kernel]!, count: this.cfg.isas.length },
      stdout: (line) => this.output(meta.pid, 1, line),
      stderr: (line) => this.output(meta.pid, 2, line),
      log: (line) => this.log(`pid ${meta.pid}${meta.tid ? `.${meta.tid}` : ""}: ${line}`),
      memory,
    });
    this.instances.set(k, p);
    return p;
  }

  /** A line of the guest's output, once the control thread is not too far behind (output-credit.ts). */
  private output(pid: number, stream: 1 | 2, line: string): void {
    this.credit.posting(line);
    this.post({ t: "output", pid, stream, line });
  }

  /** A syscall made while the thread waits (sys-now.ts), for the calls that may complete at once. */
  private sysNow(meta: ProcessMeta, call: SysCall): number | undefined {
    if (!SYS_NOW.has(call.op)) return undefined;
    return this.asker.ask((seq) => this.post({ t: "sys-now", pid: meta.pid, tid: meta.tid, call, seq }));
  }

  /** A process's memory on this kernel (from `memory` if the control thread sent it with the job). */
  private memory(pid: number, memory: WebAssembly.Memory | undefined): WebAssembly.Memory | undefined {
    if (memory) this.memories.set(pid, memory);
    return this.memories.get(pid);
  }

  private start(job: Extract<CoreJob, { t: "start" }>): void {
    const request = job.request;
    const { meta } = job;
    const program = this.program(meta, job.programBytes);
    // none for a plain program: it defines its own memory and cannot migrate
    const p = this.instance(program, meta, job.slot, this.memory(meta.pid, job.memory));
    try {
      p.boot();
    } catch (e) {
      return this.exit(meta, e);
    }
    if (request && p.instrumented) p.ctrl.request(request);
    this.execute(p, meta);
  }

  private spawn(job: Extract<CoreJob, { t: "spawn" }>): void {
    const { meta } = job;
    const program = this.program(meta, job.programBytes);
    const memory = this.memory(meta.pid, job.memory);
    if (!memory) throw new ProcessError(`pid ${meta.pid}: thread ${meta.tid} spawned on core ${this.cfg.core}, which does not hold the process memory`);
    const p = this.instance(program, meta, job.slot, memory, true);
    try {
      p.spawn(job.globals, job.stackTop);
    } catch (e) {
      return this.exit(meta, e);
    }
    if (job.request) p.ctrl.request(job.request);
    this.execute(p, meta);
  }

  private runParked(job: Extract<CoreJob, { t: "run" }>): void {
    const { meta } = job;
    const program = this.program(meta, job.programBytes);
    const memory = this.memory(meta.pid, job.memory);
    if (!memory) throw new ProcessError(`pid ${meta.pid}: thread ${meta.tid} resumed on core ${this.cfg.core}, which does not hold the process memory`);
    const p = this.instance(program, meta, job.slot, memory);
    p.sysResult = job.result;
    const to = job.request?.dest;
    if (to !== undefined && to !== this.cfg.kernel && p.instrumented) {
      // a migration asked for while the thread was parked (or while it made the call it stopped for, which is done
      // now: job.result): it leaves from the point it stopped at, its call's result with it. Resumed here, it would
      // reach no point before its next call's — where the migration would wait for that call, and so on for ever.
      this.post({ t: "running", meta, ctrlAddress: ctrlAddress(job.slot) });
      // (a thread that stays after such a departure failed keeps the result in its state, and its job says 0)
      return this.leave(p, meta, { state: { ...job.state, sysResult: job.state.sysResult ?? job.result }, to, requestedAt: now() });
    }
    try {
      p.resume(job.state);
    } catch (e) {
      return this.exit(meta, e);
    }
    if (job.request) p.ctrl.request(job.request);
    if (job.why) this.log(`pid ${meta.pid}${meta.tid ? `.${meta.tid}` : ""} resumes on kernel ${this.cfg.kernel}: ${job.why}`);
    this.execute(p, meta);
  }

  /**
   * Takes in a migrated thread: its migrate message, decoded by the
   * transport on the control thread (a second decode here, of a message this
   * core sees once per arrival, ran cold: 60 µs in place of 6 warm); `raw`
   * is released here once the image is lifted.
   */
  private arrive(job: Extract<CoreJob, { t: "arrive" }>): void {
    const { raw, msg } = job;
    const t0 = now();
    let released = false;
    const release = () => {
      // once only: the producer may reuse the buffer as soon as it is released
      if (!released) releaseMessage(raw);
      released = true;
    };
    let meta: ProcessMeta;
    let p: Process;
    try {
      meta = arrivingMeta(msg);
      // send: from the end of the source's last timed phase to arrival here (see trace.ts)
      const phases = { ...msg.phases };
      phases.send = (t0 - msg.requestedAt) * 1000 - Object.values(msg.phases).reduce((a, b) => a + b, 0);
      const program = this.program(msg, job.programBytes);
      const isa = this.cfg.isas[this.cfg.kernel]!;
      const sites = program.sites;
      const sm = program.stackmaps.get(isa);
      if (!sites || !sm) throw new ProcessError(`${program.name} has no stackmap for ${isa} — recompile it with this popcorn`);
      if (msg.image.isa !== isa) throw new ProcessError(`the image is for ${msg.image.isa}, this kernel is ${isa}`);
      const memory = this.memory(msg.pid, job.memory);
      if (!memory) throw new ProcessError(`kernel ${this.cfg.kernel} has no memory for pid ${msg.pid} (its program defines its own memory?)`);
      // (program and memory are found, or on a first arrival the program compiled: "load")
      let t = now();
      phases.load = (t - t0) * 1000;
      // the pages came just before (the control thread merged them): their collection on the origin, their merge here
      // (both ran on the source before it lowered, rewrote and encoded: "ahead" on the source holds them)
      if (job.dirtyUs !== undefined) phases.dirty = job.dirtyUs;
      phases.pages = job.pagesUs ?? 0;
      const memoryBytes = job.memoryBytes ?? 0;
      const frames = lift(msg.image, sites, sm, profile(isa));
      phases.lift = (now() - t) * 1000;
      const sizes = { memoryBytes, messageBytes: raw.length, stackBytes: msg.image.stack.length };
      release(); // everything kept has been copied out
      const resumeStart = now();
      p = this.instance(program, meta, job.slot, memory);
      const runningMeta = { ...meta }; // as "running" would say it: before execute() follows the schedule
      p.onResumed = () => {
        p.onResumed = undefined;
        const resumedAt = now();
        phases.resume = (resumedAt - resumeStart) * 1000;
        this.post({
          t: "arrived",
          meta: runningMeta,
          ctrlAddress: p.instrumented ? p.ctrlAddress : 0,
          pid: meta.pid,
          tid: meta.tid,
          epoch: msg.epoch,
          from: msg.from,
          frames: msg.frames,
          ...sizes,
          totalUs: (resumedAt - msg.requestedAt) * 1000,
          phases,
        });
      };
      p.resume({ frames, globals: msg.globals, sysResult: msg.sysResult });
      if (job.request) p.ctrl.request(job.request);
    } catch (e) {
      // anything this core cannot use is refused (the source resumes the thread), never left waiting
      release();
      this.post({ t: "refuse", pid: msg?.pid, tid: msg?.tid, from: msg?.from, reason: (e as Error).message });
      return;
    }
    this.execute(p, meta, true);
  }

  /**
   * Runs a thread until it exits, parks (syscall, yield) or leaves this core.
   * `arriving`: it is resumed from a migration, and its "arrived" report
   * (p.onResumed) says that it runs — or, if the run ends before it is
   * resumed, "running" goes first, so the control thread sees the usual order.
   */
  private execute(p: Process, meta: ProcessMeta, arriving = false): void {
    const running = { t: "running" as const, meta, ctrlAddress: p.instrumented ? p.ctrlAddress : 0 };
    if (!arriving) this.post(running);
    else running.meta = { ...meta };
    const ranBeforeResumed = () => {
      if (!arriving || !p.onResumed) return;
      p.onResumed = undefined;
      this.post(running);
    };
    this.followSchedule(p, meta);
    let out: Outcome | undefined;
    try {
      const status = p.run((state, reason) => {
        if (reason.kind === "sys") {
          out = { t: "park", state, call: reason.call };
          return "stop";
        }
        if (reason.kind === "migrate" && reason.to !== this.cfg.kernel) {
          out = { t: "leave", state, to: reason.to, requestedAt: reason.requestedAt };
          return "stop";
        }
        if (reason.kind === "signal" && reason.signo === SIG_YIELD) {
          out = { t: "park", state };
          return "stop";
        }
        if (reason.kind === "signal") {
          out = { t: "exit", status: 128 + reason.signo, error: `killed by signal ${reason.signo}` };
          return "stop";
        }
        if (reason.kind === "migrate") this.log(`pid ${meta.pid} asked to migrate to kernel ${reason.to}, where it already is`);
        p.resume(state);
        this.followSchedule(p, meta);
        return "resume";
      });
      if (status !== undefined) out = { t: "exit", status };
    } catch (e) {
      ranBeforeResumed();
      return this.exit(meta, e);
    }
    ranBeforeResumed();
    if (!out) return;
    if (out.t === "exit") {
      this.instances.delete(key(meta.pid, meta.tid));
      return this.post({ t: "exit", pid: meta.pid, tid: meta.tid, status: out.status, error: out.error });
    }
    if (out.t === "park") return this.post({ t: "stopped", meta, state: out.state, call: out.call });
    this.leave(p, meta, out);
  }

  /** Arms the next step of the thread's migration schedule, if it has one. */
  private followSchedule(p: Process, meta: ProcessMeta): void {
    const at = meta.schedule?.[0];
    if (at === undefined || !p.instrumented) return;
    meta.schedule = meta.schedule!.slice(1);
    p.ctrl.request({ dest: nextKernel(meta, this.cfg.kernel, this.cfg.isas.length), countdown: at });
  }

  /**
   * The thread stopped to migrate: the checks that need nothing but this
   * kernel's view, then "leaving" with its frames — the control thread sends
   * the memory ahead and makes the migrate message (departure.ts). A check
   * that fails resumes the thread here, at once.
   */
  private leave(p: Process, meta: ProcessMeta, l: { state: ThreadState; to: number; requestedAt: number }): void {
    const phases: Record<string, number> = { capture: (now() - l.requestedAt) * 1000 };
    const fromIsa = this.cfg.isas[this.cfg.kernel]!;
    const toIsa = this.cfg.isas[l.to];
    try {
      if (!toIsa) throw new ProcessError(`no kernel ${l.to}`);
      if (toIsa === "?") throw new ProcessError(`kernel ${l.to} has not joined yet (its ISA is unknown): is it running, with the same --peers list in the same order?`);
      if (meta.origin !== this.cfg.kernel && l.to !== meta.origin) {
        throw new ProcessError(
          `a thread moves between two kernels that are not its process's origin (kernel ${meta.origin}): not supported yet — migrate it to kernel ${meta.origin} first`,
        );
      }
      const { stackmaps } = p.program;
      if (!p.program.sites || !stackmaps.has(fromIsa) || !stackmaps.has(toIsa)) {
        throw new ProcessError(`${p.program.name} has no stackmap for ${stackmaps.has(fromIsa) ? toIsa : fromIsa} — recompile it with this popcorn`);
      }
    } catch (e) {
      const why = `migration of pid ${meta.pid}${meta.tid ? `.${meta.tid}` : ""} to kernel ${l.to} (${toIsa ?? "none"}) failed: ${(e as Error).message} — staying on kernel ${this.cfg.kernel}`;
      this.post({ t: "output", pid: meta.pid, stream: 2, line: `popcorn: ${why}` });
      this.log(why);
      p.resume(l.state);
      return this.execute(p, meta);
    }
    this.post({ t: "leaving", meta, to: l.to, state: l.state, requestedAt: l.requestedAt, phases });
  }

  private exit(meta: ProcessMeta, e: unknown): void {
    const error = e instanceof Error ? e.message : String(e);
    this.instances.delete(key(meta.pid, meta.tid));
    this.post({ t: "exit", pid: meta.pid, tid: meta.tid, status: 1, error });
  }
}
