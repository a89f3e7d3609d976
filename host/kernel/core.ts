/**
 * A core: one worker thread of a kernel, running guest code.
 *
 * While a guest thread runs, its core's JavaScript thread does nothing else;
 * the kernel's control thread stops it by writing its control word. So a core
 * takes one job at a time from its control thread (start a process, take in
 * an arriving one, resume one whose migration was refused), runs it until it
 * exits or stops at a migration point, and reports back.
 *
 * Departure, on the source core, once the thread has unwound to portable
 * frames:
 *
 *   lower    frames → native image of this kernel's ISA   (its stackmap)
 *   rewrite  native image A → native image B              (both stackmaps)
 *   pages    markDirty + collect: the pages B lacks       (memory/replica.ts)
 *   encode   one MigrateMessage, handed to the control thread as bytes
 *
 * Arrival, on the destination core: decode, apply the pages, lift the
 * native image to portable frames with this ISA's stackmap, and rewind.
 * Each phase is timed (µs) and reported with the migration.
 */
import type { MessagePort } from "node:worker_threads";
import { profile } from "../isa/index.js";
import { PAGE_SIZE, Replica, pageBytes, type ReplicaParts } from "../memory/index.js";
import { dumpImage, traceFrames } from "./trace.js";
import { decodeMessage, encodeMessage, isShared, MessageRing, releaseMessage, type MigrateMessage } from "../msg/index.js";
import { lift, lower, rewrite } from "../transform/index.js";
import { now } from "./control-word.js";
import type { CoreJob, CoreReport, ProcessMeta } from "./jobs.js";
import { Process, ProcessError, type ThreadState } from "./process.js";
import { loadProgram, type Program } from "./program.js";

export interface CoreConfig {
  kernel: number;
  core: number;
  /** the ISA of every kernel, by kernel id */
  isas: string[];
  /** record every departure's stacks and transformation (popcorn run --trace) */
  trace?: boolean;
}

/** Signals a process can be stopped with; 35 is Popcorn's migration signal. */
export const SIGMIGRATE = 35;

/** What a core keeps of a process that has run on it. */
interface Resident {
  process: Process;
  replica: Replica;
  /** the replica generation the control thread has (parts travel only when they change) */
  sentGeneration: number;
  /** while its migration is in flight: what to resume if the destination refuses */
  leaving?: { state: ThreadState; meta: ProcessMeta };
}

export class Core {
  private readonly programs = new Map<string, Program>();
  private readonly resident = new Map<number, Resident>();
  /** where this core encodes the migrations it sends (msg/ring.ts) */
  private readonly ring = new MessageRing();

