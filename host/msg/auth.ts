/**
 * The handshake that opens every TCP connection of a cluster: both ends
 * prove they hold the cluster key, without the key or anything derived from
 * it alone crossing the wire, and agree on the protocol version.
 *
 * Mutual HMAC-SHA256 challenge–response. Each side sends a fresh random
 * nonce in its hello; each proves the key by a MAC over both nonces and both
 * hellos, tagged with its side of the connection:
 *
 *   proof(side) = HMAC-SHA256(key, "popcorn handshake" ‖ 0x00 ‖ side ‖ nonce(peer) ‖ nonce(own) ‖ HELLO_A ‖ HELLO_C)
 *
 * where side is the byte "A" (acceptor: the end that listened) or "C"
 * (connector), and HELLO_A, HELLO_C are the two hello records exactly as
 * sent. Fresh nonces make every proof single-use; the side tag means a proof
 * made as one side is never valid as the other (no reflection); the hellos
 * in the MAC bind who said what (role, id, version) to the key. Proofs are
 * compared in constant time. A kernel also refuses a kernel that claims its
 * own id: the one way left to replay its proofs at itself across two
 * connections, and a configuration mistake in its own right.
 *
 * Sequence. The connector proves first and the acceptor proves only to a
 * connector that proved: whoever connects to a kernel's port learns no MAC
 * of the key without holding it (no offline guessing of a weak key).
 *
 *   connector                                          acceptor
 *   HELLO_C ──────────────────────────────────────▶    magic, version, hello ok?
 *        ◀──────────────────────────────────────────   HELLO_A     (+ REFUSE and close on a bad one)
 *   version, hello ok?
 *   ACCEPT proof(C) ──────────────────────────────▶    proof(C) right? (constant time)
 *        ◀──────────────────────────────────────────   ACCEPT proof(A)   | REFUSE wrong key, close
 *   proof(A) right?
 *   ACCEPT ───────────────────────────────────────▶    (or REFUSE wrong key, close)
 *   frames (framing.ts) ◀────────────────────────▶     frames
 *
 * Byte layout (integers little-endian):
 *
 *   HELLO   Offset | Size | Value
 *           0      | 4    | magic "PCRN" (50 43 52 4e)
 *           4      | 2    | protocol version, u16        ← offsets 0–5 are the same in every version
 *           6      | 2    | n: length of the hello text, u16, 2..1024
 *           8      | 32   | nonce: random bytes
 *           40     | n    | hello text: JSON, e.g. {"role":"kernel","id":1,"isa":"aarch64","arch":"arm64","cluster":"9c1e…","heartbeatMs":1000}
 *                  |      |   or {"role":"client","id":4242,"heartbeats":true} (fields: Hello below)
 *
 *   ACCEPT  0      | 1    | 0x00
 *           1      | 32   | proof — absent in the connector's final ACCEPT
 *
 *   REFUSE  0      | 1    | 0x01
 *           1      | 1    | why: 1 wrong key, 2 version, 3 bad hello, 4 not welcome (a check refused the hello)
 *           2      | 2    | m: length of the reason, u16, ≤ 1024
 *           4      | m    | the reason, UTF-8, for the other side's log
 *
 * Both sides read the first 6 bytes of the other's hello before anything
 * else, so a version mismatch is named with both versions on both sides. A
 * connection whose first bytes are not "PCRN" (an HTTP request, a port
 * scanner, random bytes) is closed as "not popcorn" as soon as a byte
 * differs. Every step runs under one deadline (timeoutMs); on the
 * connecting side, a handshake that runs out of it says what that usually
 * means: "127.0.0.1:7101: no handshake within 5000 ms (it sent nothing) —
 * the kernel there is frozen (stopped) or overloaded, or it is not a popcorn
 * kernel".
 *
 * What this does not do: encrypt, or authenticate the frames that follow.
 * The handshake proves who is at each end when the connection opens; on a
 * network where someone can take over a TCP connection, run the cluster
 * inside a VPN or an SSH tunnel.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { connect, type Socket } from "node:net";
import { type Address, formatAddress } from "./address.js";
import { FramedConnection, socketName } from "./framing.js";

/**
 * The version of everything after the handshake too: the frames and the
 * messages in them (messages.ts). Two kernels of different versions would
 * read each other's messages wrong without an error, so the handshake
 * refuses them. 1: the first; 2: the blob area at a multiple of 8, dense
 * pages in diffs (test/msg/messages.test.ts pins the bytes to this number);
 * 3: syscalls made while the thread waits on another kernel (sys `now`,
 * sys-park) — a version-2 origin would make a `now` lock that blocks and
 * keep a core waiting on it.
 */
