/**
 * The TCP transport: kernels in separate processes, on one machine or many.
 *
 * Kernels find each other by one ordered list of addresses (address.ts):
 * kernel k listens on peers[k]. Every pair of kernels shares exactly one
 * connection, opened by the kernel with the higher id:
 *
 *   kernel 2 ──connects──▶ kernel 1 ──connects──▶ kernel 0
 *       └──────────────connects──────────────────▶
 *
 * so two kernels never race to open two links, and a kernel that restarts
 * finds its lower peers by itself and is found by its higher ones. Each
 * connection opens with the authenticating handshake (auth.ts), then carries
 * frames (framing.ts), one message (messages.ts) per frame, in both
 * directions. Messages to one peer arrive in the order they were sent.
 *
 * A link's life, seen from one kernel:
 *
 *   down ──handshake ok──▶ up ──socket closed / error / no heartbeat / replaced──▶ down
 *     ▲                                                                            │
 *     └─── the higher id redials: 50 ms, 100 ms, … doubling, at most 2 s ──────────┘
 *
 * onPeerUp and onPeerDown fire on each transition. A link that is up sends
 * an empty frame (a heartbeat) every heartbeatMs (1 s) when it has sent
 * nothing else and nothing it sent still waits (a peer or client that is
 * not reading hears the waiting bytes first: heartbeats queued behind them
 * would only pile up); one that has heard nothing for deadAfterMs (10 s) is
 * declared down, so a peer whose machine vanished without closing its
 * sockets, or whose process froze (SIGSTOP, a hung VM), is noticed. TCP
 * alone notices a frozen process never (its OS keeps acknowledging) and a
 * vanished machine only slowly. A heartbeat tick late by more than half of
 * deadAfterMs means this kernel's own process did not run (it was stopped
 * and continued, its machine slept): its timer may run before it reads what
 * its peers sent meanwhile, so every link then gets a fresh deadAfterMs
 * (awake.ts, as a client does in kernel/remote.ts) and the late tick is
 * logged. A peer that really went away meanwhile is declared down one bound
 * later, or at once if it closed its socket.
 *
 * send() to a peer whose link is down throws TransportError naming the peer
 * and why the link is down: nothing is queued for later. A message queued
 * across a link drop could reach a restarted kernel that has never heard of
 * what it refers to (a migrate-ack for a pid it never sent); a kernel that
 * is told at once can resume the thread it was moving (DESIGN.md, decision 5).
 * While the link is up, sends queue behind the socket without bound
 * (framing.ts); bufferedBytes(peer) says how much waits. What was written to
 * a link that then drops may or may not have arrived: onPeerDown is the
 * signal to settle anything that waited for an answer from that peer.
 *
 * The listening port also takes clients (role "client" in the handshake):
 * after the handshake they are handed to onClient, frames and all. A kernel
 * says its heartbeatMs in its hello; a client that says `heartbeats: true`
 * in its own gets the same heartbeats as a link (clients from before them
 * closed on an empty frame, so others get none), and watches for silence
 * itself (kernel/remote.ts). The kernel does not watch a client's silence:
 * a client that is merely stopped (Ctrl-Z) must find its process on `fg`;
 * TCP keepalive notices a client machine that vanished. Anything
 * else that connects — wrong key, wrong version, not popcorn, a kernel that
 * is not in the list or that should be dialling the other way — is refused
 * and logged with the reason (at most 10 refusal lines a second; a count of
 * the rest follows).
 */
import { createServer, type Server, type Socket } from "node:net";
import { type Address, formatAddress } from "./address.js";
import { acceptAuthenticated, AuthError, connectAuthenticated, DEFAULT_HANDSHAKE_MS, digest, type Hello } from "./auth.js";
import { WakeWatch } from "./awake.js";
import type { FramedConnection } from "./framing.js";
import { decodeMessage, encodeMessage, type KernelMessage } from "./messages.js";
import { isShared, releaseMessage } from "./ring.js";
import { type MessageHandler, type Transport, TransportError, type TransportStats } from "./transport.js";

