/**
 * A kernel's control thread: its message endpoint, process and thread
 * tables, run queue, cores and log (dmesg). It never runs guest code: it
 * routes and schedules.
 *
 * Thread states on one kernel, and who moves them:
 *
 *   runnable ──dispatch──▶ starting ──core: running──▶ running ──core: stopped (syscall)──▶ blocked ──done──▶ runnable
 *      ▲                      │ └──core: stopped (slice over)──────────────────▶ runnable
 *      │                      ├──core: leaving──▶ leaving ──ack ok──▶ away
 *      │                      │                     └──ack refused / peer down──▶ runnable
 *      │                      └──core: exit──▶ gone
 *      └── a spawn, a start, or a migrate message from a peer (the "arrive" job)
 *
 * (An arriving thread's core says "arrived" instead of "running": the same
 * step, with the migration's record; the migrate-ack goes first.)
 *
 * The run queue holds every runnable thread with the job that runs it; a
 * free core takes the next. While threads wait, the running ones are asked
 * to yield (SIG_YIELD in their control word) when their time slice is
 * over, at their next migration point.
 *
 * Syscalls (toolchain/abi.ts SYS_*: spawn, join, mutex, barrier, atomic
 * add) are made at the process's origin, which holds its ProcessSync: a
 * thread elsewhere parks, its kernel sends `sys` with its release (diff),
 * and the origin answers `sys-done` with the pages that kernel lacks (the
 * acquire) once the call is done — so data-race-free programs see
 * sequentially consistent memory (memory/replica.ts). A thread does not
 * park for a lock that is free, an unlock or an atomic add: its core waits
 * while this thread makes the call (`sys-now`, sys-now.ts) — or, on another
 * kernel, sends it to the origin marked `now` and hands the core its
 * answer — and it stays running; dmesg counts both kinds at the origin,
 * at the process's end. A spawned thread
 * starts with its parent's globals on its parent's kernel — or, with a
 * scheduler, on the kernel the balance policy picks (`spawn`, after the
 * pages that kernel lacks).
 *
 * A kernel that is not where a thread runs forwards signals for it along
 * the way it went (`where`), or, at the origin, to the kernel its sync
 * table names. Signals for a thread that a core is starting wait until it
 * runs.
 * SIGMIGRATE for a parked thread is kept and asked for when it runs again:
 * its core does not resume it but sends it on from the point it stopped at,
 * with its syscall's result (core.ts runParked) — resumed, a thread whose
 * only points follow its syscalls would put the migration off at every call.
 *
 * A held process (hold: the daemon's client does not keep up with its
 * output) gets no core here: its running threads yield at their next
 * point, and its runnable ones wait in the run queue until it is let go —
 * by its client draining, its client going, or a stop signal.
 * A stop signal (2, 9, 13, 15) ends the whole process: it goes to its main
 * thread, and is remembered until main acts on it.
 *
 * Memory traffic per process (bytes of pages and diffs in and out of this
 * kernel) is counted for ps and dmesg.
 *
 * In cluster mode a migration whose link drops before its acknowledgement
 * resumes on the source (peerDown). If the message did arrive and only the
 * acknowledgement was lost, the destination runs the thread too — until it
 * hears of the drop: every migration has the process's origin at one end
 * (core.ts refuses any other), and a kernel drops every process whose
 * origin went away, so the copy that is not at the origin ends, and its
 * output and exit could not reach the origin meanwhile. The process runs
 * once (test/kernel/linkdrop.test.ts, both directions).
 */
import { Worker } from "node:worker_threads";
import { createHash } from "node:crypto";
import { diffBytes, pageBytes, Replica, type Diff } from "../memory/index.js";
import {
  encodeMessage,
  isShared,
  MessageRing,
  releaseMessage,
  type KernelMessage,
  type MigrateMessage,
  type SignalMessage,
  type SpawnInfo,
  type SysMessage,
  threadIdentity,
  type Transport,
} from "../msg/index.js";
import { CTRL_REQUEST, MAX_THREAD_SLOTS, memoryImport, SYS_ACQUIRE, SYS_ATOMIC_ADD, SYS_BARRIER, SYS_JOIN, SYS_LOCK, SYS_SPAWN, SYS_UNLOCK, SYS_YIELD } from "../toolchain/index.js";
import { profile } from "../isa/index.js";
import { ControlWord, now } from "./control-word.js";
import type { ClientLink, ClientReply, ClientRequest, PingResult, ProcessInfo, Scheduler } from "./client.js";
import { SIGMIGRATE, SIGNALS, STOP_SIGNALS } from "./core.js";
import { arrivingMeta, nextKernel, type CoreJob, type CoreReport, type ProcessMeta, type Request } from "./jobs.js";
import { SIG_YIELD, type SysCall, type ThreadState } from "./process.js";
import { ProcessSync, SyncError } from "./sync.js";
import { SYS_NOW, SysAnswer } from "./sys-now.js";
import { OutputTaken } from "./output-credit.js";
import { pickMove, type KernelLoad } from "./balance.js";
import { departure, DepartureError, type Departure, type ProgramMaps } from "./departure.js";
import { programMaps } from "./program.js";

export interface KernelConfig {
  id: number;
  /** the ISA of every kernel, by id */
  isas: string[];
  cores: number;
  /** wall-clock ms that dmesg times count from (the same for every kernel of a run) */
  bootAt: number;
  /** the worker script that runs a core */
  workerFile: string;
  /** record every migration's stacks and transformation for the client */
  trace?: boolean;
  /** every dmesg line as it is written (a kernel daemon prints them) */
  onLog?(line: string): void;
}

type State = "runnable" | "starting" | "running" | "blocked" | "leaving" | "away";

/** A process that has (had) a thread on this kernel. */
interface Proc {
  pid: number;
  origin: number;
  name: string;
  program: string;
  /** the kernel's replica of its memory (memory/replica.ts): the cores are handed its memory */
  replica?: Replica;
  /** on the origin: the client that started it, to which its output and exit go */
  owner?: ClientLink;
  /** on the origin: its threads and synchronization objects */
  sync?: ProcessSync;
  scheduler?: Scheduler;
  /** threads the balance policy asked to move, until they arrive (or MOVE_EXPIRES_MS pass): tid → destination, when asked */
  moving: Map<number, { to: number; at: number }>;
  /** control-word slots in use on this kernel */
  slots: Set<number>;
  /** the memory that came ahead of the thread that arrives next: the origin's pages here, or on the origin a kernel's release */
  /** by tid: the memory that came ahead of a thread on its way here (several may be on the way at once) */
  arrivalPages: Map<number, { bytes: number; collectUs: number; mergeUs: number; stale: boolean }>;
  /** bytes of memory (pages and diffs) that came in and went out */
  memIn: number;
  memOut: number;
  /** at the origin: syscalls made while their thread waited on its core (sys-now.ts), and after it stopped */
  sysWaited: number;
  sysStopped: number;
}

interface Thread {
  meta: ProcessMeta;
  state: State;
  core?: number;
  slot: number;
  ctrlAddress?: number;
  /** the kernel it went to last (forwarding pointer) */
  where?: number;
  /** while leaving: where to, and what to resume if the destination refuses */
  pending?: { to: number; state: ThreadState };
  /** the last "staying" line its process's stderr got (not repeated until a migration succeeds) */
  lastStay?: string;
  /** while parked (runnable or blocked): its state */
  parked?: ThreadState;
  /** while runnable: the job that runs it */
  job?: CoreJob;
  /** while blocked in an arrival's acquire: the job that takes it in once the acquire is done */
  waiting?: CoreJob;
  /** while its core waits on a syscall made at the origin (sys-now.ts): that core */
  waitsOn?: number;
  /** a stop to ask for as soon as it runs again */
  request?: Request;
  /** a migration written to its control word while it ran, until it is taken (leaving) or the thread parks */
  requested?: Request;
  queued: SignalMessage[];
  /**
   * on main: a stop signal (2, 9, 13, 15) delivered and not yet acted on: it
   * follows main if it leaves before its next migration point, and is
   * delivered again wherever it runs next — a kill is never lost to a
   * migration
   */
  stopping?: number;
  /** when it started running on its core (time slices) */
  since?: number;
  /** ms it has run since it last queued at the back of the run queue */
  sliceUsed?: number;
  stats: { migrationsIn: number; migrationsOut: number; bytesIn: number; bytesOut: number; lastUs?: number };
}