export const PROTOCOL_VERSION = 3;
export const MAGIC = Uint8Array.of(0x50, 0x43, 0x52, 0x4e); // "PCRN"
export const NONCE_BYTES = 32;
export const MAX_HELLO_BYTES = 1024;
export const DEFAULT_HANDSHAKE_MS = 5000;

const MAC_LABEL = new TextEncoder().encode("popcorn handshake\0");
const ACCEPT = 0x00;
const REFUSE = 0x01;
const PROOF_BYTES = 32;

export interface Hello {
  role: "kernel" | "client";
  /** the kernel id for kernels; anything for clients */
  id: number;
  /** the kernel's ISA profile */
  isa?: string;
  /** the machine under it (process.arch) */
  arch?: string;
  /** a digest of the kernel's peer list (tcp.ts): kernels of one cluster have the same */
  cluster?: string;
  /**
   * a kernel: how often it sends a heartbeat (an empty frame) on a quiet
   * connection, in ms (tcp.ts) — to kernels always, to clients that ask.
   * Kernels from before it send clients none (a client then cannot tell a
   * kernel that froze from one that is busy: remote.ts)
   */
  heartbeatMs?: number;
  /** a client: it takes heartbeats (clients from before them closed on an empty frame) */
  heartbeats?: boolean;
}

export type AuthFailure =
  | "wrong-key"
  | "version"
  | "not-popcorn"
  | "bad-hello"
  | "not-welcome"
  | "timeout"
  | "refused"
  | "unreachable"
  | "closed"
  | "aborted";

/** A connection that did not authenticate; `code` says why, the message says it for a person. */
export class AuthError extends Error {
  constructor(
    readonly code: AuthFailure,
    message: string,
  ) {
    super(message);
  }
}

const REFUSE_CODES: Record<number, AuthFailure> = { 1: "wrong-key", 2: "version", 3: "bad-hello", 4: "not-welcome" };
const CODE_OF: Partial<Record<AuthFailure, number>> = { "wrong-key": 1, version: 2, "bad-hello": 3, "not-welcome": 4 };

export interface HandshakeOptions {
  /** looks at the peer's hello: a string refuses it with that reason (sent to the peer, and in the AuthError) */
  check?(peer: Hello): string | undefined;
  /** abandons the handshake (the socket is destroyed, the promise rejects with code "aborted") */
  signal?: AbortSignal;
}

/** The listening side: authenticates a socket the server accepted. */
export function acceptAuthenticated(
  sock: Socket,
  key: Uint8Array,
  self: Hello,
  timeoutMs = DEFAULT_HANDSHAKE_MS,
  opts: HandshakeOptions = {},
): Promise<{ conn: FramedConnection; peer: Hello }> {
  const who = socketName(sock);
  const wire = new Wire(sock, who, timeoutMs, opts.signal);
  return wire.run(async () => {
    const ownA = helloRecord(self);
    // our hello goes out once theirs starts with the magic: a peer of another version then names both versions
    const helloC = await readHello(wire, who, () => wire.write(ownA.bytes));
    const peer = checkHello(wire, who, helloC, self, opts.check);
    const proofC = await readVerdict(wire, who, PROOF_BYTES);
    const expected = proof(key, "C", ownA.nonce, helloC.nonce, ownA.bytes, helloC.bytes);
    if (!timingSafeEqual(proofC, expected)) throw wrongKey(wire, who, peer);
    wire.write(Uint8Array.of(ACCEPT, ...proof(key, "A", helloC.nonce, ownA.nonce, ownA.bytes, helloC.bytes)));
    await readVerdict(wire, who, 0);
    return { conn: wire.detach(), peer };
  });
}