export interface TcpTransportOptions {
  /** this kernel's id: its index in `peers` */
  self: number;
  /** every kernel's address, this one's included, in kernel-id order */
  peers: Address[];
  /** the cluster key (readKeyFile) */
  key: Uint8Array;
  /** this kernel's ISA profile, told to peers in the handshake */
  isa: string;
  /** joins, leaves, refusals with reasons, reconnects */
  log(line: string): void;
  /** an authenticated connection with role "client" on the listening port; without this, clients are refused */
  onClient?(conn: FramedConnection, peer: Hello): void;
  /** a peer kernel's link dropped */
  onPeerDown?(peer: number, reason: string): void;
  /** a peer kernel's link came up; `hello` is what it said in the handshake (its isa, arch) */
  onPeerUp?(peer: number, hello: Hello): void;
  /** the interface to listen on (default: the host of peers[self]); "0.0.0.0" or "::" for all */
  listenHost?: string;
  handshakeTimeoutMs?: number;
  /** redial delays: the first, and the cap it doubles up to (default 50 ms, 2000 ms) */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** heartbeat period (default DEFAULT_HEARTBEAT_MS) and the silence after which a link is declared down (default DEFAULT_DEAD_AFTER_MS) */
  heartbeatMs?: number;
  deadAfterMs?: number;
  /** handshakes in progress on the listening port beyond which new connections are refused at once (default 64) */
  maxPendingHandshakes?: number;
}

interface Link {
  id: number;
  address: Address;
  conn: FramedConnection | undefined;
  hello: Hello | undefined;
  /** why it is down ("not connected yet" until it first comes up) */
  downReason: string;
  // the dialling side (peers with a lower id) only:
  dialing: AbortController | undefined;
  redial: NodeJS.Timeout | undefined;
  backoff: number;
  failures: number;
  lastFailure: string | undefined;
}

const REFUSAL_LINES_PER_SECOND = 10;
const KEEPALIVE_MS = 15_000;

/** How often a quiet connection gets a heartbeat, and how long a silent link lives (the header): the defaults of heartbeatMs and deadAfterMs. */
export const DEFAULT_HEARTBEAT_MS = 1000;
export const DEFAULT_DEAD_AFTER_MS = 10_000;

export class TcpTransport implements Transport {
  readonly kind = "tcp";
  readonly self: number;
  readonly peers: number[];
  private readonly links = new Map<number, Link>();
  private readonly pending = new Set<Socket>();
  /** each client connection, and whether it takes heartbeats */
  private readonly clients = new Map<FramedConnection, boolean>();
  private handler: MessageHandler | undefined;
  private errorHandler: ((from: number, error: Error) => void) | undefined;
  private readonly counters: TransportStats = { sent: { messages: 0, bytes: 0 }, received: { messages: 0, bytes: 0 } };
  private readonly hello: Hello;
  private readonly cluster: string;
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private unheard: NodeJS.Timeout | undefined;
  /** when this process last woke from not running (the header) */
  private readonly wake: WakeWatch;
  private refusals = { windowStart: 0, lines: 0, suppressed: 0, timer: undefined as NodeJS.Timeout | undefined };
  private readonly o: Required<Pick<TcpTransportOptions, "handshakeTimeoutMs" | "reconnectMinMs" | "reconnectMaxMs" | "heartbeatMs" | "deadAfterMs" | "maxPendingHandshakes">>;

