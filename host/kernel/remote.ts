/**
 * The client protocol of cluster mode: `popcorn run/ps/kill/migrate/dmesg
 * --cluster` talking to a kernel daemon (`popcorn kernel`) over TCP.
 *
 * The connection is the kernels' own (msg/auth.ts): authenticated with the
 * cluster key, role "client", then frames (msg/framing.ts). A frame holds
 * one MessagePack object: a ClientRequest (client.ts) from the client, a
 * ClientReply from the kernel — the same objects the embedded client posts
 * over its MessagePort — plus one request only a daemon answers:
 *
 *   { t: "cluster", req }  →  { t: "reply", req, data: ClusterInfo }
 *
 * so a client that knows one kernel's address finds all the others.
 *
 * A client waits on a process for as long as it runs — hours, maybe — so
 * that wait has no timeout; instead the client watches the connection. Its
 * hello asks for heartbeats (`heartbeats: true`); a kernel that says its
 * heartbeatMs in its own hello sends an empty frame whenever it has sent
 * nothing else for that long (msg/tcp.ts, as between kernels; its timer
 * ticks once a period, so a quiet client hears one every one to two
 * periods). Silence for the bound — KERNEL_SILENCE_MS, 10 s, and never
 * under three heartbeat periods — means the kernel stopped answering: its
 * process froze, its machine hung or vanished, the network between went
 * quiet. TCP notices none of these while the kernel's OS still acks.
 *
 *   every bound / 10:
 *     silent = now − max(last byte from the kernel, when this client last woke)
 *     silent > bound → close the connection: "stopped answering (no heartbeat in 10 s)"
 *
 * Every process the client waits on then ends, for it, with status 1 and
 * "kernel 127.0.0.1:7100 stopped answering (no heartbeat in 10 s) — pid
 * 100001 may still be running there" (nobody knows its fate); a request in
 * flight fails with the reason. A tick late by half the bound means this
 * client did not run (its machine slept, it was stopped): the kernel gets a
 * fresh bound, since what it sent meanwhile is read only after the timer
 * (msg/awake.ts; kernels do the same for their links).
 * A kernel from before heartbeats (no heartbeatMs in its hello) is not
 * watched.
 *
 * A daemon checks every request field by field before its kernel sees it
 * (checkRequest): a client is authenticated, not trusted to be correct. A
 * client does not choose pids here (the kernel gives them out, naming
 * itself); an exec with a pid is refused.
 */
import { decode, encode } from "@msgpack/msgpack";
import { type Address, connectAuthenticated, DEFAULT_DEAD_AFTER_MS, DEFAULT_HANDSHAKE_MS, type FramedConnection, parseAddress, WakeWatch } from "../msg/index.js";
import { type ClientReply, type ClientRequest, type ExitInfo, type MigrationRecord, type PingResult, type ProcessInfo, type Scheduler, SCHEDULERS } from "./client.js";

export interface ClusterInfo {
  /** the id of the kernel that answered */
  self: number;
  /**
   * `arch`: the machine under the kernel (process.arch), its own and each
   * peer's from its handshake. `cores`: the kernel's cores, as its daemon was
   * started with (--cores) — given for the kernel that answered only, since a
   * peer's handshake does not say its cores: ask each kernel for its own.
   * Both are absent from a daemon that predates them.
   */
  kernels: { id: number; address: string; isa: string; up: boolean; arch?: string; cores?: number }[];
}

export type RemoteRequest = ClientRequest | { t: "cluster"; req: number };

export class RemoteError extends Error {}

/** How long a client lets its kernel stay silent before it gives up on it (the header): as long as kernels give each other. */
export const KERNEL_SILENCE_MS = DEFAULT_DEAD_AFTER_MS;

export interface RemoteKernelOptions {
  /** the handshake's deadline (default DEFAULT_HANDSHAKE_MS, 5 s) */
  timeoutMs?: number;
  /** the silence after which the kernel is taken to have stopped answering (default KERNEL_SILENCE_MS; at least 3 of its heartbeat periods) */
  deadAfterMs?: number;
}

/** The most a ping series may ask for: as `popcorn ping` allows. */
export const MAX_PING_BYTES = 64 << 20;
export const MAX_PING_COUNT = 10_000_000;

/**
 * A client's request as a daemon takes it: each field of the kind it must
 * be, or a RemoteError naming the field (see the header).
 */