/** The connecting side: opens a connection to `addr` and authenticates it. */
export function connectAuthenticated(
  addr: Address,
  key: Uint8Array,
  self: Hello,
  timeoutMs = DEFAULT_HANDSHAKE_MS,
  opts: HandshakeOptions = {},
): Promise<{ conn: FramedConnection; peer: Hello }> {
  const who = formatAddress(addr);
  const sock = connect({ host: addr.host, port: addr.port });
  sock.setNoDelay(true);
  sock.setKeepAlive(true, 15_000);
  const wire = new Wire(sock, who, timeoutMs, opts.signal, true);
  return wire.run(async () => {
    await wire.connected();
    const ownC = helloRecord(self);
    wire.write(ownC.bytes);
    const helloA = await readHello(wire, who);
    const peer = checkHello(wire, who, helloA, self, opts.check);
    wire.write(Uint8Array.of(ACCEPT, ...proof(key, "C", helloA.nonce, ownC.nonce, helloA.bytes, ownC.bytes)));
    const proofA = await readVerdict(wire, who, PROOF_BYTES);
    const expected = proof(key, "A", ownC.nonce, helloA.nonce, helloA.bytes, ownC.bytes);
    if (!timingSafeEqual(proofA, expected)) throw wrongKey(wire, who, peer);
    wire.write(Uint8Array.of(ACCEPT));
    return { conn: wire.detach(), peer };
  });
}

// ---- records ----

function helloRecord(self: Hello): { bytes: Uint8Array; nonce: Uint8Array } {
  const text = new TextEncoder().encode(JSON.stringify(self));
  if (text.length > MAX_HELLO_BYTES) throw new AuthError("bad-hello", `our own hello is ${text.length} bytes, more than ${MAX_HELLO_BYTES}`);
  const nonce = randomBytes(NONCE_BYTES);
  const bytes = new Uint8Array(8 + NONCE_BYTES + text.length);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(4, PROTOCOL_VERSION, true);
  view.setUint16(6, text.length, true);
  bytes.set(nonce, 8);
  bytes.set(text, 8 + NONCE_BYTES);
  return { bytes, nonce };
}

interface PeerHello {
  version: number;
  nonce: Uint8Array;
  /** the record as received, for the MAC */
  bytes: Uint8Array;
  hello?: Hello;
  problem?: string;
}

async function readHello(wire: Wire, who: string, afterMagic?: () => void): Promise<PeerHello> {
  for (let i = 0; i < MAGIC.length; i++) {
    const b = (await wire.read(1))[0]!;
    if (b !== MAGIC[i]) throw wire.fail("not-popcorn", `${who} is not popcorn: it sent ${wire.shown()} where "PCRN" was due`);
  }
  afterMagic?.();
  const v = await wire.read(2);
  const version = v[0]! | (v[1]! << 8);
  if (version !== PROTOCOL_VERSION) return { version, nonce: new Uint8Array(0), bytes: new Uint8Array(0) };
  const l = await wire.read(2);
  const n = l[0]! | (l[1]! << 8);
  if (n < 2 || n > MAX_HELLO_BYTES) {
    const problem = `${n} bytes of hello text (2..${MAX_HELLO_BYTES} allowed)`;
    throw wire.refuse("bad-hello", `${who} sent a malformed hello: ${problem}`, `your hello is malformed: ${problem}`);
  }
  const nonce = await wire.read(NONCE_BYTES);
  const text = await wire.read(n);
  const bytes = new Uint8Array(8 + NONCE_BYTES + n);
  bytes.set(MAGIC, 0);
  bytes.set(v, 4);
  bytes.set(l, 6);
  bytes.set(nonce, 8);
  bytes.set(text, 8 + NONCE_BYTES);
  const parsed = parseHello(text);
  return { version, nonce, bytes, ...parsed };
}