const SIGNAL_NAMES: Record<number, string> = { 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM", [SIGMIGRATE]: "SIGMIGRATE" };
const MAX_HOPS = 16;
/** pids given out by kernel k are (k + 1) * PID_SPAN + n */
export const PID_SPAN = 100_000;
/**
 * The stack (MB) of every thread that runs guest code — a kernel's cores, and
 * a one-kernel run's guest thread (cli/guest-thread.ts) — so that a program
 * recurses as deep on one as on the other. 4 is Node's default for a worker;
 * its main thread has ~1 MB.
 */
export const GUEST_STACK_MB = 4;
/** a running thread's time slice while others wait for a core */
export const SLICE_MS = 10;
/** the least a thread runs before a waking one takes its core */
const MIN_SLICE_MS = 1;
/** how often the origin of a balanced process looks at where its threads are */
const BALANCE_MS = 20;
/** how long a process's exit waits for the peers to have reaped it (exited): a peer that is slower is not waited for */
const PEERS_READ_WAIT_MS = 1000;
/** a move the balance policy asked for that has not happened by then is forgotten */
const MOVE_EXPIRES_MS = 1000;

const key = (pid: number, tid: number) => `${pid}.${tid}`;
/**
 * The error of thread `tid` as its process's error: "fib.wasm: trap: …" (a
 * guest's error names its program) → "fib.wasm: thread 2: trap: …", the
 * program named once; any other → "thread 2: …".
 */
const threadError = (program: string, tid: number, error: string) =>
  error.startsWith(`${program}: `) ? `${program}: thread ${tid}: ${error.slice(program.length + 2)}` : `thread ${tid}: ${error}`;
const name = (pid: number, tid: number) => (tid ? `${pid}.${tid}` : `${pid}`);

export class Kernel {
  private readonly procs = new Map<number, Proc>();
  private readonly threads = new Map<string, Thread>();
  /** processes that ended: a message about them that is still on its way is dropped */
  private readonly reaped = new Set<number>();
  /** threads of ended processes that a core was starting when they ended: stopped as soon as they run */
  private readonly zombies = new Map<string, WebAssembly.Memory>();
  /** peers that went down (cluster mode) and have not joined again: the balance policy leaves them out */
  private readonly down = new Set<number>();
  private readonly programs = new Map<string, { name: string; bytes: Uint8Array; maps?: ProgramMaps | null }>();
  /** "<kernel>:<hash>" of programs a peer has been sent */
  private readonly peerHas = new Set<string>();
  /** per core: the programs (by hash) and process replicas (by pid) it has been given, and the thread it runs */
  private readonly cores: { worker: Worker; answer?: SysAnswer; output?: OutputTaken; has: Set<string>; replicas: Set<number>; busy?: string; dead?: boolean }[] = [];
  private readonly runq: string[] = [];
  /** processes held for their client (hold): their threads here wait in the run queue; how often each was held */
  private readonly held = new Set<number>();
  /** clients whose processes are held (holdClient) */
  private readonly heldClients = new Set<ClientLink>();
  private readonly holds = new Map<number, number>();
  private coresUp = 0;
  private coresReady!: () => void;
  /** resolves once every core's worker has started: a kernel says it is ready then, so a first job does not wait for a worker to boot */
  readonly ready = new Promise<void>((resolve) => (this.coresReady = resolve));
  /** where this kernel's control thread encodes the messages that carry memory (pages, releases) */
  private readonly ring = new MessageRing();
  /** each kernel's measured speed (calibrate()), as far as it has told us */
  private readonly speeds: number[] = [];
  private slicer: ReturnType<typeof setInterval> | undefined;
  private balancer: ReturnType<typeof setInterval> | undefined;
  /** dmesg: lines, or functions that write them when the log is read */
  private readonly log: (string | (() => string))[] = [];
  private readonly isa: string;

  /** the clients attached to this kernel (the `popcorn run` of embedded mode; TCP clients in cluster mode) */
  private readonly clients = new Set<ClientLink>();
  private nextPid = 1;

  constructor(
    private readonly cfg: KernelConfig,
    private readonly transport: Transport,
  ) {
    this.isa = cfg.isas[cfg.id]!;
    for (let c = 0; c < cfg.cores; c++) {
      const worker = new Worker(cfg.workerFile, {
        workerData: { role: "core", kernel: cfg.id, core: c, isas: cfg.isas },
        resourceLimits: { stackSizeMb: GUEST_STACK_MB },
      });
      worker.on("message", (r: CoreReport) => this.fromCore(c, r));
      worker.on("error", (e) => this.coreCrashed(c, e));
      this.cores.push({ worker, has: new Set(), replicas: new Set() });
    }
    this.speeds[cfg.id] = calibrate();
    transport.onMessage((from, msg, raw) => this.fromPeer(from, msg, raw));
    transport.onError((from, e) => this.dmesg(`dropped a message from kernel ${from}: ${e.message}`));
    this.dmesg(
      `kernel ${cfg.id} (${this.isa}) up: ${cfg.cores} core${cfg.cores > 1 ? "s" : ""}, ${transport.kind} transport to kernels ${transport.peers.join(", ") || "none"}; ` +
        `on ${process.arch}, speed ${this.speeds[cfg.id]!.toFixed(0)} (calibration iterations per ms)`,
    );
    for (const k of transport.peers) this.tellSpeed(k);
  }

  /**
   * Adds a line to this kernel's log (dmesg). A line given as a function is
   * written when the log is read (at once if onLog wants every line): a
   * migration's lines were made on the next migration's path otherwise.
   * `at`: when it happened, if not now (a departure's line is written after
   * the send, which may have woken a thread that took this one's CPU).
   */
  dmesg(line: string | (() => string), at = now()): void {
    const entry = () => `[${((at - this.cfg.bootAt) / 1000).toFixed(6).padStart(12)}] kernel ${this.cfg.id} (${this.isa}): ${typeof line === "string" ? line : line()}`;
    if (this.cfg.onLog) {
      const text = entry();
      this.log.push(text);
      this.cfg.onLog(text);
    } else this.log.push(entry);
    if (this.log.length > 20000) this.log.splice(0, 10000);
  }

  /** The log's lines, each written once. */
  private logLines(): string[] {
    for (let i = 0; i < this.log.length; i++) {
      const e = this.log[i]!;
      if (typeof e !== "string") this.log[i] = e();
    }
    return this.log as string[];
  }

  // ---- clients (the `popcorn run` of embedded mode; run/ps/kill over TCP in cluster mode) ----

  /** A client link: its requests come in through the returned function; replies and its processes' output go out through `link`. */
  attach(link: ClientLink): (req: ClientRequest) => void {
    this.clients.add(link);
    return (req) => this.fromClient(req, link);
  }

  /** The client is gone: its processes run on, their output is dropped. */
  detach(link: ClientLink): void {
    this.clients.delete(link);
    this.holdClient(link, false);
  }

  /** The processes client `link` started here that have not ended. */
  pidsOf(link: ClientLink): number[] {
    return [...this.procs.values()].filter((p) => p.owner === link).map((p) => p.pid);
  }

  /** Holds (or lets go) every process client `link` started here, and those it starts while held (hold). */
  holdClient(link: ClientLink, on: boolean): void {
    if (on) this.heldClients.add(link);
    else this.heldClients.delete(link);
    for (const pid of this.pidsOf(link)) this.hold(pid, on);
  }

  /**
   * Holds process `pid` (on), or lets it go: while held, its threads on
   * this kernel get no core — running ones yield at their next migration
   * point and wait in the run queue, as a writer to a full pipe waits. The
   * daemon holds a process whose client does not keep up with its output
   * (daemon.ts). A stop signal lets it go, so that main can act on it.
   * Threads on other kernels, and a program without migration points, run on.
   */
  hold(pid: number, on: boolean): void {
    if (!on) {
      if (this.held.delete(pid)) this.dispatch();
      return;
    }
    if (this.held.has(pid) || !this.procs.has(pid)) return;
    this.held.add(pid);
    this.holds.set(pid, (this.holds.get(pid) ?? 0) + 1);
    for (const t of this.threads.values()) if (t.meta.pid === pid && t.state === "running") this.yieldIfHeld(t);
  }

  /** A running thread of a held process yields at its next point (one being started is asked once it runs: running()). */
  private yieldIfHeld(t: Thread): void {
    if (!this.held.has(t.meta.pid)) return;
    const ctrl = this.ctrlOf(t);
    if (ctrl && !(ctrl.value & CTRL_REQUEST)) ctrl.request({ signo: SIG_YIELD });
  }

  /** Whether thread `t` may take a core: not while its process is held (hold). */
  private mayRun(t: Thread): boolean {
    return !this.held.has(t.meta.pid);
  }

  /** Migration records and traces go to the clients that watch (the embedded client). */
  private toWatchers(r: ClientReply): void {
    for (const c of this.clients) if (c.watches) c.post(r);
  }

  private fromClient(m: ClientRequest, link: ClientLink): void {
    const reply = (req: number, data: unknown) => link.post({ t: "reply", req, data });
    switch (m.t) {
      case "exec":
        return this.exec(m, link, reply);
      case "signal":
        return this.signal({ t: "signal", pid: m.pid, tid: m.tid, signo: m.signo, to: m.to, hops: 0 });
      case "ps":
        return reply(m.req, this.ps());
      case "watch":
        link.watches = true;
        return;
      case "hold":
        return this.holdClient(link, m.on);
      case "dmesg":
        return reply(m.req, [...this.logLines()]);
      case "ping":
        return void this.pingSeries(m.to, m.size, m.count, link).then(
          (r) => reply(m.req, r),
          (e: Error) => reply(m.req, { rttUs: [], totalMs: 0, error: e.message }),
        );
      case "shutdown":
        return this.shutdown();
    }
  }

  private readonly pongs = new Map<number, () => void>();
  private nextPing = 1;

  /** `count` pings to kernel `to`, one after another (popcorn ping), while `client` (who asked) is attached. */
  private async pingSeries(to: number, size: number, count: number, client: ClientLink): Promise<PingResult> {
    const payload = new Uint8Array(size);
    const rttUs: number[] = [];
    const t0 = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        if (!this.clients.has(client)) throw new Error(`the client left after ${i} of ${count} pings`);
        const seq = this.nextPing++;
        const start = performance.now();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.pongs.delete(seq);
            reject(new Error(`kernel ${to} did not answer ping ${i} within 5 s`));
          }, 5000);
          timer.unref(); // a kernel that is stopping does not wait for it
          this.pongs.set(seq, () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            this.transport.send(to, { t: "ping", seq, payload });
          } catch (e) {
            clearTimeout(timer); // a peer that is down ends the series
            this.pongs.delete(seq);
            reject(e as Error);
          }
        });
        rttUs.push((performance.now() - start) * 1000);
      }
    } catch (e) {
      return { rttUs, totalMs: performance.now() - t0, error: (e as Error).message };
    }
    return { rttUs, totalMs: performance.now() - t0 };
  }

  /** Why the last sendTo/sendBig that failed did (for the lines that say a migration did not happen). */
  private lastSendError = "";

  /**
   * Sends to a peer kernel; false (and a dmesg line) if the transport cannot —
   * the TCP transport refuses to queue for a peer that is down, so that
   * nothing sent across a drop can arrive at a restarted kernel.
   */
  private sendTo(peer: number, msg: KernelMessage): boolean {
    try {
      this.transport.send(peer, msg);
      return true;
    } catch (e) {
      this.lastSendError = (e as Error).message;
      this.dmesg(`could not send ${msg.t} to kernel ${peer}: ${(e as Error).message}`);
      return false;
    }
  }

  /** Sends a message that carries memory: encoded once, into this kernel's ring of shared buffers (msg/ring.ts) when it has room. */
  private sendBig(peer: number, msg: KernelMessage): boolean {
    const bytes = encodeMessage(msg, (n) => this.ring.reserve(n) ?? new Uint8Array(n));
    try {
      this.transport.sendEncoded(peer, bytes);
      return true;
    } catch (e) {
      releaseMessage(bytes);
      this.lastSendError = (e as Error).message;
      this.dmesg(`could not send ${msg.t} to kernel ${peer}: ${(e as Error).message}`);
      return false;
    }
  }

  /** A core worker died: the processes with a thread on it end with the reason, rather than hang. */
  private coreCrashed(core: number, err: Error): void {
    this.dmesg(`core ${core} crashed: ${err.message}`);
    const c = this.cores[core]!;
    const k = c.busy;
    c.busy = undefined;
    c.dead = true;
    const t = k ? this.threads.get(k) : undefined;
    if (t) this.processFailed(t.meta.pid, `core ${core} of kernel ${this.cfg.id} crashed while it ran thread ${t.meta.tid}: ${err.message}`);
  }

  /** A peer kernel's ISA, learned when it joined (cluster mode): cores need it to rewrite stacks for it. */
  setIsa(kernel: number, isa: string): void {
    this.down.delete(kernel);
    this.tellSpeed(kernel);
    if (this.cfg.isas[kernel] === isa) return;
    this.cfg.isas[kernel] = isa;
    for (let c = 0; c < this.cores.length; c++) this.toCore(c, { t: "isas", isas: [...this.cfg.isas] });
  }

  /** Tells a peer how fast this kernel's machine is (--scheduler hetero); quietly, as a peer may not be up yet. */
  private tellSpeed(peer: number): void {
    try {
      this.transport.send(peer, { t: "speed", speed: this.speeds[this.cfg.id]! });
    } catch {
      // it will be told when it joins (setIsa)
    }
  }

  /** Ends the cores and the transport; the kernel's thread can exit. */
  shutdown(): void {
    clearInterval(this.slicer);
    clearInterval(this.balancer);
    for (const c of this.cores) void c.worker.terminate();
    this.transport.close();
    for (const c of this.clients) c.close?.();
    this.clients.clear();
  }

  /** Pids this kernel gives out: kernel id in the high digits, so a pid names its origin (cluster mode). */
  private allocatePid(): number {
    let pid: number;
    do {
      pid = (this.cfg.id + 1) * PID_SPAN + this.nextPid;
      this.nextPid = (this.nextPid % (PID_SPAN - 1)) + 1;
    } while (this.procs.has(pid) || this.reaped.has(pid));
    return pid;
  }

  private ps(): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (const t of this.threads.values()) {
      if (t.state === "away") continue;
      const p = this.procs.get(t.meta.pid);
      out.push({
        pid: t.meta.pid,
        tid: t.meta.tid,
        name: t.meta.name,
        kernel: this.cfg.id,
        isa: this.isa,
        arch: process.arch,
        state: t.state,
        origin: t.meta.origin,
        migrations: t.meta.epoch,
        ...t.stats,
        memIn: p?.memIn ?? 0,
        memOut: p?.memOut ?? 0,
        unread: this.ownerOf(t.meta.pid)?.unread?.(),
      });
    }
    return out;
  }

  // ---- processes, threads, cores ----

  private proc(meta: ProcessMeta): Proc {
    let p = this.procs.get(meta.pid);
    if (!p) {
      p = { pid: meta.pid, origin: meta.origin, name: meta.name, program: meta.program, moving: new Map(), slots: new Set(), memIn: 0, memOut: 0, sysWaited: 0, sysStopped: 0, arrivalPages: new Map() };
      this.procs.set(meta.pid, p);
    }
    return p;
  }

  private thread(meta: ProcessMeta, proc: Proc): Thread {
    const k = key(meta.pid, meta.tid);
    let t = this.threads.get(k);
    if (!t) {
      t = { meta, state: "runnable", slot: this.allocateSlot(proc), queued: [], stats: { migrationsIn: 0, migrationsOut: 0, bytesIn: 0, bytesOut: 0 } };
      this.threads.set(k, t);
    } else if (t.state === "away") {
      t.slot = this.allocateSlot(proc); // its slot was freed when it left, and may be another thread's now
    }
    t.meta = meta;
    return t;
  }

  private allocateSlot(proc: Proc): number {
    for (let s = 0; s < MAX_THREAD_SLOTS; s++) {
      if (!proc.slots.has(s)) {
        proc.slots.add(s);
        return s;
      }
    }
    throw new SyncError(`pid ${proc.pid} has ${MAX_THREAD_SLOTS} threads on kernel ${this.cfg.id}, the most a kernel can hold of one process`);
  }

  /** A core runs the thread now ("running", or an arrival's "arrived"): its control word takes signals. */
  private running(core: number, meta: ProcessMeta, ctrlAddress: number): void {
    const k = key(meta.pid, meta.tid);
    const t = this.threads.get(k);
    const zombie = this.zombies.get(k);
    if (zombie) {
      // its process ended while a core was starting it
      this.zombies.delete(k);
      return new ControlWord(zombie.buffer, ctrlAddress).request({ signo: 9 });
    }
    if (!t) return;
    t.meta = meta;
    t.state = "running";
    t.core = core;
    t.ctrlAddress = ctrlAddress;
    t.where = undefined;
    const queued = t.queued.splice(0);
    if (t.stopping && !queued.some((s) => s.signo === t.stopping)) queued.push({ t: "signal", pid: meta.pid, signo: t.stopping, hops: 0 });
    for (const s of queued) this.signal(s);
    this.yieldIfHeld(t); // held while a core was starting it
  }

  /** The thread is gone from this kernel: its slot is free. */
  private drop(t: Thread): void {
    for (const j of [t.job, t.waiting]) if (j?.t === "arrive") releaseMessage(j.raw);
    t.job = t.waiting = undefined;
    this.threads.delete(key(t.meta.pid, t.meta.tid));
    this.procs.get(t.meta.pid)?.slots.delete(t.slot);
  }

  /**
   * Queues a thread for the next free core. A thread that wakes (its
   * syscall is done, it arrives) goes first, and if every core is busy the
   * one that has run longest (at least MIN_SLICE_MS) yields at its next
   * point: a spawner, a lock holder or a migrated thread does not wait out
   * every sibling's slice. A thread whose slice ended, or a new one, goes last.
   */
  private runnable(t: Thread, job: CoreJob, wakes = false): void {
    t.state = "runnable";
    t.job = job;
    const k = key(t.meta.pid, t.meta.tid);
    // a thread that has used up its slice since it last queued at the back goes to the back, woken or not:
    // a thread making syscall after syscall does not keep the core from its siblings
    if (wakes && (t.sliceUsed ?? 0) < SLICE_MS) this.runq.unshift(k);
    else {
      wakes = false;
      t.sliceUsed = 0;
      this.runq.push(k);
    }
    this.dispatch();
    if (wakes && this.runq.includes(k) && this.mayRun(t)) this.preemptOne();
  }

  /** Asks the running thread that has run longest (and at least MIN_SLICE_MS) to yield its core. */
  private preemptOne(): void {
    const t0 = now();
    let victim: Thread | undefined;
    for (const c of this.cores) {
      const t = c.busy ? this.threads.get(c.busy) : undefined;
      if (!t || t.state !== "running" || !t.ctrlAddress || t0 - (t.since ?? t0) < MIN_SLICE_MS) continue;
      if (!victim || (t.since ?? t0) < (victim.since ?? t0)) victim = t;
    }
    const ctrl = victim && this.ctrlOf(victim);
    if (ctrl && !(ctrl.value & CTRL_REQUEST)) ctrl.request({ signo: SIG_YIELD });
  }

  /** Gives free cores the next runnable threads. */
  private dispatch(): void {
    for (;;) {
      const at = this.nextRunnable();
      if (at < 0) break;
      const k = this.runq[at]!;
      const t = this.threads.get(k)!;
      const free = this.cores.map((c, i) => (c.busy || c.dead ? -1 : i)).filter((i) => i >= 0);
      if (!free.length) break;
      // a core that already holds the process's replica, if one is free
      const core = free.find((c) => this.cores[c]!.replicas.has(t.meta.pid)) ?? free[0]!;
      this.runq.splice(at, 1);
      const job = t.job!; // nextRunnable took only a thread with its job
      t.job = undefined;
      t.state = "starting";
      t.core = core;
      t.since = now();
      this.cores[core]!.busy = k;
      if (job.t !== "reap" && job.t !== "isas") {
        job.programBytes = this.programFor(core, t.meta.program);
        const proc = this.procs.get(t.meta.pid);
        const c = this.cores[core]!;
        if (proc?.replica && !c.replicas.has(t.meta.pid)) {
          job.memory = proc.replica.memory;
          c.replicas.add(t.meta.pid);
        }
        if (t.request && (job.t === "start" || job.t === "run" || job.t === "arrive" || job.t === "spawn")) {
          job.request = t.request;
          t.request = undefined;
        }
      }
      this.toCore(core, job, job.t === "arrive" && !isShared(job.raw) ? [job.raw.buffer as ArrayBuffer] : []);
    }
    this.tickSlices();
  }

  /** Where in the run queue the first thread that may take a core is (-1: none); entries of threads that are no longer runnable are dropped. */
  private nextRunnable(): number {
    for (let i = 0; i < this.runq.length; ) {
      const t = this.threads.get(this.runq[i]!);
      if (!t || t.state !== "runnable" || !t.job) this.runq.splice(i, 1);
      else if (!this.mayRun(t)) i++;
      else return i;
    }
    return -1;
  }

  /** While threads wait for a core, the running ones yield at the end of their slice. */
  private tickSlices(): void {
    if (this.nextRunnable() >= 0 && !this.slicer) {
      this.slicer = setInterval(() => {
        if (this.nextRunnable() < 0) {
          clearInterval(this.slicer);
          this.slicer = undefined;
          return;
        }
        const t0 = now();
        for (const c of this.cores) {
          const t = c.busy ? this.threads.get(c.busy) : undefined;
          if (!t || t.state !== "running" || !t.ctrlAddress || t0 - (t.since ?? t0) < SLICE_MS) continue;
          const proc = this.procs.get(t.meta.pid);
          if (!proc?.replica) continue;
          const ctrl = new ControlWord(proc.replica.memory.buffer, t.ctrlAddress);
          if (!(ctrl.value & CTRL_REQUEST)) ctrl.request({ signo: SIG_YIELD });
        }
      }, SLICE_MS / 2);
    }
  }

  private programFor(core: number, hash: string): Uint8Array | undefined {
    const c = this.cores[core]!;
    if (c.has.has(hash)) return undefined;
    c.has.add(hash);
    return this.programs.get(hash)?.bytes;
  }

  private toCore(core: number, job: CoreJob, transfer: ArrayBuffer[] = []): void {
    this.cores[core]!.worker.postMessage(job, transfer);
  }

  private fromCore(core: number, r: CoreReport): void {
    switch (r.t) {
      case "log":
        return this.dmesg(r.line);
      case "output":
        this.cores[core]!.output?.taken(r.line);
        return this.output(r.pid, r.stream, r.line);
      case "free":
        this.cores[core]!.busy = undefined;
        return this.dispatch();
      case "up":
        this.cores[core]!.answer = new SysAnswer(r.sysNow);
        this.cores[core]!.output = new OutputTaken(r.output);
        if (++this.coresUp === this.cores.length) this.coresReady();
        return;
      case "sys-now":
        return this.sysNow(core, r);
      case "running":
        return this.running(core, r.meta, r.ctrlAddress);
      case "stopped": {
        const t = this.threads.get(key(r.meta.pid, r.meta.tid));
        const proc = this.procs.get(r.meta.pid);
        if (!t || !proc) return;
        t.meta = r.meta;
        t.parked = r.state;
        t.sliceUsed = (t.sliceUsed ?? 0) + (now() - (t.since ?? now()));
        // a request written to its control word as it stopped is asked for again when it runs
        const requested = t.requested;
        t.requested = undefined;
        if (r.state.migrateTo !== undefined) t.request = { dest: r.state.migrateTo, signo: SIGMIGRATE };
        else if (requested) t.request = requested;
        if (t.stopping && r.meta.tid === 0) return this.threadExit(r.meta.pid, 0, 128 + t.stopping, `killed by signal ${t.stopping}`);
        // its slice is over, or it yields: the back of the queue, here (a yield is no synchronization)
        if (!r.call || r.call.op === SYS_YIELD) {
          t.sliceUsed = SLICE_MS;
          return this.runnable(t, { t: "run", meta: t.meta, state: r.state, result: 0, slot: t.slot });
        }
        t.state = "blocked";
        if (proc.origin === this.cfg.id) return this.sys(proc, r.meta.tid, r.call, this.cfg.id);
        return this.sysAtOrigin(proc, r.meta.tid, r.call);
      }
      case "arrived": {
        // the source keeps the thread until this ack: it goes first, the bookkeeping after it
        this.sendTo(r.from, { t: "migrate-ack", pid: r.pid, tid: r.tid, ok: true });
        this.running(core, r.meta, r.ctrlAddress);
        const t = this.threads.get(key(r.pid, r.tid));
        const proc = this.procs.get(r.pid);
        if (t) {
          t.stats.migrationsIn++;
          t.stats.bytesIn += r.messageBytes;
          t.stats.lastUs = r.totalUs;
        }
        if (proc) {
          // (r.memoryBytes came ahead of the thread, and memIn counted it then: pages or applyRelease)
          proc.moving.delete(r.tid);
          proc.sync?.moved(r.tid, this.cfg.id);
        }
        const { t: _, meta: _meta, ctrlAddress: _ctrl, ...record } = r;
        this.toWatchers({ t: "migrated", record: { ...record, to: this.cfg.id } });
        this.dmesg(
          () =>
            `pid ${name(record.pid, record.tid)} migrated in from kernel ${record.from} (${this.cfg.isas[record.from]}): ${record.frames} frames, ` +
            `stack ${record.stackBytes} B, memory ${record.memoryBytes} B, message ${record.messageBytes} B; ` +
            `${record.totalUs.toFixed(0)} µs from request to running (${phaseText(record.phases)})`,
        );
        return;
      }
      case "leaving":
        return this.leaving(r);
      case "refuse": {
        const t = this.threads.get(key(r.pid, r.tid));
        if (t) {
          // signals that waited for the arrival go back with the thread
          for (const s of t.queued.splice(0)) this.sendTo(r.from, { ...s, hops: s.hops + 1 });
          this.drop(t);
        }
        this.dmesg(`pid ${name(r.pid, r.tid)} from kernel ${r.from} refused: ${r.reason}`);
        this.sendTo(r.from, { t: "migrate-ack", pid: r.pid, tid: r.tid, ok: false, reason: `kernel ${this.cfg.id}: ${r.reason}` });
        return;
      }
      case "exit":
        return this.threadExit(r.pid, r.tid, r.status, r.error);
    }
  }

  /** A thread returned, trapped, or was stopped by a signal. Main's exit (or any thread's error) ends the process. */
  private threadExit(pid: number, tid: number, status: number, error: string | undefined): void {
    const proc = this.procs.get(pid);
    const t = this.threads.get(key(pid, tid));
    if (!proc || this.reaped.has(pid)) return; // a thread stopped by the process's end
    if (t) this.drop(t);
    if (tid === 0 || error) {
      const why = tid && error ? threadError(proc.name, tid, error) : error;
      this.dmesg(`pid ${name(pid, tid)} exited with status ${status}${why ? `: ${why}` : ""}`);
      if (proc.origin === this.cfg.id) return this.exited(pid, status, why);
      this.sendTo(proc.origin, { t: "exit", pid, status, error: why });
      return;
    }
    if (proc.origin === this.cfg.id) return proc.sync?.exited(tid);
    const replica = proc.replica;
    if (!replica) return this.processFailed(pid, `thread ${tid} exited on a kernel that holds no memory of its process`);
    const diff = replica.diff();
    proc.memOut += diffBytes(diff);
    this.sendTo(proc.origin, { t: "thread-exit", pid, tid, diff });
  }

  private output(pid: number, stream: 1 | 2, line: string): void {
    const origin = this.procs.get(pid)?.origin ?? this.cfg.id;
    if (origin === this.cfg.id) this.ownerOf(pid)?.post({ t: "output", pid, stream, line });
    else this.sendTo(origin, { t: "output", pid, stream, line });
  }

  /**
   * A client starts a program: a process whose origin is this kernel. One
   * that cannot start (not WebAssembly, a memory no replica can follow) ends
   * at once with the reason; the kernel goes on.
   */
  private exec(m: Extract<ClientRequest, { t: "exec" }>, link: ClientLink, reply: (req: number, data: unknown) => void): void {
    const pid = m.pid ?? this.allocatePid();
    let why: string | undefined;
    try {
      if (!WebAssembly.validate(m.bytes as Uint8Array<ArrayBuffer>)) throw new Error(`${m.name} is not a WebAssembly module — compile it with \`popcorn compile\``);
      const hash = createHash("sha256").update(m.bytes).digest("hex");
      this.programs.set(hash, { name: m.name, bytes: m.bytes });
      const meta: ProcessMeta = { pid, tid: 0, origin: this.cfg.id, name: m.name, args: m.args, program: hash, epoch: 0, schedule: m.schedule };
      const proc = this.proc(meta);
      proc.owner = link;
      if (this.heldClients.has(link)) this.hold(pid, true); // its client is not keeping up already
      proc.sync = new ProcessSync(this.cfg.id, (tid, result) => this.sysDone(proc, tid, result));
      proc.scheduler = m.scheduler;
      if (m.scheduler) this.startBalancer();
      this.dmesg(`pid ${pid} ${m.name} started${m.args.length ? ` (args ${m.args.join(" ")})` : ""}`);
      const t = this.thread(meta, proc);
      this.ensureReplica(proc);
      this.runnable(t, { t: "start", meta, slot: t.slot });
    } catch (e) {
      why = (e as Error).message;
      this.dmesg(`pid ${pid} ${m.name} could not start: ${why}`);
      if (this.procs.has(pid)) this.reap(pid);
    }
    if (m.req !== undefined) reply(m.req, pid);
    if (why !== undefined) link.post({ t: "exit", pid, status: 1, error: why });
  }

  /** The process cannot go on (a crashed core, its origin unreachable): it ends with `why`. */
  private processFailed(pid: number, why: string): void {
    const proc = this.procs.get(pid);
    if (!proc) return;
    this.dmesg(`pid ${pid} failed: ${why}`);
    if (proc.origin === this.cfg.id) this.exited(pid, 1, why);
    else {
      this.sendTo(proc.origin, { t: "exit", pid, status: 1, error: why });
      this.reap(pid);
    }
  }

  /**
   * On the origin: the process is gone; every kernel drops it, then the
   * client is told. A client collects the kernels' logs as soon as it hears
   * of the exit, on links of its own that may overtake the reap: told first,
   * it would miss what a peer logs as it reaps (its memory traffic).
   */
  private exited(pid: number, status: number, error?: string): void {
    const owner = this.ownerOf(pid);
    this.reap(pid);
    const told = this.transport.peers.filter((k) => this.sendTo(k, { t: "reap", pid }));
    this.afterPeersRead(told, () => {
      if (owner && this.clients.has(owner)) owner.post({ t: "exit", pid, status, error });
    });
  }

  /**
   * `then`, once each of `peers` has handled everything this kernel sent it
   * so far: a ping goes after it on the same link, and its pong comes back.
   * A peer that cannot be reached, or does not answer within
   * PEERS_READ_WAIT_MS, is not waited for.
   */
  private afterPeersRead(peers: readonly number[], then: () => void): void {
    let left = peers.length;
    const seqs: number[] = [];
    const done = () => {
      clearTimeout(timer);
      for (const seq of seqs) this.pongs.delete(seq);
      then();
    };
    const timer = setTimeout(done, PEERS_READ_WAIT_MS);
    timer.unref(); // a kernel that is stopping does not wait for it
    const answered = () => {
      if (--left === 0) done();
    };
    for (const k of peers) {
      const seq = this.nextPing++;
      try {
        this.transport.send(k, { t: "ping", seq, payload: new Uint8Array(0) });
        seqs.push(seq);
        this.pongs.set(seq, answered);
      } catch {
        left--; // down since the reap: nothing to wait for
      }
    }
    if (left === 0) done();
  }

  /** The process is gone: its threads here stop (running ones at their next point), its replica is dropped. */
  private reap(pid: number): void {
    const proc = this.procs.get(pid);
    if (proc && (proc.sysWaited || proc.sysStopped)) {
      this.dmesg(`pid ${pid} syscalls made here: ${proc.sysWaited} while the thread waited on its core, ${proc.sysStopped} after it stopped`);
    }
    if (proc && (proc.memIn || proc.memOut)) {
      this.dmesg(`pid ${pid} memory traffic on this kernel: ${proc.memIn} B in, ${proc.memOut} B out (pages, diffs)`);
    }
    const holds = this.holds.get(pid);
    if (holds) this.dmesg(`pid ${pid} was held ${holds} time${holds > 1 ? "s" : ""}: its client did not keep up with its output`);
    this.held.delete(pid);
    this.holds.delete(pid);
    this.procs.delete(pid);
    this.reaped.add(pid);
    if (this.reaped.size > 10000) this.reaped.delete(this.reaped.values().next().value!);
    for (const [k, t] of [...this.threads]) {
      if (t.meta.pid !== pid) continue;
      this.threads.delete(k);
      if (t.state === "running" && t.ctrlAddress && proc?.replica) new ControlWord(proc.replica.memory.buffer, t.ctrlAddress).request({ signo: 9 });
      this.nowAnswered(t); // a core waiting on its syscall at the origin goes on, to the kill
      if (t.state === "starting" && proc?.replica) this.zombies.set(k, proc.replica.memory);
    }
    for (let c = 0; c < this.cores.length; c++) {
      this.cores[c]!.replicas.delete(pid);
      this.toCore(c, { t: "reap", pid });
    }
  }

  /**
   * A thread stopped on its core to migrate: its memory goes ahead, then its
   * migrate message (departure.ts), on the same link. It is "leaving" until
   * the destination acknowledges; anything that fails here resumes it.
   */
  private leaving(r: Extract<CoreReport, { t: "leaving" }>): void {
    const t = this.threads.get(key(r.meta.pid, r.meta.tid));
    const proc = this.procs.get(r.meta.pid);
    if (!t || !proc) return;
    t.requested = undefined;
    t.meta = r.meta;
    t.state = "leaving";
    t.pending = { to: r.to, state: r.state };
    if (this.down.has(r.to)) return this.stayAfterAll(t, `did not start: kernel ${r.to} is down`);
    const t0 = now();
    this.lastSendError = ""; // an earlier failure's reason is not this one's
    const memoryBytes = this.sendAhead(proc, r.to, r.meta.tid);
    if (memoryBytes === undefined) return this.stayAfterAll(t, `could not send the memory to kernel ${r.to} (${this.lastSendError || "its process has no memory here"})`);
    r.phases.ahead = (now() - t0) * 1000;
    let d: Departure;
    try {
      const maps = this.programMaps(proc.program);
      if (!maps) throw new DepartureError(`its program ${proc.program.slice(0, 12)}… is not on this kernel`);
      d = departure(maps, r, { kernel: this.cfg.id, isa: this.isa }, this.cfg.isas[r.to]!, {
        trace: this.cfg.trace,
        alloc: (n) => this.ring.reserve(n) ?? new Uint8Array(n),
      });
    } catch (err) {
      return this.stayAfterAll(t, `could not be made: ${(err as Error).message}`);
    }
    const sentAt = now();
    try {
      this.transport.sendEncoded(r.to, d.bytes);
    } catch (err) {
      releaseMessage(d.bytes);
      return this.stayAfterAll(t, `could not reach kernel ${r.to}: ${(err as Error).message}`);
    }
    if (d.trace) this.toWatchers({ t: "trace", trace: d.trace });
    const size = d.bytes.length;
    t.where = r.to;
    if (t.stopping) this.sendTo(r.to, { t: "signal", pid: r.meta.pid, tid: r.meta.tid, signo: t.stopping, hops: 1 });
    t.stats.migrationsOut++;
    t.stats.bytesOut += size;
    this.dmesg(
      // the line keeps only what it shows, not the report (its frames)
      ((who, to, frames, phases) => () =>
        `pid ${who} migrating to kernel ${to} (${this.cfg.isas[to]}): ${frames} frames, ` +
        `memory ${memoryBytes} B, message ${size} B (${phaseText(phases)})`)(name(r.meta.pid, r.meta.tid), r.to, r.state.frames.length, r.phases),
      sentAt,
    );
  }

  /** A program's sites and stackmaps, read from its bytes once (undefined: not here, or plain). */
  private programMaps(hash: string): ProgramMaps | undefined {
    const p = this.programs.get(hash);
    if (!p) return undefined;
    if (p.maps === undefined) p.maps = programMaps(p.bytes, p.name) ?? null;
    return p.maps ?? undefined;
  }

  /** A migration that did not happen (refused, or its destination unreachable): the thread resumes here. */
  private stayAfterAll(t: Thread, why: string): void {
    const pending = t.pending;
    t.pending = undefined;
    if (!pending) return;
    // (the destination merged the pages sent ahead of the thread, taking it or not: nothing to resend)
    this.procs.get(t.meta.pid)?.moving.delete(t.meta.tid);
    const line = `migration to kernel ${pending.to} ${why} — staying on kernel ${this.cfg.id}`;
    this.dmesg(`pid ${name(t.meta.pid, t.meta.tid)} ${line}`);
    // on the process's stderr once: a --migrate-every run to a kernel that is down would repeat it every few ms
    if (line !== t.lastStay) this.output(t.meta.pid, 2, `popcorn: pid ${name(t.meta.pid, t.meta.tid)}: ${line}`);
    t.lastStay = line;
    t.where = undefined;
    this.runnable(t, { t: "run", meta: t.meta, state: pending.state, result: 0, slot: t.slot, why: `its migration to kernel ${pending.to} did not happen` });
  }

  /**
   * A peer kernel is gone (cluster mode). Migrations to it still waiting for
   * its acknowledgement resume here; processes of this origin with threads
   * there are lost, and their clients are told which; processes whose
   * origin it was end here.
   */
  peerDown(peer: number, reason: string): void {
    this.dmesg(`kernel ${peer} (${this.cfg.isas[peer] ?? "?"}) left: ${reason}`);
    this.down.add(peer);
    // a kernel that comes back is a new kernel: it has none of our programs or pages
    for (const k of [...this.peerHas]) if (k.startsWith(`${peer}:`)) this.peerHas.delete(k);
    for (const t of [...this.threads.values()]) {
      if (t.state === "leaving" && t.pending?.to === peer) this.stayAfterAll(t, `lost its destination (${reason})`);
    }
    for (const proc of [...this.procs.values()]) {
      if (proc.origin === peer) {
        this.dmesg(`pid ${proc.pid} dropped: its origin, kernel ${peer}, went away`);
        this.reap(proc.pid);
        continue;
      }
      if (proc.origin !== this.cfg.id) continue;
      proc.replica?.forget(peer);
      const away = (tid: number) => (this.threads.get(key(proc.pid, tid))?.state ?? "away") === "away";
      const lost = proc.sync?.live().filter(([tid, row]) => row.kernel === peer && away(tid)).map(([tid]) => tid) ?? [];
      if (lost.length) {
        const which = lost.length === 1 && lost[0] === 0 ? "the process" : `thread${lost.length > 1 ? "s" : ""} ${lost.join(", ")}`;
        this.dmesg(`pid ${proc.pid} lost: ${which} ran on kernel ${peer}`);
        this.exited(proc.pid, 1, `lost: kernel ${peer} (${this.cfg.isas[peer] ?? "?"}) went away while ${which} ran there (${reason})`);
      }
    }
    this.forgetEndedOf(peer);
  }

  /**
   * A kernel's pids name it ((k + 1) * PID_SPAN + n), and one that restarts
   * gives them out again from n = 1: once it is gone, nothing more comes of
   * its old processes, and remembering them as ended would refuse its new
   * ones (their migrations and pages dropped as late arrivals).
   */
  private forgetEndedOf(peer: number): void {
    for (const pid of [...this.reaped]) if (Math.floor(pid / PID_SPAN) - 1 === peer) this.reaped.delete(pid);
  }

  /** The client that started `pid` here (on its origin), if it is still attached. */
  private ownerOf(pid: number): ClientLink | undefined {
    const owner = this.procs.get(pid)?.owner;
    return owner && this.clients.has(owner) ? owner : undefined;
  }

  /**
   * The kernel's replica of a process's memory, made on fresh memory the
   * first time the process comes here (cores are handed its parts). A plain
   * program defines its own memory: it has none.
   */
  private ensureReplica(proc: Proc): void {
    if (proc.replica) return;
    const bytes = this.programs.get(proc.program)?.bytes;
    const lim = bytes && memoryImport(bytes);
    if (!lim) return;
    const memory = new WebAssembly.Memory({ initial: lim.initial, maximum: lim.maximum, shared: lim.shared } as WebAssembly.MemoryDescriptor);
    proc.replica = Replica.fresh(memory, lim.maximum);
  }

  // ---- syscalls, at the origin ----

  /** Makes thread `tid`'s syscall; `from`: the kernel it is parked on (or waits on, `now`). */
  private sys(proc: Proc, tid: number, call: SysCall, from: number, now = false): void {
    proc.sync!.moved(tid, from);
    if (call.op !== SYS_ACQUIRE) now ? proc.sysWaited++ : proc.sysStopped++; // an acquire is the kernel's own (an arrival's, a stale merge's)
    if (call.op === SYS_SPAWN) return this.spawn(proc, tid, call, from);
    let result: number | undefined;
    try {
      result = this.perform(proc, tid, call);
    } catch (e) {
      return this.exited(proc.pid, 1, `thread ${tid}: ${(e as Error).message}`);
    }
    if (result !== undefined) this.sysDone(proc, tid, result);
  }

  /** A syscall other than spawn: its result, or undefined when it blocks the caller (woken with its result later); throws SyncError. */
  private perform(proc: Proc, tid: number, call: SysCall): number | undefined {
    const sync = proc.sync!;
    switch (call.op) {
      case SYS_JOIN:
        return sync.join(tid, call.a);
      case SYS_LOCK:
        return sync.lock(tid, call.a);
      case SYS_UNLOCK:
        return sync.unlock(tid, call.a);
      case SYS_BARRIER:
        return sync.barrier(tid, call.a, call.b);
      case SYS_ATOMIC_ADD:
        return this.atomicAdd(proc, call.a, call.b);
      case SYS_YIELD:
        return 0;
      case SYS_ACQUIRE:
        return call.a; // the result the caller waits to resume with
      default:
        throw new SyncError(`unknown syscall ${call.op}`);
    }
  }

  /**
   * A syscall of a thread that waits on core `core` (sys-now.ts), at the
   * origin: made if it completes at once, else the thread stops for it (and
   * it is made when the stopped thread comes, in sys()).
   */
  private sysNow(core: number, r: { pid: number; tid: number; call: SysCall; seq: number }): void {
    const answer = this.cores[core]!.answer;
    if (!answer) return;
    const t = this.threads.get(key(r.pid, r.tid));
    const proc = this.procs.get(r.pid);
    const { tid } = r;
    const { op, a } = r.call;
    if (!t || t.state !== "running" || !proc || !SYS_NOW.has(op)) return answer.park(r.seq);
    if (proc.origin !== this.cfg.id) return this.sysNowAtOrigin(core, answer, t, proc, r.call, r.seq);
    const sync = proc.sync;
    if (!sync || (op === SYS_LOCK && sync.lockWouldBlock(tid, a))) return answer.park(r.seq);
    if (!answer.claim(r.seq)) return; // the core stopped waiting: the call comes with the stopped thread
    let result: number | undefined;
    try {
      sync.moved(tid, this.cfg.id);
      result = this.perform(proc, tid, r.call);
      if (result === undefined) throw new SyncError(`syscall ${op} blocked after it was found not to (popcorn's bug)`);
    } catch (e) {
      answer.park();
      return this.exited(proc.pid, 1, `thread ${tid}: ${(e as Error).message}`);
    }
    proc.sysWaited++;
    answer.done(result);
  }

  /**
   * The same on a kernel that is not the origin: once claimed, the core
   * waits for the origin's answer however long it takes — sys-done (the
   * call is made; its acquire is merged, then the core goes on) or sys-park
   * (it would block: the thread stops for it and sends it again). The claim
   * comes before the release, so the release holds every write the thread
   * made before its call. A process that ends meanwhile lets the core go
   * (reap).
   */
  private sysNowAtOrigin(core: number, answer: SysAnswer, t: Thread, proc: Proc, call: SysCall, seq: number): void {
    if (!proc.replica || this.down.has(proc.origin)) return answer.park(seq);
    if (!answer.claim(seq)) return;
    t.waitsOn = core;
    this.sysAtOrigin(proc, t.meta.tid, call, true);
  }

  /** The core that waits for thread `t`'s syscall at the origin goes on: with the result, or (none) to stop the thread for the call. */
  private nowAnswered(t: Thread, result?: number): void {
    const answer = t.waitsOn === undefined ? undefined : this.cores[t.waitsOn]?.answer;
    t.waitsOn = undefined;
    if (result === undefined) answer?.park();
    else answer?.done(result);
  }

  /** The atomic add of SYS_ATOMIC_ADD, on the origin's memory (the home of every page). */
  private atomicAdd(proc: Proc, addr: number, delta: number): number {
    const mem = proc.replica?.memory;
    if (!mem) throw new SyncError("atomic add before the process has memory");
    if (addr % 4 || addr < 0 || addr + 4 > mem.buffer.byteLength) throw new SyncError(`atomic add at ${addr}: not an aligned i32 in memory`);
    return Atomics.add(new Int32Array(mem.buffer), addr >>> 2, delta);
  }

  /** A spawn: a new tid here, the child starts on its parent's kernel with its parent's globals. */
  private spawn(proc: Proc, parent: number, call: SysCall, from: number): void {
    const mem = proc.replica?.memory;
    if (!mem || call.a <= 0 || call.a + 4 > mem.buffer.byteLength) {
      return this.exited(proc.pid, 1, `thread ${parent}: spawn of a function reference at ${call.a}, outside memory`);
    }
    const fn = new DataView(mem.buffer).getUint32(call.a + FUNCTION_INDEX_OFFSET, true);
    const tid = proc.sync!.spawn(from, call.c);
    // with a scheduler, a thread spawned here may start on another kernel right away, rather than migrate there later
    const at = from === this.cfg.id && proc.scheduler ? this.placeSpawn(proc, tid) : from;
    this.dmesg(`pid ${proc.pid}: thread ${parent} spawned thread ${tid} (function #${fn}, arg ${call.b})${at === this.cfg.id ? "" : ` on kernel ${at}`}`);
    const info = { tid, fn, arg: call.b, stackTop: call.c };
    if (at !== from && this.spawnThere(proc, parent, info, at)) {
      proc.sync!.moved(tid, at);
      return this.sysDone(proc, parent, tid);
    }
    this.sysDone(proc, parent, tid, info);
  }

  /** Where the scheduler starts a thread spawned on the origin (its row already counts it here): the kernel the balance policy would move it to, if any. */
  private placeSpawn(proc: Proc, child: number): number {
    const loads = this.loads(proc);
    const unmovable = new Set(proc.sync!.live().map(([t]) => t).filter((t) => t !== child));
    return pickMove(loads, this.cfg.id, unmovable)?.to ?? this.cfg.id;
  }

  /** Starts a thread spawned here on kernel `at`: its program and pages go first, then its start (SpawnMessage). */
  private spawnThere(proc: Proc, parent: number, s: SpawnInfo, at: number): boolean {
    const p = this.threads.get(key(proc.pid, parent));
    if (!p?.parked) return false;
    if (!this.peerHas.has(`${at}:${proc.program}`)) {
      const prog = this.programs.get(proc.program);
      if (!prog || !this.sendTo(at, { t: "program", hash: proc.program, name: prog.name, bytes: prog.bytes })) return false;
      this.peerHas.add(`${at}:${proc.program}`);
    }
    if (this.sendPages(proc, at, s.tid) === undefined) return false;
    const entry = { fn: s.fn, arg: s.arg };
    return this.sendTo(at, { t: "spawn", ...threadIdentity({ ...p.meta, tid: s.tid, entry }), entry, globals: p.parked.globals, stackTop: s.stackTop });
  }

  /** Thread `tid`'s syscall is done: it runs again, here or on its kernel (which first gets the pages it lacks). */
  private sysDone(proc: Proc, tid: number, result: number, spawn?: SpawnInfo): void {
    const kernel = proc.sync?.threads.get(tid)?.kernel ?? this.cfg.id;
    if (kernel !== this.cfg.id) {
      const replica = proc.replica;
      if (!replica) return this.exited(proc.pid, 1, `thread ${tid}: the origin has no memory for the process`);
      const pages = replica.collectFor(kernel);
      proc.memOut += pageBytes(pages);
      if (!this.sendTo(kernel, { t: "sys-done", pid: proc.pid, tid, result, pages, spawn })) {
        this.exited(proc.pid, 1, `thread ${tid}: kernel ${kernel} cannot be reached`);
      }
      return;
    }
    if (spawn) this.spawnHere(proc, tid, spawn);
    this.resumeParked(proc, tid, result);
  }

  /** A spawned thread starts on its parent's kernel, with its parent's globals (queued ahead of the parent). */
  private spawnHere(proc: Proc, parent: number, spawn: SpawnInfo): void {
    const p = this.threads.get(key(proc.pid, parent));
    if (!p?.parked) return this.processFailed(proc.pid, `thread ${parent} spawned thread ${spawn.tid} but is not parked on kernel ${this.cfg.id}`);
    const meta: ProcessMeta = { ...p.meta, tid: spawn.tid, entry: { fn: spawn.fn, arg: spawn.arg }, epoch: 0, schedule: undefined };
    const child = this.thread(meta, proc);
    this.runnable(child, { t: "spawn", meta, globals: p.parked.globals, stackTop: spawn.stackTop, slot: child.slot });
  }

  /**
   * On the thread's kernel: its syscall (or the acquire an arrival waited
   * for) is done — it runs again.
   */
  private resumeParked(proc: Proc, tid: number, result: number): void {
    const t = this.threads.get(key(proc.pid, tid));
    if (!t || t.state !== "blocked") return this.dmesg(`pid ${name(proc.pid, tid)}: a syscall result for a thread that is not waiting here`);
    const waiting = t.waiting;
    t.waiting = undefined;
    if (waiting) return this.runnable(t, waiting, true);
    if (!t.parked) return this.dmesg(`pid ${name(proc.pid, tid)}: a syscall result for a thread that is not parked here`);
    this.runnable(t, { t: "run", meta: t.meta, state: t.parked, result, slot: t.slot }, true);
  }

  // ---- the balance policy, at the origin ----

  private startBalancer(): void {
    this.balancer ??= setInterval(() => this.balance(), BALANCE_MS);
  }

  private balance(): void {
    let any = false;
    for (const proc of this.procs.values()) {
      if (!proc.scheduler || !proc.sync || proc.origin !== this.cfg.id) continue;
      any = true;
      if (this.cfg.isas.length < 2) continue;
      // main is counted, never moved (it holds the process's I/O)
      const t0 = now();
      for (const [tid, m] of proc.moving) if (t0 - m.at > MOVE_EXPIRES_MS) proc.moving.delete(tid);
      const move = pickMove(this.loads(proc), this.cfg.id, new Set([0, ...proc.moving.keys()]));
      if (!move) continue;
      proc.moving.set(move.tid, { to: move.to, at: t0 });
      this.dmesg(`scheduler ${proc.scheduler}: pid ${proc.pid} thread ${move.tid} from kernel ${move.from} to kernel ${move.to}`);
      this.signal({ t: "signal", pid: proc.pid, tid: move.tid, signo: SIGMIGRATE, to: move.to, hops: 0 });
    }
    if (!any) {
      clearInterval(this.balancer);
      this.balancer = undefined;
    }
  }

  /**
   * The balance policy's view of a process (at its origin): per kernel that
   * is up, its weight (cores; times the profile's declared speed and the
   * speed the kernel measured of its machine, for hetero) and its runnable
   * threads — a thread on its way counted where it goes.
   */
  private loads(proc: Proc): KernelLoad[] {
    const kernels = this.cfg.isas.map((isa, k) => ({
      kernel: k,
      weight: this.cfg.cores * (proc.scheduler === "hetero" && isa !== "?" ? profile(isa).perf.speed * this.relativeSpeed(k) : 1),
      threads: [] as number[],
    }));
    for (const [tid, row] of proc.sync!.live()) {
      if (!proc.sync!.blocked.has(tid)) kernels[proc.moving.get(tid)?.to ?? row.kernel]?.threads.push(tid);
    }
    // kernels that have not joined or went down take no threads
    return kernels.filter((k) => k.kernel === this.cfg.id || (this.cfg.isas[k.kernel] !== "?" && !this.down.has(k.kernel)));
  }

  /** Kernel k's measured speed relative to this one's (1 until it has said). */
  private relativeSpeed(k: number): number {
    const mine = this.speeds[this.cfg.id];
    const theirs = this.speeds[k];
    return mine && theirs ? theirs / mine : 1;
  }

  // ---- peers ----

  private fromPeer(from: number, msg: KernelMessage, raw: Uint8Array): void {
    if (msg.t === "migrate") return this.arriving(msg, raw); // the core releases raw
    try {
      this.handlePeer(from, msg);
    } catch (e) {
      // a message about a process that this kernel cannot act on ends the process, rather than leave its threads waiting
      const pid = (msg as { pid?: number }).pid;
      this.dmesg(`${msg.t} from kernel ${from}: ${(e as Error).message}`);
      if (pid !== undefined) this.processFailed(pid, `${msg.t} from kernel ${from}: ${(e as Error).message}`);
    } finally {
      releaseMessage(raw);
    }
  }

  private arriving(msg: MigrateMessage, raw: Uint8Array): void {
    const refuse = (why: string) => {
      releaseMessage(raw);
      this.dmesg(`pid ${name(msg.pid, msg.tid)} from kernel ${msg.from} refused: ${why}`);
      // never silent: the source keeps the thread until it hears, and resumes it on a refusal
      this.sendTo(msg.from, { t: "migrate-ack", pid: msg.pid, tid: msg.tid, ok: false, reason: `kernel ${this.cfg.id}: ${why}` });
    };
    if (this.reaped.has(msg.pid)) return refuse("its process has ended");
    const here = this.threads.get(key(msg.pid, msg.tid));
    if (here && here.state !== "away" && here.state !== "leaving") {
      // a second copy of a migrate message (a peer that resent it): the thread is here already
      releaseMessage(raw);
      return this.dmesg(`pid ${name(msg.pid, msg.tid)} arrived again from kernel ${msg.from} while it is ${here.state} here: dropped`);
    }
    const meta = arrivingMeta(msg);
    const proc = this.proc(meta);
    let t: Thread;
    try {
      t = this.thread(meta, proc);
    } catch (e) {
      return refuse((e as Error).message);
    }
    t.pending = undefined; // an arrival supersedes any departure still waiting for its ack
    this.ensureReplica(proc);
    const job: CoreJob = { t: "arrive", msg, raw, slot: t.slot };
    this.comeIn(proc, t, job);
  }

  /**
   * Queues a thread that comes to this kernel — an arrival (it wakes), or a
   * spawn placed here — after the memory that came just before it, merged
   * already: its acquire (an arrival's record gets its bytes and times). If
   * pages this kernel's own release touched after the origin collected them
   * were left out, it acquires again first.
   */
  private comeIn(proc: Proc, t: Thread, job: CoreJob): void {
    const got = proc.arrivalPages.get(t.meta.tid);
    proc.arrivalPages.delete(t.meta.tid);
    if (got && job.t === "arrive") {
      job.memoryBytes = got.bytes;
      job.dirtyUs = got.collectUs;
      job.pagesUs = got.mergeUs;
    }
    if (got?.stale) {
      t.state = "blocked";
      t.waiting = job;
      return this.sysAtOrigin(proc, t.meta.tid, { op: SYS_ACQUIRE, a: 0, b: 0, c: 0 });
    }
    this.runnable(t, job, job.t === "arrive");
  }

  private handlePeer(from: number, msg: Exclude<KernelMessage, MigrateMessage>): void {
    switch (msg.t) {
      case "program":
        this.programs.set(msg.hash, { name: msg.name, bytes: msg.bytes.slice() });
        return;
      case "migrate-ack": {
        const t = this.threads.get(key(msg.pid, msg.tid));
        if (!t?.pending || t.state !== "leaving") return; // stale: the thread has come back since
        this.procs.get(msg.pid)?.moving.delete(msg.tid);
        if (msg.ok) {
          t.state = "away";
          t.lastStay = undefined;
          const proc = this.procs.get(msg.pid);
          proc?.slots.delete(t.slot);
          proc?.sync?.moved(msg.tid, t.pending.to);
          t.pending = undefined;
          return;
        }
        return this.stayAfterAll(t, `refused (${msg.reason})`);
      }
      case "output":
        this.ownerOf(msg.pid)?.post({ t: "output", pid: msg.pid, stream: msg.stream, line: msg.line });
        return;
      case "exit":
        if (!this.procs.has(msg.pid)) return;
        this.dmesg(`pid ${msg.pid} exited on kernel ${from} with status ${msg.status}`);
        return this.exited(msg.pid, msg.status, msg.error);
      case "signal":
        return this.signal(msg);
      case "ping":
        this.sendTo(from, { t: "pong", seq: msg.seq, payload: msg.payload });
        return;
      case "speed":
        if (this.speeds[from] === undefined) {
          this.dmesg(`kernel ${from} (${this.cfg.isas[from] ?? "?"}) measured speed ${msg.speed.toFixed(0)}: ×${(msg.speed / this.speeds[this.cfg.id]!).toFixed(2)} this kernel's`);
        }
        this.speeds[from] = msg.speed;
        return;
      case "pong":
        this.pongs.get(msg.seq)?.();
        this.pongs.delete(msg.seq);
        return;
      case "reap":
        return this.reap(msg.pid);
      case "sys": {
        const proc = this.procs.get(msg.pid);
        if (!proc?.sync) return this.dmesg(`syscall of pid ${name(msg.pid, msg.tid)} from kernel ${from} dropped: no such process here`);
        this.applyRelease(proc, msg.diff, from);
        // its core waits on the answer: a call that would block is not made, the thread stops for it instead
        // (an acquire — a stale merge's, of a call already made — never blocks, and has no call to stop for)
        if (msg.now && msg.op !== SYS_ACQUIRE && (!SYS_NOW.has(msg.op) || (msg.op === SYS_LOCK && proc.sync.lockWouldBlock(msg.tid, msg.a)))) {
          proc.sync.moved(msg.tid, msg.from);
          return void this.sendTo(from, { t: "sys-park", pid: msg.pid, tid: msg.tid });
        }
        return this.sys(proc, msg.tid, msg, msg.from, msg.now === true);
      }
      case "pages": {
        if (this.reaped.has(msg.pid)) return;
        const proc = this.proc({ pid: msg.pid, tid: 0, origin: msg.origin, name: msg.name, args: [], program: msg.program, epoch: 0 });
        this.ensureReplica(proc);
        const replica = proc.replica;
        if (!replica) return this.dmesg(`pages for pid ${msg.pid} dropped: its program is not here`);
        const t0 = now();
        const merged = replica.merge(msg.pages, this.quiet(msg.pid));
        const bytes = pageBytes(msg.pages);
        proc.memIn += bytes;
        proc.arrivalPages.set(msg.tid, { bytes, collectUs: msg.us, mergeUs: (now() - t0) * 1000, stale: merged.stale > 0 });
        return;
      }
      case "spawn": {
        if (this.reaped.has(msg.pid)) return;
        const meta: ProcessMeta = { ...threadIdentity(msg), epoch: 0 };
        const proc = this.proc(meta);
        this.ensureReplica(proc);
        const t = this.thread(meta, proc);
        const job: CoreJob = { t: "spawn", meta, globals: msg.globals, stackTop: msg.stackTop, slot: t.slot };
        return this.comeIn(proc, t, job);
      }
      case "release": {
        const proc = this.procs.get(msg.pid);
        if (!proc?.sync) return;
        const t0 = now();
        this.applyRelease(proc, msg.diff, from);
        // it goes ahead of a thread that migrates here: its bytes and time are that migration's
        proc.arrivalPages.set(msg.tid, { bytes: diffBytes(msg.diff), collectUs: 0, mergeUs: (now() - t0) * 1000, stale: false });
        return;
      }
      case "thread-exit": {
        const proc = this.procs.get(msg.pid);
        if (!proc?.sync) return;
        this.applyRelease(proc, msg.diff, from);
        return proc.sync.exited(msg.tid);
      }
      case "sys-done": {
        const proc = this.procs.get(msg.pid);
        if (!proc) return;
        const replica = proc.replica;
        if (!replica) return this.processFailed(msg.pid, `thread ${msg.tid}: a syscall result for a process with no memory here`);
        proc.memIn += pageBytes(msg.pages);
        const merged = replica.merge(msg.pages, this.quiet(msg.pid));
        const t = this.threads.get(key(msg.pid, msg.tid));
        const waits = t?.waitsOn !== undefined;
        if (msg.spawn && !waits) this.spawnHere(proc, msg.tid, msg.spawn);
        // pages a release of this kernel touched after home collected them were left out: acquire again
        if (merged.stale) return this.sysAtOrigin(proc, msg.tid, { op: SYS_ACQUIRE, a: msg.result, b: 0, c: 0 }, waits);
        if (waits) return this.nowAnswered(t!, msg.result);
        return this.resumeParked(proc, msg.tid, msg.result);
      }
      case "sys-park": {
        const t = this.threads.get(key(msg.pid, msg.tid));
        if (t?.waitsOn !== undefined) this.nowAnswered(t);
        return;
      }
    }
  }

  /**
   * No thread of process `pid` runs on a core of this kernel, nor is being
   * started on one: nothing writes its memory until this thread posts a job,
   * so a merge may take whole pages (a quiet merge, memory/replica.ts).
   */
  private quiet(pid: number): boolean {
    for (const t of this.threads.values()) if (t.meta.pid === pid && (t.state === "running" || t.state === "starting")) return false;
    return true;
  }

  /** On a kernel that is not the origin: the thread's syscall goes to the origin, after this kernel's release. */
  private sysAtOrigin(proc: Proc, tid: number, call: SysCall, now = false): void {
    const replica = proc.replica;
    if (!replica) return this.processFailed(proc.pid, `thread ${tid} made a syscall on a kernel that holds no memory of its process`);
    const diff = replica.diff();
    proc.memOut += diffBytes(diff);
    const msg: SysMessage = { t: "sys", pid: proc.pid, tid, op: call.op, a: call.a, b: call.b, c: call.c, diff, from: this.cfg.id, ...(now && { now }) };
    if (!this.sendTo(proc.origin, msg)) this.processFailed(proc.pid, `its origin, kernel ${proc.origin}, cannot be reached`);
  }

  /**
   * What goes ahead of a thread that migrates to kernel `to`, on the same
   * link: its program if that kernel lacks it, then the memory — from the
   * origin the pages `to` lacks, from another kernel its release (the core
   * checked that `to` is then the origin). The memory's bytes, undefined if
   * it could not be sent.
   */
  private sendAhead(proc: Proc, to: number, tid: number): number | undefined {
    if (!this.peerHas.has(`${to}:${proc.program}`)) {
      const p = this.programs.get(proc.program);
      if (p && this.sendTo(to, { t: "program", hash: proc.program, name: p.name, bytes: p.bytes })) this.peerHas.add(`${to}:${proc.program}`);
    }
    return proc.origin === this.cfg.id ? this.sendPages(proc, to, tid) : this.release(proc, tid);
  }

  /** On a kernel that is not the origin: this kernel's release, ahead of a thread migrating to the origin; its bytes, undefined if it could not be sent. */
  private release(proc: Proc, tid: number): number | undefined {
    const replica = proc.replica;
    if (!replica) return undefined;
    const diff = replica.diff();
    const n = diffBytes(diff);
    if (!this.sendBig(proc.origin, { t: "release", pid: proc.pid, tid, diff })) return undefined;
    proc.memOut += n; // what was sent: dmesg's total counts no bytes that never left
    return n;
  }

  /** On the origin: the pages kernel `to` lacks, ahead of a thread migrating there; their bytes, undefined if they could not be sent. */
  private sendPages(proc: Proc, to: number, tid: number): number | undefined {
    const replica = proc.replica;
    if (!replica) return undefined;
    const t0 = now();
    const pages = replica.collectFor(to);
    const us = (now() - t0) * 1000;
    const n = pageBytes(pages);
    const ok = this.sendBig(to, { t: "pages", pid: proc.pid, tid, origin: proc.origin, name: proc.name, program: proc.program, pages, us });
    if (!ok) replica.forget(to); // the link is down (the kernel will be a new one), or the pages did not fit one frame: all of them next time
    else proc.memOut += n; // what was sent: dmesg's total counts no bytes that never left
    return ok ? n : undefined;
  }

  /** On the origin: another kernel's release goes into the home memory. */
  private applyRelease(proc: Proc, diff: Diff, from: number): void {
    const replica = proc.replica;
    if (!replica) return;
    proc.memIn += diffBytes(diff);
    replica.applyDiff(diff, from);
  }

  // ---- signals ----

  private signal(s: SignalMessage): void {
    if (STOP_SIGNALS.has(s.signo) && s.tid) s = { ...s, tid: 0 }; // a stop ends the process: main acts on it
    if (STOP_SIGNALS.has(s.signo)) this.hold(s.pid, false); // main must run to act on it
    const tid = s.tid ?? 0;
    const t = this.threads.get(key(s.pid, tid));
    const who = `pid ${name(s.pid, tid)}`;
    const sig = SIGNAL_NAMES[s.signo] ?? `signal ${s.signo}`;
    if (!t || t.state === "away" || t.state === "leaving") {
      // where it went: its forwarding pointer, the origin's sync table, or the origin (named by the pid in cluster mode)
      const proc = this.procs.get(s.pid);
      const there =
        t?.where ??
        (proc?.origin === this.cfg.id ? proc.sync?.threads.get(tid)?.kernel : proc?.origin ?? Math.floor(s.pid / PID_SPAN) - 1);
      if (there !== undefined && there !== this.cfg.id && this.transport.peers.includes(there) && s.hops < MAX_HOPS) {
        this.sendTo(there, { ...s, hops: s.hops + 1 });
        return;
      }
      return this.dmesg(`${sig} for ${who} dropped: ${t ? "lost track of it" : "no such thread here"}`);
    }
    if (t.state === "starting") {
      t.queued.push(s);
      return;
    }
    if (s.signo === SIGMIGRATE) {
      const count = this.cfg.isas.length;
      const to = s.to ?? nextKernel(t.meta, this.cfg.id, count);
      if (!Number.isInteger(to) || to < 0 || to >= count) {
        const why = `migration of ${who} to kernel ${to} refused: no such kernel (kernels 0..${count - 1})`;
        this.dmesg(why);
        return this.output(s.pid, 2, `popcorn: ${why}`);
      }
      if (to === this.cfg.id) return this.dmesg(`${who} is already on kernel ${to}`);
      this.dmesg(`${sig}: ${who} to migrate to kernel ${to} at its next migration point`);
      if (t.state !== "running") {
        t.request = { dest: to, signo: s.signo };
        return;
      }
      const ctrl = this.ctrlOf(t);
      if (!ctrl) return this.dmesg(`${sig} for ${who} ignored: the program has no migration points`);
      t.requested = { dest: to, signo: s.signo };
      return ctrl.request(t.requested);
    }
    if (STOP_SIGNALS.has(s.signo)) {
      this.dmesg(`${sig}: ${who} stops at its next migration point`);
      t.stopping = s.signo;
      if (t.state !== "running") return this.threadExit(s.pid, 0, 128 + s.signo, `killed by signal ${s.signo}`);
      const ctrl = this.ctrlOf(t);
      if (!ctrl) return this.dmesg(`${sig} for ${who} ignored: the program has no migration points`);
      return ctrl.request({ signo: s.signo });
    }
    this.dmesg(`${sig} for ${who} ignored: popcorn knows signals ${SIGNALS.join(", ")}`);
  }

  private ctrlOf(t: Thread): ControlWord | undefined {
    const proc = this.procs.get(t.meta.pid);
    if (!proc?.replica || !t.ctrlAddress) return undefined;
    return new ControlWord(proc.replica.memory.buffer, t.ctrlAddress);
  }
}