  private constructor(
    private readonly opts: TcpTransportOptions,
    private readonly server: Server,
  ) {
    this.self = opts.self;
    this.peers = opts.peers.map((_, i) => i).filter((i) => i !== opts.self);
    this.o = {
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_MS,
      reconnectMinMs: opts.reconnectMinMs ?? 50,
      reconnectMaxMs: opts.reconnectMaxMs ?? 2000,
      heartbeatMs: opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
      deadAfterMs: opts.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS,
      maxPendingHandshakes: opts.maxPendingHandshakes ?? 64,
    };
    this.wake = new WakeWatch(this.o.heartbeatMs, this.o.deadAfterMs);
    this.cluster = clusterDigest(opts.peers);
    this.hello = { role: "kernel", id: opts.self, isa: opts.isa, arch: process.arch, cluster: this.cluster, heartbeatMs: this.o.heartbeatMs };
    for (const id of this.peers) {
      this.links.set(id, {
        id, address: opts.peers[id]!, conn: undefined, hello: undefined, downReason: "not connected yet",
        dialing: undefined, redial: undefined, backoff: this.o.reconnectMinMs, failures: 0, lastFailure: undefined,
      });
    }
  }

  /**
   * Once, deadAfterMs after starting: the higher kernels that have never
   * connected — they dial this one, so this one cannot reach them by itself.
   * Two kernels whose --peers lists differ (the same addresses in another
   * order) each wait for the other to dial, for ever and in silence.
   */
  private unheardPeers(): void {
    const n = this.opts.peers.length;
    for (const link of this.links.values()) {
      if (link.id < this.opts.self || link.hello) continue; // a lower kernel this one dials (and logs); one that was up once
      this.opts.log(
        `kernel ${link.id} (${formatAddress(link.address)}) has not connected in ${this.o.deadAfterMs / 1000} s — it dials this kernel (${this.opts.self} of ${n}): ` +
          `is it running, with this same --peers list in this same order?`,
      );
    }
  }

  /** Listens on peers[self], then dials every lower id; resolves once listening (peers come up later: onPeerUp). */
  static async start(opts: TcpTransportOptions): Promise<TcpTransport> {
    const { self, peers, key } = opts;
    if (!Number.isInteger(self) || self < 0 || self >= peers.length) {
      throw new TransportError(`kernel id ${self} is not in the peer list (kernels 0..${peers.length - 1})`);
    }
    if (key.length === 0) throw new TransportError("the cluster key is empty");
    const own = peers[self]!;
    const host = opts.listenHost ?? own.host;
    const server = createServer({ pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      const failed = (e: NodeJS.ErrnoException) => {
        const hint =
          e.code === "EADDRINUSE" ? " — another kernel (or program) already listens there"
          : e.code === "EADDRNOTAVAIL" ? " — no interface of this machine has that address; is this the right machine for this --listen?"
          : e.code === "EACCES" ? " — ports below 1024 need privileges" : "";
        reject(new TransportError(`kernel ${self} cannot listen on ${formatAddress({ host, port: own.port })}: ${e.code ?? e.message}${hint}`));
      };
      server.once("error", failed);
      server.listen({ host, port: own.port }, () => {
        server.off("error", failed);
        resolve();
      });
    });
    const t = new TcpTransport(opts, server);
    server.on("connection", (sock) => t.accepted(sock));
    server.on("error", (e) => t.opts.log(`listening socket: ${e.message}`));
    t.opts.log(`kernel ${self} listening on ${formatAddress(t.address())}; peers: ${peers.map((a, i) => `${i}=${formatAddress(a)}`).join(" ")}`);
    for (const id of t.peers) if (id < self) t.dial(t.links.get(id)!);
    t.heartbeat = setInterval(() => t.beat(), t.o.heartbeatMs);
    t.heartbeat.unref();
    t.unheard = setTimeout(() => t.unheardPeers(), t.o.deadAfterMs);
    t.unheard.unref();
    return t;
  }

  /** Where it listens (the port is the real one when peers[self] said 0). */
  address(): Address {
    const a = this.server.address();
    if (a && typeof a === "object") return { host: a.address, port: a.port };
    return this.opts.peers[this.self]!;
  }

