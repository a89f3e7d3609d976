/**
 * A kernel's control thread: its message endpoint, process table, cores and
 * log (dmesg). It never runs guest code: it routes.
 *
 * Process states on one kernel, and who moves them:
 *
 *   starting ──core: running──▶ running ──core: depart──▶ leaving ──ack ok──▶ away
 *   arriving ──core: running──▶ running                    │
 *        ▲                                                 └──ack refused──▶ resuming ─▶ running
 *        └──transport: migrate (from any state but running)
 *   running ──core: exit──▶ gone (the origin tells the client, and every kernel to reap)
 *
 * A kernel that is not where a process runs forwards signals for it along
 * the way it went (`where`: the kernel it last sent it to), so a signal
 * reaches a process that hopped on since the sender last heard of it; a
 * leaving process's signals go after it. Signals for a process that is
 * arriving wait until it runs (and go back with it if its arrival is
 * refused). A stop signal (2, 9, 15) is remembered until the process acts
 * on it: it follows the process through any migration it was already
 * making.
 *
 * In cluster mode a migration whose link drops before its acknowledgement
 * resumes on the source (peerDown). If the message did arrive and only the
 * acknowledgement was lost, the process runs on both kernels: a known
 * limitation until links carry a boot id to ask the peer.
 */
import { Worker } from "node:worker_threads";
import { createHash } from "node:crypto";
import type { ReplicaParts } from "../memory/index.js";
import { isShared, releaseMessage, type KernelMessage, type MigrateMessage, type SignalMessage, type Transport } from "../msg/index.js";
import { ControlWord, now } from "./control-word.js";
import type { ClientLink, ClientReply, ClientRequest, PingResult, ProcessInfo } from "./client.js";
import { SIGMIGRATE } from "./core.js";
import type { CoreJob, CoreReport, ProcessMeta } from "./jobs.js";

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

type State = "starting" | "running" | "leaving" | "away" | "arriving" | "resuming";

interface Entry {
  meta: ProcessMeta;
  state: State;
  core?: number;
  parts?: ReplicaParts;
  ctrlAddress?: number;
  /** the kernel it went to last (forwarding pointer) */
  where?: number;
  /** while leaving: where to; its core keeps what to resume if the destination refuses */
  pending?: { to: number };
  queued: SignalMessage[];
  /**
   * a stop signal (2, 9, 15) delivered and not yet acted on: it follows the
   * process if it leaves before its next migration point, and is delivered
   * again wherever it runs next — a kill is never lost to a migration
   */
  stopping?: number;
  /** on the origin: the client that started it, to which its output and exit go */
  owner?: ClientLink;
  stats: { migrationsIn: number; migrationsOut: number; bytesIn: number; bytesOut: number; lastUs?: number };
}

const SIGNAL_NAMES: Record<number, string> = { 2: "SIGINT", 9: "SIGKILL", 15: "SIGTERM", [SIGMIGRATE]: "SIGMIGRATE" };
const MAX_HOPS = 16;
/** pids given out by kernel k are (k + 1) * PID_SPAN + n */
export const PID_SPAN = 100_000;