export function checkRequest(m: { t: string } & Record<string, unknown>): RemoteRequest {
  const fail = (field: string, want: string): never => {
    throw new RemoteError(`a ${m.t} request whose ${field} is ${JSON.stringify(m[field]) ?? "missing"}, not ${want}`);
  };
  const uint = (field: string, optional = false, max = Number.MAX_SAFE_INTEGER) => {
    const v = m[field];
    if (optional && v === undefined) return;
    if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > max) fail(field, `an integer from 0 to ${max}`);
  };
  switch (m.t) {
    case "exec":
      if (typeof m.name !== "string" || m.name === "") fail("name", "a file name");
      if (!(m.bytes instanceof Uint8Array)) fail("bytes", "the program's bytes");
      if (!Array.isArray(m.args) || !m.args.every((a) => typeof a === "string")) fail("args", "a list of strings");
      if (m.pid !== undefined) fail("pid", "absent (the kernel gives out pids)");
      if (m.schedule !== undefined && !(Array.isArray(m.schedule) && m.schedule.every((n) => Number.isSafeInteger(n) && n >= 1))) {
        fail("schedule", "a list of migration point counts ≥ 1");
      }
      if (m.scheduler !== undefined && !SCHEDULERS.includes(m.scheduler as Scheduler)) fail("scheduler", SCHEDULERS.join(" or "));
      uint("req", true);
      break;
    case "signal":
      uint("pid");
      uint("tid", true);
      uint("signo");
      uint("to", true);
      break;
    case "ping":
      uint("req");
      uint("to");
      uint("size", false, MAX_PING_BYTES);
      uint("count", false, MAX_PING_COUNT);
      break;
    case "ps":
    case "dmesg":
    case "cluster":
      uint("req");
      break;
    case "watch":
    case "shutdown":
      break;
    default:
      throw new RemoteError(`a request of unknown kind ${JSON.stringify(m.t)}`);
  }
  return m as unknown as RemoteRequest;
}

export function encodeClientMessage(m: RemoteRequest | ClientReply): Uint8Array {
  return encode(m, { ignoreUndefined: true });
}

export function decodeClientMessage<T>(bytes: Uint8Array, from: string): T {
  let m: unknown;
  try {
    m = decode(bytes);
  } catch (e) {
    throw new RemoteError(`a malformed frame from ${from} (${(e as Error).message})`);
  }
  if (typeof m !== "object" || m === null || typeof (m as { t?: unknown }).t !== "string") {
    throw new RemoteError(`a frame from ${from} that is not a popcorn client message`);
  }
  return m as T;
}

/** A client's connection to one kernel daemon. */
export class RemoteKernel {
  private nextReq = 1;
  private readonly replies = new Map<number, (d: unknown) => void>();
  private readonly exits = new Map<number, (e: ExitInfo) => void>();
  private readonly early = new Map<number, ExitInfo>();
  private closed: string | undefined;
  /** set when the watchdog closed the connection: the kernel stopped answering */
  private silent = false;
  private watchdog: NodeJS.Timeout | undefined;
  /** hold(true): this client stopped reading; since when it reads again (hold(false)) */
  private holding = false;
  private readingSince = 0;
  onOutput: ((pid: number, stream: 1 | 2, line: string) => void) | undefined;
  /** with watch(): every migration into this kernel */
  onMigration: ((r: MigrationRecord) => void) | undefined;

  private constructor(
    readonly address: string,
    private readonly conn: FramedConnection,
    heartbeatMs: number | undefined,
    deadAfterMs: number,
  ) {
    conn.onFrame((bytes) => {
      if (bytes.length > 0) this.fromKernel(decodeClientMessage<ClientReply>(bytes, address));
    });
    conn.onClose((reason) => {
      this.closed = reason;
      clearInterval(this.watchdog);
      for (const [pid, done] of this.exits) {
        const error = this.silent ? `kernel ${address} ${reason} — pid ${pid} may still be running there` : `lost the connection to kernel ${address}: ${reason}`;
        done({ status: 1, error });
      }
      this.exits.clear();
      for (const r of this.replies.values()) r(undefined);
      this.replies.clear();
    });
    if (heartbeatMs !== undefined) this.watchSilence(Math.max(deadAfterMs, 3 * heartbeatMs));
  }

  static async connect(address: string, key: Uint8Array, o: RemoteKernelOptions = {}): Promise<RemoteKernel> {
    const addr: Address = parseAddress(address, "--cluster");
    const { conn, peer } = await connectAuthenticated(addr, key, { role: "client", id: process.pid, heartbeats: true }, o.timeoutMs ?? DEFAULT_HANDSHAKE_MS);
    return new RemoteKernel(address, conn, peer.heartbeatMs, o.deadAfterMs ?? KERNEL_SILENCE_MS);
  }