function parseHello(text: Uint8Array): { hello?: Hello; problem?: string } {
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(text));
  } catch (e) {
    return { problem: `not JSON (${(e as Error).message})` };
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return { problem: "not a JSON object" };
  const r = o as Record<string, unknown>;
  if (r.role !== "kernel" && r.role !== "client") return { problem: `role ${JSON.stringify(r.role)} (kernel or client expected)` };
  if (typeof r.id !== "number" || !Number.isSafeInteger(r.id) || r.id < 0) return { problem: `id ${JSON.stringify(r.id)} (a whole number ≥ 0 expected)` };
  const hello: Hello = { role: r.role, id: r.id };
  for (const f of ["isa", "arch", "cluster"] as const) {
    const v = r[f];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length > 64) return { problem: `${f} ${JSON.stringify(v)?.slice(0, 80)} (a string of at most 64 characters expected)` };
    hello[f] = v;
  }
  if (r.heartbeatMs !== undefined) {
    const v = r.heartbeatMs;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > 3_600_000) return { problem: `heartbeatMs ${JSON.stringify(v)?.slice(0, 80)} (a whole number of ms from 1 to 3600000 expected)` };
    hello.heartbeatMs = v;
  }
  if (r.heartbeats !== undefined) {
    if (typeof r.heartbeats !== "boolean") return { problem: `heartbeats ${JSON.stringify(r.heartbeats)?.slice(0, 80)} (true or false expected)` };
    hello.heartbeats = r.heartbeats;
  }
  return { hello };
}

/** The next record must be ACCEPT with `proofBytes` of proof; a REFUSE becomes an AuthError with the peer's reason. */
async function readVerdict(wire: Wire, who: string, proofBytes: number): Promise<Uint8Array> {
  const status = (await wire.read(1))[0]!;
  if (status === ACCEPT) return wire.read(proofBytes);
  if (status !== REFUSE) throw wire.fail("bad-hello", `${who} broke the handshake: record type ${status} (0 or 1 expected)`);
  const [why, lo, hi] = await wire.read(3);
  const m = lo! | (hi! << 8);
  if (m > MAX_HELLO_BYTES) throw wire.fail("bad-hello", `${who} refused us with a ${m}-byte reason`);
  const reason = new TextDecoder().decode(await wire.read(m));
  throw wire.fail(REFUSE_CODES[why!] ?? "not-welcome", `${who} refused us: ${reason}`);
}

function proof(key: Uint8Array, side: "A" | "C", peerNonce: Uint8Array, ownNonce: Uint8Array, helloA: Uint8Array, helloC: Uint8Array): Uint8Array {
  return createHmac("sha256", key)
    .update(MAC_LABEL)
    .update(side)
    .update(peerNonce)
    .update(ownNonce)
    .update(helloA)
    .update(helloC)
    .digest();
}

/** The peer's hello if this side talks to it; otherwise the REFUSE is sent and the error thrown. */
function checkHello(wire: Wire, who: string, h: PeerHello, self: Hello, check: HandshakeOptions["check"]): Hello {
  if (h.version !== PROTOCOL_VERSION) {
    throw wire.refuse(
      "version",
      `${who} speaks popcorn protocol version ${h.version}, this side speaks version ${PROTOCOL_VERSION} — run the same popcorn version on every kernel and client`,
      `this side speaks popcorn protocol version ${PROTOCOL_VERSION}, you speak version ${h.version} — run the same popcorn version on every kernel and client`,
    );
  }
  if (!h.hello) throw wire.refuse("bad-hello", `${who} sent a malformed hello: ${h.problem}`, `your hello is malformed: ${h.problem}`);
  const unwelcome = refusal(self, h.hello, check);
  if (unwelcome) throw wire.refuse("not-welcome", `${who} (${describe(h.hello)}) refused: ${unwelcome}`, unwelcome);
  return h.hello;
}