export class Kernel {
  private readonly procs = new Map<number, Entry>();
  private readonly programs = new Map<string, { name: string; bytes: Uint8Array }>();
  /** "<kernel>:<hash>" of programs a peer has been sent */
  private readonly peerHas = new Set<string>();
  /** per core: the programs (by hash) and process replicas (by pid) it has been given */
  private readonly cores: { worker: Worker; has: Set<string>; replicas: Set<number> }[] = [];
  private readonly log: string[] = [];
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
        workerData: { role: "core", kernel: cfg.id, core: c, isas: cfg.isas, trace: cfg.trace },
      });
      worker.on("message", (r: CoreReport) => this.fromCore(c, r));
      worker.on("error", (e) => this.coreCrashed(c, e));
      this.cores.push({ worker, has: new Set(), replicas: new Set() });
    }
    transport.onMessage((from, msg, raw) => this.fromPeer(from, msg, raw));
    transport.onError((from, e) => this.dmesg(`dropped a message from kernel ${from}: ${e.message}`));
    this.dmesg(`kernel ${cfg.id} (${this.isa}) up: ${cfg.cores} core${cfg.cores > 1 ? "s" : ""}, ${transport.kind} transport to kernels ${transport.peers.join(", ") || "none"}`);
  }

  /** Adds a line to this kernel's log (dmesg). */
  dmesg(line: string): void {
    const t = ((now() - this.cfg.bootAt) / 1000).toFixed(6).padStart(12);
    const entry = `[${t}] kernel ${this.cfg.id} (${this.isa}): ${line}`;
    this.log.push(entry);
    this.cfg.onLog?.(entry);
    if (this.log.length > 20000) this.log.splice(0, 10000);
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
  }

  /** Migration records and traces go to the clients that watch (the embedded client). */
  private toWatchers(r: ClientReply): void {
    for (const c of this.clients) if (c.watches) c.post(r);
  }

  private fromClient(m: ClientRequest, link: ClientLink): void {
    const reply = (req: number, data: unknown) => link.post({ t: "reply", req, data });
    switch (m.t) {
      case "exec": {
        const hash = createHash("sha256").update(m.bytes).digest("hex");
        this.programs.set(hash, { name: m.name, bytes: m.bytes });
        const pid = m.pid ?? this.allocatePid();
        const meta: ProcessMeta = {
          pid, origin: this.cfg.id, name: m.name, args: m.args, program: hash, epoch: 0, replicas: [], schedule: m.schedule,
        };
        const e = this.entry(meta, "starting");
        e.owner = link;
        const core = this.pickCore();
        e.core = core;
        this.dmesg(`pid ${pid} ${m.name} started${m.args.length ? ` (args ${m.args.join(" ")})` : ""}`);
        this.toCore(core, { t: "start", meta, programBytes: this.programFor(core, hash) });
        if (m.req !== undefined) reply(m.req, pid);
        return;
      }
      case "signal":
        return this.signal({ t: "signal", pid: m.pid, signo: m.signo, to: m.to, hops: 0 });
      case "ps":
        return reply(m.req, this.ps());
      case "watch":
        link.watches = true;
        return;
      case "dmesg":
        return reply(m.req, [...this.log]);
      case "ping":
        return void this.pingSeries(m.to, m.size, m.count).then((r) => reply(m.req, r));
      case "shutdown":
        return this.shutdown();
    }
  }

  private readonly pongs = new Map<number, () => void>();
  private nextPing = 1;

  /** `count` pings to kernel `to`, one after another (popcorn ping). */
  private async pingSeries(to: number, size: number, count: number): Promise<PingResult> {
    const payload = new Uint8Array(size);
    const rttUs: number[] = [];
    const t0 = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        const seq = this.nextPing++;
        const start = performance.now();
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.pongs.delete(seq);
            reject(new Error(`kernel ${to} did not answer ping ${i} within 5 s`));
          }, 5000);
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
      this.dmesg(`could not send ${msg.t} to kernel ${peer}: ${(e as Error).message}`);
      return false;
    }
  }

  /** A core worker died: the processes on it end with the reason, rather than hang. */
  private coreCrashed(core: number, err: Error): void {
    this.dmesg(`core ${core} crashed: ${err.message}`);
    for (const [pid, e] of [...this.procs]) {
      if (e.core !== core || e.state === "away" || e.state === "leaving") continue;
      const why = `core ${core} of kernel ${this.cfg.id} crashed while it ran the process: ${err.message}`;
      if (e.meta.origin === this.cfg.id) this.exited(pid, 1, why);
      else {
        this.procs.delete(pid);
        this.sendTo(e.meta.origin, { t: "exit", pid, status: 1, error: why });
      }
    }
  }

  /** A peer kernel's ISA, learned when it joined (cluster mode): cores need it to rewrite stacks for it. */
  setIsa(kernel: number, isa: string): void {
    if (this.cfg.isas[kernel] === isa) return;
    this.cfg.isas[kernel] = isa;
    for (let c = 0; c < this.cores.length; c++) this.toCore(c, { t: "isas", isas: [...this.cfg.isas] });
  }

  /** Ends the cores and the transport; the kernel's thread can exit. */
  shutdown(): void {
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
    } while (this.procs.has(pid));
    return pid;
  }

  private ps(): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (const e of this.procs.values()) {
      if (e.state === "away") continue;
      out.push({
        pid: e.meta.pid,
        name: e.meta.name,
        kernel: this.cfg.id,
        isa: this.isa,
        state: e.state,
        origin: e.meta.origin,
        migrations: e.meta.epoch,
        ...e.stats,
      });
    }
    return out;
  }

  // ---- cores ----

  /** The core with the fewest processes on it (a process that has been on a core before prefers it). */
  private pickCore(pid?: number): number {
    const load = this.cores.map(() => 0);
    for (const e of this.procs.values()) if (e.core !== undefined && e.state !== "away" && e.state !== "leaving") load[e.core]!++;
    let best = 0;
    for (let c = 1; c < load.length; c++) if (load[c]! < load[best]!) best = c;
    if (pid !== undefined) {
      const prev = this.cores.findIndex((c) => c.replicas.has(pid));
      if (prev >= 0 && load[prev]! <= load[best]!) return prev;
    }
    return best;
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

  private entry(meta: ProcessMeta, state: State): Entry {
    let e = this.procs.get(meta.pid);
    if (!e) {
      e = { meta, state, queued: [], stats: { migrationsIn: 0, migrationsOut: 0, bytesIn: 0, bytesOut: 0 } };
      this.procs.set(meta.pid, e);
    }
    e.meta = meta;
    e.state = state;
    return e;
  }

  private fromCore(core: number, r: CoreReport): void {
    switch (r.t) {
      case "log":
        return this.dmesg(r.line);
      case "trace":
        return this.toWatchers({ t: "trace", trace: r.trace });
      case "output":
        return this.output(r.pid, r.stream, r.line);
      case "running": {
        const e = this.entry(r.meta, "running");
        e.core = core;
        if (r.parts) this.gotParts(core, e, r.parts);
        e.ctrlAddress = r.ctrlAddress;
        e.where = undefined;
        const queued = e.queued.splice(0);
        if (e.stopping && !queued.some((s) => s.signo === e.stopping)) queued.push({ t: "signal", pid: r.meta.pid, signo: e.stopping, hops: 0 });
        for (const s of queued) this.signal(s);
        return;
      }
      case "arrived": {
        const e = this.procs.get(r.pid);
        if (e) {
          e.stats.migrationsIn++;
          e.stats.bytesIn += r.messageBytes;
          e.stats.lastUs = r.totalUs;
        }
        this.sendTo(r.from, { t: "migrate-ack", pid: r.pid, ok: true });
        const { t: _, ...record } = r;
        this.toWatchers({ t: "migrated", record: { ...record, to: this.cfg.id } });
        this.dmesg(
          `pid ${r.pid} migrated in from kernel ${r.from} (${this.cfg.isas[r.from]}): ${r.frames} frames, ` +
            `stack ${r.stackBytes} B, memory ${r.memoryBytes} B, message ${r.messageBytes} B; ` +
            `${r.totalUs.toFixed(0)} µs from request to running (${phaseText(r.phases)})`,
        );
        return;
      }
      case "depart": {
        // the message goes first: everything else here is bookkeeping, off the migration's path
        if (!this.peerHas.has(`${r.to}:${r.meta.program}`)) {
          const p = this.programs.get(r.meta.program);
          if (p && this.sendTo(r.to, { t: "program", hash: r.meta.program, name: p.name, bytes: p.bytes })) {
            this.peerHas.add(`${r.to}:${r.meta.program}`);
          }
        }
        const size = r.bytes.length;
        const e = this.entry(r.meta, "leaving");
        if (r.parts) this.gotParts(core, e, r.parts);
        try {
          this.transport.sendEncoded(r.to, r.bytes);
        } catch (err) {
          releaseMessage(r.bytes);
          e.pending = { to: r.to };
          return this.stayAfterAll(r.meta.pid, e, `could not reach kernel ${r.to}: ${(err as Error).message}`);
        }
        e.where = r.to;
        e.pending = { to: r.to };
        if (e.stopping) this.sendTo(r.to, { t: "signal", pid: r.meta.pid, signo: e.stopping, hops: 1 });
        e.stats.migrationsOut++;
        e.stats.bytesOut += size;
        this.dmesg(
          `pid ${r.meta.pid} migrating to kernel ${r.to} (${this.cfg.isas[r.to]}): ${r.frames} frames, message ${size} B (${phaseText(r.phases)})`,
        );
        return;
      }
      case "refuse": {
        const e = this.procs.get(r.pid);
        if (e) {
          e.state = "away";
          e.where = r.from;
          // signals that waited for the arrival go back with the process
          for (const s of e.queued.splice(0)) this.sendTo(r.from, { ...s, hops: s.hops + 1 });
        }
        this.dmesg(`pid ${r.pid} from kernel ${r.from} refused: ${r.reason}`);
        this.sendTo(r.from, { t: "migrate-ack", pid: r.pid, ok: false, reason: `kernel ${this.cfg.id}: ${r.reason}` });
        return;
      }
      case "exit": {
        const e = this.procs.get(r.pid);
        const origin = e?.meta.origin ?? this.cfg.id;
        this.dmesg(`pid ${r.pid} exited with status ${r.status}${r.error ? `: ${r.error}` : ""}`);
        if (origin === this.cfg.id) return this.exited(r.pid, r.status, r.error);
        this.procs.delete(r.pid);
        this.sendTo(origin, { t: "exit", pid: r.pid, status: r.status, error: r.error });
        return;
      }
    }
  }

  private output(pid: number, stream: 1 | 2, line: string): void {
    const origin = this.procs.get(pid)?.meta.origin ?? this.cfg.id;
    if (origin === this.cfg.id) this.ownerOf(pid)?.post({ t: "output", pid, stream, line });
    else this.sendTo(origin, { t: "output", pid, stream, line });
  }

  /** On the origin: the process is gone; tell the client and let every kernel drop its replica. */
  private exited(pid: number, status: number, error?: string): void {
    const owner = this.ownerOf(pid);
    this.procs.delete(pid);
    for (let c = 0; c < this.cores.length; c++) {
      this.cores[c]!.replicas.delete(pid);
      this.toCore(c, { t: "reap", pid });
    }
    owner?.post({ t: "exit", pid, status, error });
    for (const k of this.transport.peers) this.sendTo(k, { t: "reap", pid });
  }

  /** A migration that did not happen (refused, or its destination unreachable): the process resumes here, where its core kept it. */
  private stayAfterAll(pid: number, e: Entry, why: string): void {
    const to = e.pending?.to;
    e.pending = undefined;
    const line = `migration to kernel ${to} ${why} — staying on kernel ${this.cfg.id}`;
    this.dmesg(`pid ${pid} ${line}`);
    this.output(pid, 2, `popcorn: pid ${pid}: ${line}`);
    e.state = "resuming";
    e.where = undefined;
    this.toCore(e.core!, { t: "resume", pid, why: `its migration to kernel ${to} did not happen` });
  }

  /**
   * A peer kernel is gone (cluster mode). Migrations to it still waiting for
   * its acknowledgement resume here; processes of this origin that were
   * running there are lost, and their clients are told so.
   */
  peerDown(peer: number, reason: string): void {
    this.dmesg(`kernel ${peer} (${this.cfg.isas[peer] ?? "?"}) left: ${reason}`);
    // a kernel that comes back is a new kernel: it has none of our programs
    for (const k of [...this.peerHas]) if (k.startsWith(`${peer}:`)) this.peerHas.delete(k);
    for (const [pid, e] of this.procs) {
      if (e.state === "leaving" && e.pending?.to === peer) this.stayAfterAll(pid, e, `lost its destination (${reason})`);
      else if (e.state === "away" && e.where === peer && e.meta.origin === this.cfg.id) {
        this.dmesg(`pid ${pid} lost: it was running on kernel ${peer}`);
        this.exited(pid, 1, `lost: kernel ${peer} (${this.cfg.isas[peer] ?? "?"}) went away while the process ran there (${reason})`);
      }
    }
  }

  /** The client that started `pid` here (on its origin), if it is still attached. */
  private ownerOf(pid: number): ClientLink | undefined {
    const owner = this.procs.get(pid)?.owner;
    return owner && this.clients.has(owner) ? owner : undefined;
  }

  /** A core made or grew the replica of a process: the kernel's one replica, which its other cores may be given. */
  private gotParts(core: number, e: Entry, parts: ReplicaParts): void {
    e.parts = parts;
    for (let c = 0; c < this.cores.length; c++) {
      if (c === core) this.cores[c]!.replicas.add(e.meta.pid);
      else this.cores[c]!.replicas.delete(e.meta.pid);
    }
  }

  // ---- peers ----

  private fromPeer(from: number, msg: KernelMessage, raw: Uint8Array): void {
    if (msg.t === "migrate") return this.arriving(msg, raw); // the core releases raw
    try {
      this.handlePeer(from, msg);
    } finally {
      releaseMessage(raw);
    }
  }

  private arriving(msg: MigrateMessage, raw: Uint8Array): void {
    const meta: ProcessMeta = {
      pid: msg.pid, origin: msg.origin, name: msg.name, args: msg.args, program: msg.program,
      epoch: msg.epoch + 1, replicas: msg.replicas, schedule: msg.schedule,
    };
    const core = this.pickCore(msg.pid);
    const e = this.entry(meta, "arriving");
    e.core = core;
    e.pending = undefined; // an arrival supersedes any departure still waiting for its ack
    const programBytes = this.programFor(core, msg.program);
    const parts = this.cores[core]!.replicas.has(msg.pid) ? undefined : e.parts;
    this.toCore(core, { t: "arrive", raw, programBytes, parts }, isShared(raw) ? [] : [raw.buffer as ArrayBuffer]);
  }

  private handlePeer(from: number, msg: Exclude<KernelMessage, MigrateMessage>): void {
    switch (msg.t) {
      case "program":
        this.programs.set(msg.hash, { name: msg.name, bytes: msg.bytes.slice() });
        return;
      case "migrate-ack": {
        const e = this.procs.get(msg.pid);
        if (!e?.pending || e.state !== "leaving") return; // stale: the process has come back since
        const pending = e.pending;
        e.pending = undefined;
        if (msg.ok) {
          e.state = "away";
          if (e.core !== undefined) this.toCore(e.core, { t: "settled", pid: msg.pid }); // its core can drop the frames it kept
          return;
        }
        e.pending = pending;
        return this.stayAfterAll(msg.pid, e, `refused (${msg.reason})`);
      }
      case "output":
        this.ownerOf(msg.pid)?.post({ t: "output", pid: msg.pid, stream: msg.stream, line: msg.line });
        return;
      case "exit":
        this.dmesg(`pid ${msg.pid} exited on kernel ${from} with status ${msg.status}`);
        return this.exited(msg.pid, msg.status, msg.error);
      case "signal":
        return this.signal(msg);
      case "ping":
        this.sendTo(from, { t: "pong", seq: msg.seq, payload: msg.payload });
        return;
      case "pong":
        this.pongs.get(msg.seq)?.();
        this.pongs.delete(msg.seq);
        return;
      case "reap":
        this.procs.delete(msg.pid);
        for (let c = 0; c < this.cores.length; c++) {
          this.cores[c]!.replicas.delete(msg.pid);
          this.toCore(c, { t: "reap", pid: msg.pid });
        }
        return;
    }
  }

  // ---- signals ----

  private signal(s: SignalMessage): void {
    const e = this.procs.get(s.pid);
    const name = SIGNAL_NAMES[s.signo] ?? `signal ${s.signo}`;
    if (!e) {
      // a pid this kernel never saw: its origin (named by the pid, in cluster mode) knows where it went
      const origin = Math.floor(s.pid / PID_SPAN) - 1;
      if (origin !== this.cfg.id && this.transport.peers.includes(origin) && s.hops < MAX_HOPS) {
        this.sendTo(origin, { ...s, hops: s.hops + 1 });
        return;
      }
      return this.dmesg(`${name} for pid ${s.pid} dropped: no such process here`);
    }
    if (e.state === "away" || e.state === "leaving") {
      if (e.where === undefined || s.hops >= MAX_HOPS) return this.dmesg(`${name} for pid ${s.pid} dropped: lost track of it`);
      this.sendTo(e.where, { ...s, hops: s.hops + 1 });
      return;
    }
    if (e.state !== "running") {
      e.queued.push(s);
      return;
    }
    if (!e.parts || !e.ctrlAddress) return this.dmesg(`${name} for pid ${s.pid} ignored: the program has no migration points`);
    const ctrl = new ControlWord(e.parts.memory.buffer, e.ctrlAddress);
    if (s.signo === SIGMIGRATE) {
      const count = this.cfg.isas.length;
      const to = s.to ?? (this.cfg.id + 1) % count;
      if (!Number.isInteger(to) || to < 0 || to >= count) {
        const why = `migration of pid ${s.pid} to kernel ${to} refused: no such kernel (kernels 0..${count - 1})`;
        this.dmesg(why);
        return this.output(s.pid, 2, `popcorn: ${why}`);
      }
      if (to === this.cfg.id) return this.dmesg(`pid ${s.pid} is already on kernel ${to}`);
      this.dmesg(`${name}: pid ${s.pid} to migrate to kernel ${to} at its next migration point`);
      return ctrl.request({ dest: to, signo: s.signo });
    }
    if (s.signo === 2 || s.signo === 9 || s.signo === 15) {
      this.dmesg(`${name}: pid ${s.pid} stops at its next migration point`);
      e.stopping = s.signo;
      return ctrl.request({ signo: s.signo });
    }
    this.dmesg(`${name} for pid ${s.pid} ignored: popcorn knows signals 2, 9, 15 and ${SIGMIGRATE}`);
  }
}

function phaseText(p: Record<string, number>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(", ") + " µs";
}