  /** Closes the connection once the kernel has been silent for `boundMs` (the header). */
  private watchSilence(boundMs: number): void {
    const tickMs = boundMs / 10;
    const wake = new WakeWatch(tickMs, boundMs); // a late tick: this client did not run meanwhile
    this.watchdog = setInterval(() => {
      const now = Date.now();
      // (a kernel is silent while this client does not read it: hold)
      if (this.holding || now - Math.max(this.conn.lastActivity, wake.tick(now).woke, this.readingSince) <= boundMs) return;
      this.silent = true;
      this.conn.destroy(`stopped answering (no heartbeat in ${boundMs / 1000} s)`);
    }, tickMs);
    this.watchdog.unref(); // the socket keeps the process alive while it is open; this never does
  }

  private fromKernel(m: ClientReply): void {
    if (m.t === "output") this.onOutput?.(m.pid, m.stream, m.line);
    else if (m.t === "migrated") this.onMigration?.(m.record);
    else if (m.t === "exit") {
      const done = this.exits.get(m.pid);
      // the exit can come in the same TCP chunk as exec's reply, before exec has heard its pid
      if (done) done({ status: m.status, error: m.error });
      else this.early.set(m.pid, { status: m.status, error: m.error });
      this.exits.delete(m.pid);
    } else if (m.t === "reply") {
      this.replies.get(m.req)?.(m.data);
      this.replies.delete(m.req);
    }
  }

  private send(m: RemoteRequest): void {
    if (this.closed) throw new RemoteError(`kernel ${this.address}: the connection is closed (${this.closed})`);
    this.conn.send(encodeClientMessage(m));
  }

  /** One request, its reply's data (undefined if the connection drops first). */
  ask<T>(make: (req: number) => RemoteRequest, timeoutMs = 10_000): Promise<T> {
    const req = this.nextReq++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replies.delete(req);
        reject(new RemoteError(`kernel ${this.address} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.replies.set(req, (d) => {
        clearTimeout(timer);
        if (d === undefined && this.closed) reject(new RemoteError(`kernel ${this.address}: ${this.closed}`));
        else resolve(d as T);
      });
      try {
        this.send(make(req));
      } catch (e) {
        clearTimeout(timer);
        this.replies.delete(req);
        reject(e as Error);
      }
    });
  }

  /** Starts a program on this kernel; `exited` resolves wherever the process ends. */
  async exec(bytes: Uint8Array, name: string, args: string[], schedule?: number[], scheduler?: Scheduler): Promise<{ pid: number; exited: Promise<ExitInfo> }> {
    let resolveExit!: (e: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((r) => (resolveExit = r));
    const pid = await this.ask<number>((req) => ({ t: "exec", req, name, bytes, args, schedule, scheduler }), 60_000);
    const early = this.early.get(pid);
    if (early) resolveExit(early);
    else this.exits.set(pid, resolveExit);
    this.early.delete(pid);
    return { pid, exited };
  }

  cluster(): Promise<ClusterInfo> {
    return this.ask<ClusterInfo>((req) => ({ t: "cluster", req }));
  }
  ps(): Promise<ProcessInfo[]> {
    return this.ask<ProcessInfo[]>((req) => ({ t: "ps", req }));
  }
  dmesg(): Promise<string[]> {
    return this.ask<string[]>((req) => ({ t: "dmesg", req }));
  }
  ping(to: number, size: number, count: number): Promise<PingResult> {
    return this.ask<PingResult>((req) => ({ t: "ping", req, to, size, count }), 120_000);
  }
  /** Asks for every migration record of this kernel (onMigration). */
  watch(): void {
    this.send({ t: "watch" });
  }
  signal(pid: number, signo: number, to?: number, tid?: number): void {
    this.send({ t: "signal", pid, tid, signo, to });
  }

  /**
   * Stops reading from the kernel (on), or reads again: this client's own
   * reader does not keep up with the output (cli/output.ts). The kernel's
   * side fills, and it holds the process as for any client that does not
   * read (daemon.ts). Silence meanwhile is not the kernel's.
   */
  hold(on: boolean): void {
    if (on === this.holding) return;
    this.holding = on;
    if (on) this.conn.pause();
    else {
      this.readingSince = Date.now();
      this.conn.resume();
    }
  }

  close(): void {
    clearInterval(this.watchdog);
    this.conn.close("client done");
  }
}