function wrongKey(wire: Wire, who: string, peer: Hello): AuthError {
  return wire.refuse(
    "wrong-key",
    `${who} (${describe(peer)}) has the wrong key: its proof does not match our key — give every kernel and client the same key file`,
    "wrong key: your proof does not match our key — give every kernel and client the same key file",
  );
}

/** Why `self` will not talk to `peer`, if it will not. */
function refusal(self: Hello, peer: Hello, check: HandshakeOptions["check"]): string | undefined {
  if (self.role === "kernel" && peer.role === "kernel" && peer.id === self.id) {
    return `it claims to be kernel ${peer.id}, which is this kernel's own id — do two kernels have the same --listen address?`;
  }
  return check?.(peer);
}

function describe(h: Hello): string {
  return h.role === "kernel" ? `kernel ${h.id}${h.isa ? `, ${h.isa}` : ""}` : `client ${h.id}`;
}

/** A short, stable digest of anything both ends must agree on (tcp.ts: the peer list). */
export function digest(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

// ---- the socket during the handshake ----

/**
 * Reads exact byte counts from a socket under one deadline. Bytes beyond
 * what the handshake reads stay buffered and become the framed connection's
 * leftover. It stops reading (pauses the socket) while it holds more than
 * READ_AHEAD bytes, so a peer that floods the port cannot make it buffer
 * more.
 */
const READ_AHEAD = 64 * 1024;

class Wire {
  private buf: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private waiting: { n: number; resolve: (b: Uint8Array) => void } | undefined;
  private failure: AuthError | undefined;
  private reject: ((e: AuthError) => void) | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly onEnd = () => this.lost("closed", `${this.who} closed the connection during the handshake${this.progress()}`);
  private readonly onChunk = (chunk: Buffer) => this.onData(chunk);
  private readonly onSocketError = (e: NodeJS.ErrnoException) => this.onError(e);
  /** everything received, for shown() */
  private seen: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  private abort: (() => void) | undefined;

  constructor(
    private readonly sock: Socket,
    private readonly who: string,
    private readonly timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    /** this end dialled `who` (connectAuthenticated): a timeout says what a silent address usually is */
    private readonly connector = false,
  ) {
    sock.on("data", this.onChunk).on("end", this.onEnd).on("close", this.onEnd).on("error", this.onSocketError);
    this.timer = setTimeout(() => {
      // the side that dialled an address: what a silent one usually is, for whoever typed that address
      const hint = !this.connector ? "" : this.seen.length === 0 ? " — the kernel there is frozen (stopped) or overloaded, or it is not a popcorn kernel" : " — the kernel there is frozen (stopped) or overloaded";
      this.lost("timeout", `${this.who}: no handshake within ${this.timeoutMs} ms${this.progress()}${hint}`);
    }, this.timeoutMs);
    if (signal) {
      this.abort = () => this.lost("aborted", `handshake with ${this.who} abandoned`);
      if (signal.aborted) queueMicrotask(this.abort);
      else signal.addEventListener("abort", this.abort, { once: true });
    }
  }

  /** Runs the steps; on any failure the socket is closed and the promise rejects with an AuthError. */
  run<T>(steps: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.reject = reject as (e: AuthError) => void;
      steps().then(
        (v) => {
          this.cleanup();
          resolve(v);
        },
        (e: unknown) => {
          const err = e instanceof AuthError ? e : new AuthError("bad-hello", `handshake with ${this.who} failed: ${(e as Error).message}`);
          this.close(err);
          reject(this.failure ?? err);
        },
      );
    });
  }

  connected(): Promise<void> {
    if (!this.sock.connecting) return Promise.resolve();
    return new Promise((resolve) => this.sock.once("connect", () => resolve()));
  }

  write(bytes: Uint8Array): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  read(n: number): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.buf.length >= n) return Promise.resolve(this.take(n));
    return new Promise((resolve) => {
      this.waiting = { n, resolve };
      if (this.sock.isPaused() && !this.sock.destroyed) this.sock.resume();
    });
  }

  /** An AuthError to throw; the run closes the socket. */
  fail(code: AuthFailure, message: string): AuthError {
    return new AuthError(code, message);
  }

  /** Tells the peer why (a REFUSE record: `told`, by default the message) and returns the error to throw. */
  refuse(code: AuthFailure, message: string, told = message): AuthError {
    const reason = new TextEncoder().encode(told).subarray(0, MAX_HELLO_BYTES);
    const rec = new Uint8Array(4 + reason.length);
    rec[0] = REFUSE;
    rec[1] = CODE_OF[code] ?? 4;
    rec[2] = reason.length & 0xff;
    rec[3] = reason.length >> 8;
    rec.set(reason, 4);
    this.write(rec);
    return new AuthError(code, message);
  }

  /** The first bytes received, in hex and as text, for "not popcorn" messages. */
  shown(): string {
    const b = this.seen.subarray(0, 16);
    const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    const text = [...b].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : ".")).join("");
    return `${hex} ("${text}")`;
  }

  /** Hands the socket over, with what was read ahead, to a framed connection. */
  detach(): FramedConnection {
    const leftover = this.buf;
    this.cleanup();
    return new FramedConnection(this.sock, { leftover, remote: this.who });
  }

  private onData(chunk: Uint8Array): void {
    if (this.seen.length < 16) this.seen = concat(this.seen, chunk.subarray(0, 16 - this.seen.length));
    this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    if (this.buf.length > READ_AHEAD) this.sock.pause();
    const w = this.waiting;
    if (w && this.buf.length >= w.n) {
      this.waiting = undefined;
      w.resolve(this.take(w.n));
    }
  }

  private take(n: number): Uint8Array {
    const out = new Uint8Array(this.buf.subarray(0, n));
    this.buf = this.buf.subarray(n);
    if (this.buf.length <= READ_AHEAD && this.sock.isPaused() && !this.waiting && !this.sock.destroyed) this.sock.resume();
    return out;
  }

  private onError(e: NodeJS.ErrnoException): void {
    const code = e.code ?? "";
    if (code === "ECONNREFUSED") return this.lost("refused", `${this.who}: connection refused (no kernel listens there?)`);
    if (this.sock.connecting || code === "ENOTFOUND" || code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EAI_AGAIN") {
      return this.lost("unreachable", `${this.who}: cannot connect (${code || e.message})`);
    }
    this.lost("closed", `${this.who}: socket error ${code || e.message} during the handshake${this.progress()}`);
  }

  /** The connection failed under the handshake's feet: reject whatever it waits for. */
  private lost(code: AuthFailure, message: string): void {
    if (this.failure) return;
    const err = new AuthError(code, message);
    this.close(err);
    this.reject?.(err);
  }

  private progress(): string {
    return this.seen.length === 0 ? " (it sent nothing)" : "";
  }

  private close(err: AuthError): void {
    if (!this.failure) this.failure = err;
    this.cleanup();
    // end (not destroy) so that a REFUSE already written reaches the peer; destroy if it lingers
    if (!this.sock.destroyed) {
      this.sock.end();
      const t = setTimeout(() => this.sock.destroy(), 1000);
      t.unref();
      this.sock.once("close", () => clearTimeout(t));
      this.sock.resume(); // drain what it still sends, so our end completes
    }
    if (err.code === "timeout" || err.code === "aborted") this.sock.destroy();
  }

  private cleanup(): void {
    clearTimeout(this.timer);
    if (this.abort) this.signal?.removeEventListener("abort", this.abort);
    this.sock.off("data", this.onChunk).off("end", this.onEnd).off("close", this.onEnd).off("error", this.onSocketError);
    // errors after the handshake belong to whoever owns the socket now; until then, none may go unhandled
    if (this.sock.listenerCount("error") === 0) this.sock.on("error", () => {});
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