  up(peer: number): boolean {
    return this.links.get(peer)?.conn !== undefined;
  }

  /** What `peer` said in its handshake (isa, arch), once its link has come up. */
  peerHello(peer: number): Hello | undefined {
    return this.links.get(peer)?.hello;
  }

  /** Bytes sent to `peer` that its socket has not yet taken. */
  bufferedBytes(peer: number): number {
    return this.links.get(peer)?.conn?.bufferedBytes() ?? 0;
  }

  send(to: number, msg: KernelMessage): void {
    this.conn(to); // a peer that is down costs no encoding
    this.sendEncoded(to, encodeMessage(msg));
  }

  /**
   * Sends an encoded message. A buffer from a MessageRing is copied and
   * released here (the ring must not wait on the network); any other buffer
   * is written as is: do not change it after. Throws TransportError, and
   * leaves the buffer alone, when the peer is unknown or down.
   */
  sendEncoded(to: number, bytes: Uint8Array): void {
    const conn = this.conn(to);
    const payload = isShared(bytes) ? bytes.slice() : bytes;
    conn.send(payload);
    // released only once sent: on a throw the caller still owns it (and releases it, once)
    if (payload !== bytes) releaseMessage(bytes);
    this.counters.sent.messages++;
    this.counters.sent.bytes += payload.length;
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  onError(handler: (from: number, error: Error) => void): void {
    this.errorHandler = handler;
  }

  stats(): TransportStats {
    return structuredClone(this.counters);
  }

  /** Closes the listening socket, every connection and timer. No callback fires after. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.unheard);
    clearTimeout(this.refusals.timer);
    for (const l of this.links.values()) {
      clearTimeout(l.redial);
      l.dialing?.abort();
      l.conn?.destroy("transport closed");
      l.conn = undefined;
    }
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    for (const c of this.clients.keys()) c.destroy("transport closed");
    this.clients.clear();
    this.server.close();
  }

  // ---- links ----

  private conn(to: number): FramedConnection {
    const link = this.links.get(to);
    if (!link) {
      throw new TransportError(`kernel ${this.self} has no link to kernel ${to} (peers: ${this.peers.join(", ") || "none"})`);
    }
    if (this.closed) throw new TransportError(`kernel ${this.self}'s transport is closed — not sent to kernel ${to}`);
    if (!link.conn) throw new TransportError(`kernel ${to} (${formatAddress(link.address)}) is down: ${link.downReason} — not sent`);
    return link.conn;
  }

  /** A kernel link authenticated, either way round. */
  private linkUp(link: Link, conn: FramedConnection, hello: Hello): void {
    if (link.conn) {
      // the peer dialled again while we still held its old link (it restarted, or the old one died silently)
      const old = link.conn;
      link.conn = undefined;
      old.destroy("replaced by a new connection");
      this.linkDown(link, "replaced by a new connection");
    }
    link.conn = conn;
    link.hello = hello;
    link.backoff = this.o.reconnectMinMs;
    const after = link.failures > 1 ? ` after ${link.failures} failed attempts` : "";
    link.failures = 0;
    link.lastFailure = undefined;
    this.opts.log(
      `link to kernel ${link.id} up${after}: ${conn.remote}, ${hello.isa ?? "?"}${hello.arch ? ` on ${hello.arch}` : ""}`,
    );
    conn.onFrame((payload) => this.received(link.id, payload));
    conn.onClose((reason) => {
      if (link.conn !== conn || this.closed) return;
      link.conn = undefined;
      this.linkDown(link, reason);
    });
    this.safely(`onPeerUp(${link.id})`, () => this.opts.onPeerUp?.(link.id, hello));
  }

  private linkDown(link: Link, reason: string): void {
    link.downReason = reason;
    this.opts.log(`link to kernel ${link.id} down: ${reason}`);
    this.safely(`onPeerDown(${link.id})`, () => this.opts.onPeerDown?.(link.id, reason));
    if (link.id < this.self && !this.closed) this.scheduleDial(link, this.o.reconnectMinMs);
  }

  private received(from: number, payload: Uint8Array): void {
    if (payload.length === 0) return; // a heartbeat
    this.counters.received.messages++;
    this.counters.received.bytes += payload.length;
    let msg: KernelMessage;
    try {
      msg = decodeMessage(payload, `kernel ${from}`);
    } catch (e) {
      return this.reportError(from, e as Error);
    }
    try {
      this.handler?.(from, msg, payload);
    } catch (e) {
      this.reportError(from, e as Error);
    }
  }

  /** Runs a caller's callback: what it throws is logged, never left to crash the process from a socket event. */
  private safely(what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      try {
        this.opts.log(`${what} failed: ${(e as Error).stack ?? e}`);
      } catch {
        // the log itself failed: nothing left to tell
      }
    }
  }