  constructor(
    private readonly cfg: CoreConfig,
    private readonly port: MessagePort,
  ) {
    port.on("message", (job: CoreJob) => this.take(job));
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
          return this.start(job.meta, job.programBytes);
        case "arrive":
          return this.arrive(job.raw, job.programBytes, job.parts);
        case "resume":
          return this.resumeHere(job.pid, job.why);
        case "reap":
          this.resident.delete(job.pid);
          return;
        case "settled": {
          const r = this.resident.get(job.pid);
          if (r) r.leaving = undefined;
          return;
        }
        case "isas":
          this.cfg.isas.splice(0, this.cfg.isas.length, ...job.isas);
          return;
      }
    } catch (e) {
      this.log(`core ${this.cfg.core}: ${(e as Error).message}`);
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

  private newProcess(program: Program, meta: ProcessMeta, memory?: WebAssembly.Memory): Process {
    return new Process(program, {
      args: meta.args,
      kernel: { id: this.cfg.kernel, isa: this.cfg.isas[this.cfg.kernel]!, count: this.cfg.isas.length },
      stdout: (line) => this.post({ t: "output", pid: meta.pid, stream: 1, line }),
      stderr: (line) => this.post({ t: "output", pid: meta.pid, stream: 2, line }),
      log: (line) => this.log(`pid ${meta.pid}: ${line}`),
      memory,
    });
  }

  /** The replica's parts if the control thread does not have this generation of them yet. */
  private newParts(r: Resident): ReplicaParts | undefined {
    if (r.sentGeneration === r.replica.generation) return undefined;
    r.sentGeneration = r.replica.generation;
    return r.replica.parts();
  }

  private start(meta: ProcessMeta, bytes: Uint8Array | undefined): void {
    const program = this.program(meta, bytes);
    const p = this.newProcess(program, meta);
    try {
      p.boot();
    } catch (e) {
      return this.exit(meta.pid, e);
    }
    if (!p.instrumented) return this.execute(p, meta, undefined); // a plain program: it cannot migrate
    const r: Resident = { process: p, replica: Replica.fresh(p.memory), sentGeneration: -1 };
    this.resident.set(meta.pid, r);
    this.execute(p, meta, r);
  }

  private resumeHere(pid: number, why: string): void {
    const r = this.resident.get(pid);
    if (!r?.leaving) return this.log(`pid ${pid}: nothing to resume on core ${this.cfg.core}`);
    const { state, meta } = r.leaving;
    r.leaving = undefined;
    r.process.resume(state);
    this.log(`pid ${pid} resumes on kernel ${this.cfg.kernel}: ${why}`);
    this.execute(r.process, meta, r);
  }

  /** Takes in a migrated process: `raw` is its migrate message, released here once read. */
  private arrive(raw: Uint8Array, bytes: Uint8Array | undefined, parts: ReplicaParts | undefined): void {
    const t0 = now();
    let released = false;
    const release = () => {
      // once only: the producer may reuse the buffer as soon as it is released
      if (!released) releaseMessage(raw);
      released = true;
    };
    let msg: MigrateMessage;
    try {
      msg = decodeMessage(raw, "the transport") as MigrateMessage;
    } catch (e) {
      release();
      throw e;
    }
    const meta: ProcessMeta = {
      pid: msg.pid, origin: msg.origin, name: msg.name, args: msg.args, program: msg.program,
      epoch: msg.epoch + 1, replicas: msg.replicas, schedule: msg.schedule,
    };
    // send: from the end of the source's last timed phase to arrival here (encode + transport)
    const phases = { ...msg.phases };
    phases.send = (t0 - msg.requestedAt) * 1000 - Object.values(msg.phases).reduce((a, b) => a + b, 0);
    let r: Resident;
    try {
      const program = this.program(msg, bytes);
      const isa = this.cfg.isas[this.cfg.kernel]!;
      const sites = program.sites;
      const sm = program.stackmaps.get(isa);
      if (!sites || !sm) throw new ProcessError(`${program.name} has no stackmap for ${isa} — recompile it with this popcorn`);
      if (msg.image.isa !== isa) throw new ProcessError(`the image is for ${msg.image.isa}, this kernel is ${isa}`);
      const known = this.resident.get(msg.pid);
      if (known && known.process.program === program && !parts) r = known;
      else {
        // first time on this core: the kernel's replica (from an earlier stay on another core) or a fresh one
        const replica = parts ? Replica.from(parts) : Replica.fresh(new WebAssembly.Memory(memoryDescriptor(program)));
        r = { process: this.newProcess(program, meta, replica.memory), replica, sentGeneration: parts ? replica.generation : -1 };
        this.resident.set(msg.pid, r);
      }
      let t = now();
      phases.decode = (t - t0) * 1000;
      r.replica.apply(msg.memory);
      phases.pages = (now() - t) * 1000;
      t = now();
      const frames = lift(msg.image, sites, sm, profile(isa));
      phases.lift = (now() - t) * 1000;
      const sizes = { memoryBytes: pageBytes(msg.memory), messageBytes: raw.length, stackBytes: msg.image.stack.length };
      release(); // everything kept has been copied out
      const resumeStart = now();
      const p = r.process;
      p.onResumed = () => {
        p.onResumed = undefined;
        const resumedAt = now();
        phases.resume = (resumedAt - resumeStart) * 1000;
        this.post({
          t: "arrived",
          pid: meta.pid,
          epoch: msg.epoch,
          from: msg.from,
          frames: msg.frames,
          ...sizes,
          totalUs: (resumedAt - msg.requestedAt) * 1000,
          phases,
        });
      };
      p.resume({ frames, globals: msg.globals });
    } catch (e) {
      release();
      this.post({ t: "refuse", pid: msg.pid, from: msg.from, reason: (e as Error).message });
      return;
    }
    this.execute(r.process, meta, r);
  }

  /** Runs a process until it exits or leaves this core. */
  private execute(p: Process, meta: ProcessMeta, r: Resident | undefined): void {
    let leaving: { state: ThreadState; to: number; requestedAt: number } | undefined;
    let killed = 0;
    let status: number | undefined;
    this.post({ t: "running", meta, parts: r && this.newParts(r), ctrlAddress: r ? p.ctrlAddress : 0 });
    this.followSchedule(p, meta);
    try {
      status = p.run((state, reason) => {
        if (reason.kind === "migrate" && reason.to !== this.cfg.kernel) {
          leaving = { state, to: reason.to, requestedAt: reason.requestedAt };
          return "stop";
        }
        if (reason.kind === "signal") {
          killed = reason.signo;
          return "stop";
        }
        if (reason.kind === "migrate") this.log(`pid ${meta.pid} asked to migrate to kernel ${reason.to}, where it already is`);
        p.resume(state);
        this.followSchedule(p, meta);
        return "resume";
      });
    } catch (e) {
      return this.exit(meta.pid, e);
    }
    if (status !== undefined) return this.post({ t: "exit", pid: meta.pid, status });
    if (killed) return this.post({ t: "exit", pid: meta.pid, status: 128 + killed, error: `killed by signal ${killed}` });
    if (leaving && r) this.depart(r, meta, leaving);
  }

  /** Arms the next step of the process's migration schedule, if it has one. */
  private followSchedule(p: Process, meta: ProcessMeta): void {
    const at = meta.schedule?.[0];
    if (at === undefined || !p.instrumented) return;
    meta.schedule = meta.schedule!.slice(1);
    p.ctrl.request({ dest: (this.cfg.kernel + 1) % this.cfg.isas.length, countdown: at });
  }

  private depart(r: Resident, meta: ProcessMeta, l: { state: ThreadState; to: number; requestedAt: number }): void {
    const p = r.process;
    const stoppedAt = now();
    const phases: Record<string, number> = { capture: (stoppedAt - l.requestedAt) * 1000 };
    const fromIsa = this.cfg.isas[this.cfg.kernel]!;
    const toIsa = this.cfg.isas[l.to];
    try {
      if (!toIsa) throw new ProcessError(`no kernel ${l.to}`);
      if (toIsa === "?") throw new ProcessError(`kernel ${l.to} has not joined yet (its ISA is unknown)`);
      const sites = p.program.sites!;
      const smA = p.program.stackmaps.get(fromIsa);
      const smB = p.program.stackmaps.get(toIsa);
      if (!smA || !smB) {
        throw new ProcessError(`${p.program.name} has no stackmap for ${smA ? toIsa : fromIsa} — recompile it with this popcorn`);
      }
      let t = now();
      const a = lower(l.state.frames, sites, smA, profile(fromIsa));
      phases.lower = (now() - t) * 1000;
      const source = this.cfg.trace ? dumpImage(a, profile(fromIsa)) : undefined; // before rewrite reuses a's buffers
      t = now();
      const { image, trace } = rewrite(a, smA, smB, profile(fromIsa), profile(toIsa), { trace: this.cfg.trace, sites });
      phases.rewrite = (now() - t) * 1000;
      t = now();
      r.replica.markDirty(meta.epoch);
      const replicas = new Map(meta.replicas);
      const memory = r.replica.collect(replicas.get(l.to) ?? -1);
      replicas.set(this.cfg.kernel, meta.epoch);
      replicas.set(l.to, meta.epoch);
      phases.dirty = (now() - t) * 1000;
      t = now();
      const msg: MigrateMessage = {
        t: "migrate",
        pid: meta.pid,
        origin: meta.origin,
        name: meta.name,
        args: meta.args,
        program: meta.program,
        epoch: meta.epoch,
        replicas: [...replicas],
        schedule: meta.schedule,
        image,
        globals: l.state.globals,
        memory,
        requestedAt: l.requestedAt,
        phases,
        from: this.cfg.kernel,
        frames: l.state.frames.length,
      };
      const bytes = encodeMessage(msg, (n) => this.ring.reserve(n) ?? new Uint8Array(n));
      phases.encode = (now() - t) * 1000;
      r.leaving = { state: l.state, meta };
      if (source && trace) {
        this.post({
          t: "trace",
          trace: {
            pid: meta.pid,
            epoch: meta.epoch,
            from: { kernel: this.cfg.kernel, isa: fromIsa },
            to: { kernel: l.to, isa: toIsa },
            phasesUs: { ...phases },
            frames: traceFrames(l.state.frames, sites),
            source,
            destination: dumpImage(image, profile(toIsa)),
            transform: trace,
            memory: { bytes: pageBytes(memory), pages: pageBytes(memory) / PAGE_SIZE, messageBytes: bytes.length },
          },
        });
      }
      this.post(
        { t: "depart", meta, to: l.to, bytes, parts: this.newParts(r), phases, frames: l.state.frames.length },
        isShared(bytes) ? [] : [bytes.buffer as ArrayBuffer],
      );
    } catch (e) {
      const why = `migration of pid ${meta.pid} to kernel ${l.to} (${toIsa ?? "none"}) failed: ${(e as Error).message} — staying on kernel ${this.cfg.kernel}`;
      this.post({ t: "output", pid: meta.pid, stream: 2, line: `popcorn: ${why}` });
      this.log(why);
      p.resume(l.state);
      this.execute(p, meta, r);
    }
  }

  private exit(pid: number, e: unknown): void {
    const error = e instanceof Error ? e.message : String(e);
    this.post({ t: "exit", pid, status: 1, error });
  }
}

export function memoryDescriptor(program: Program): WebAssembly.MemoryDescriptor {
  const lim = program.memory;
  if (!lim) throw new ProcessError(`${program.name} defines its own memory — only programs from \`popcorn compile\` can migrate`);
  return { initial: lim.initial, maximum: lim.maximum, shared: lim.shared } as WebAssembly.MemoryDescriptor;
}