/**
 * This machine's speed as a kernel sees it: iterations per ms of a small
 * Wasm loop shaped like an instrumented counting loop — an i64 mix and a
 * load from memory (a migration point's check) per iteration — the best of
 * three 5 ms rounds after a warm-up. Under QEMU user-mode emulation it
 * comes out about 3× lower than natively (the same ratio as the counting
 * benchmark's threads), which is what --scheduler hetero weighs kernels by.
 * (A loop without the load measured ×0.6 under QEMU: a poor proxy.)
 *
 *   (func (export "f") (param $n i32) (result i32) (local $x i64)
 *     x := 0x9e3779b97f4a7c15
 *     loop  if (i32.load 64) unreachable;  x := (x ^ x >>> 13) + n;  br_if (n := n - 1)
 *     (i32.wrap x))
 */
const CALIBRATION_WASM = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 102, 0, 0, 10, 58, 1, 56, 1, 1, 126, 66,
  149, 248, 169, 250, 151, 183, 222, 155, 158, 127, 33, 1, 3, 64, 65, 192, 0, 40, 2, 0, 4, 64, 0, 11, 32, 0, 173, 32, 1, 32, 1, 66, 13, 136,
  133, 124, 33, 1, 32, 0, 65, 1, 107, 34, 0, 13, 0, 11, 32, 1, 167, 11,
]);

export function calibrate(roundMs = 5): number {
  const f = new WebAssembly.Instance(new WebAssembly.Module(CALIBRATION_WASM)).exports.f as (n: number) => number;
  f(100_000); // warm-up: V8 tiers the loop up (under QEMU it takes a round or two more: the best round counts)
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < roundMs) {
      f(10_000);
      n += 10_000;
      t = performance.now();
    }
    best = Math.max(best, n / (t - t0));
  }
  return best;
}

/** Where AssemblyScript keeps a function reference's table index (toolchain/abi.ts). */
const FUNCTION_INDEX_OFFSET = 0;

function phaseText(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(", ") + " µs";
}