  private reportError(from: number, e: Error): void {
    try {
      this.errorHandler?.(from, e);
    } catch {
      // an error handler that fails has nobody left to tell; the link stays up
    }
  }

  /** Every heartbeat period: a frame on each quiet link and client that takes them, and down with the links that went silent. */
  private beat(): void {
    const now = Date.now();
    const { woke, lateMs } = this.wake.tick(now);
    if (lateMs > 0) {
      this.opts.log(
        `heartbeat timer ran ${(lateMs / 1000).toFixed(1)} s late (this kernel's process did not run: stopped, or its machine slept) — its links get a fresh ${this.o.deadAfterMs / 1000} s before any is declared down`,
      );
    }
    for (const link of this.links.values()) {
      const c = link.conn;
      if (!c) continue;
      const silent = now - Math.max(c.lastActivity, woke);
      if (silent > this.o.deadAfterMs) {
        c.destroy(`no word from kernel ${link.id} for ${(silent / 1000).toFixed(1)} s (heartbeat)`);
        continue;
      }
      if (this.quiet(c, now)) c.send(new Uint8Array(0));
    }
    for (const [c, beats] of this.clients) if (beats && this.quiet(c, now)) c.send(new Uint8Array(0));
  }

  /**
   * Whether a connection has sent nothing since the last tick, and nothing
   * it sent still waits for the socket (the header): half a period of
   * slack, as this tick's own beat stamped lastSent a little after the
   * tick's `now` (with none, a quiet connection heard every other tick).
   */
  private quiet(c: FramedConnection, now: number): boolean {
    return now - c.lastSent >= this.o.heartbeatMs / 2 && c.bufferedBytes() === 0;
  }

  // ---- dialling (to lower ids) ----

  private scheduleDial(link: Link, delay: number): void {
    clearTimeout(link.redial);
    link.redial = setTimeout(() => {
      link.redial = undefined;
      this.dial(link);
    }, delay);
  }

  private dial(link: Link): void {
    if (this.closed || link.conn || link.dialing) return;
    const abort = new AbortController();
    link.dialing = abort;
    const check = (p: Hello): string | undefined => {
      if (p.role !== "kernel") return `${formatAddress(link.address)} is kernel ${link.id} in our list, but a ${p.role} answered there`;
      if (p.id !== link.id) return `${formatAddress(link.address)} is kernel ${link.id} in our list, but kernel ${p.id} answered there — do all kernels have the same --peers list?`;
      return this.sameCluster(p);
    };
    connectAuthenticated(link.address, this.opts.key, this.hello, this.o.handshakeTimeoutMs, { check, signal: abort.signal }).then(
      ({ conn, peer }) => {
        link.dialing = undefined;
        if (this.closed) return conn.destroy("transport closed");
        this.linkUp(link, conn, peer);
      },
      (e: unknown) => {
        link.dialing = undefined;
        if (this.closed) return;
        if (link.conn) return; // it dialled us meanwhile (cannot happen with consistent lists, but harmless)
        const why = e instanceof AuthError ? e.message : String(e);
        const code = e instanceof AuthError ? e.code : "error";
        link.failures++;
        if (code !== link.lastFailure) {
          const retry = link.failures === 1 ? ` — retrying every ≤ ${this.o.reconnectMaxMs} ms` : "";
          this.opts.log(`kernel ${link.id} not reached: ${why}${retry}`);
          link.lastFailure = code;
        }
        const delay = link.backoff;
        link.backoff = Math.min(link.backoff * 2, this.o.reconnectMaxMs);
        this.scheduleDial(link, delay);
      },
    );
  }

  // ---- accepting ----

  private accepted(sock: Socket): void {
    sock.setNoDelay(true);
    sock.setKeepAlive(true, KEEPALIVE_MS); // a client's silence is not watched (the header): let TCP notice a machine that vanished
    const who = `${sock.remoteAddress}:${sock.remotePort}`;
    if (this.closed) return void sock.destroy();
    if (this.pending.size >= this.o.maxPendingHandshakes) {
      sock.on("error", () => {});
      sock.destroy();
      return this.refused(`refused ${who}: ${this.pending.size} handshakes already in progress`);
    }
    this.pending.add(sock);
    sock.once("close", () => this.pending.delete(sock));
    const check = (p: Hello): string | undefined => {
      if (p.role === "client") return this.opts.onClient ? undefined : "this kernel takes no client connections";
      if (!Number.isInteger(p.id) || p.id >= this.opts.peers.length) {
        return `kernel ${p.id} is not in this kernel's peer list (kernels 0..${this.opts.peers.length - 1}) — do all kernels have the same --peers list?`;
      }
      if (p.id < this.self) {
        return `kernel ${p.id} dialled kernel ${this.self}, but the higher id dials the lower — do all kernels have the same --peers list?`;
      }
      return this.sameCluster(p);
    };
    acceptAuthenticated(sock, this.opts.key, this.hello, this.o.handshakeTimeoutMs, { check }).then(
      ({ conn, peer }) => {
        this.pending.delete(sock);
        if (this.closed) return conn.destroy("transport closed");
        if (peer.role === "client") {
          this.clients.set(conn, peer.heartbeats === true);
          conn.onClose(() => this.clients.delete(conn));
          this.safely(`the client handler for ${conn.remote}`, () => this.opts.onClient!(conn, peer));
          return;
        }
        this.linkUp(this.links.get(peer.id)!, conn, peer);
      },
      (e: unknown) => {
        this.pending.delete(sock);
        if (this.closed) return;
        this.refused(`refused ${who}: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  private sameCluster(p: Hello): string | undefined {
    if (p.cluster === this.cluster) return undefined;
    return `kernel ${p.id} has a different peer list (digest ${p.cluster ?? "none"}, ours ${this.cluster}) — give every kernel the same --peers list, in the same order`;
  }

  /** Logs a refusal, at most REFUSAL_LINES_PER_SECOND a second; then how many more there were. */
  private refused(line: string): void {
    const r = this.refusals;
    const now = Date.now();
    if (now - r.windowStart >= 1000) {
      r.windowStart = now;
      r.lines = 0;
    }
    if (r.lines < REFUSAL_LINES_PER_SECOND) {
      r.lines++;
      return this.opts.log(line);
    }
    r.suppressed++;
    if (!r.timer) {
      r.timer = setTimeout(() => {
        r.timer = undefined;
        if (this.closed) return;
        this.opts.log(`… and ${r.suppressed} more connection${r.suppressed === 1 ? "" : "s"} refused`);
        r.suppressed = 0;
      }, 1000 - (now - r.windowStart));
      r.timer.unref();
    }
  }
}

/** The digest kernels compare in the handshake: equal peer lists, equal digests. */
export function clusterDigest(peers: Address[]): string {
  return digest(peers.map(formatAddress).join(","));
}
