/**
 * Frames on a TCP connection, after the handshake (auth.ts).
 *
 * TCP carries a byte stream; kernels exchange messages. A frame is one
 * message with its length in front:
 *
 *   Offset | Size | Value
 *   -------|------|-------------------------------------------------
 *   0      | 4    | n, the payload's length (u32 little-endian)
 *   4      | n    | payload: for kernels, one message (messages.ts);
 *          |      | for clients, one client message (kernel/remote.ts);
 *          |      | a 0-byte payload is a heartbeat (tcp.ts): between
 *          |      | kernels, and from a kernel to a client that asked
 *
 * A length above MAX_FRAME_BYTES closes the connection: a peer that sends
 * one is broken or hostile, and whatever follows it cannot be trusted to be
 * a frame boundary. The reason ("frame of 3000000000 bytes exceeds
 * MAX_FRAME_BYTES (268435456)") goes to onClose, for the owner to log.
 *
 * Receiving: bytes accumulate in a FrameReader as they arrive, in chunks cut
 * anywhere; each complete payload is copied once into a buffer of its own —
 * the receiver owns it and may transfer `payload.buffer` to a worker.
 *
 * Sending, with back-pressure: a frame goes straight to the socket while the
 * socket accepts more (`socket.write` returned true); once it returns false,
 * frames wait in this connection's queue until 'drain'. So the socket's own
 * buffer holds at most its high-water mark plus one frame, and
 * bufferedBytes() — the queue plus the socket's buffer — is everything sent
 * and not yet handed to the kernel. The queue itself is unbounded: a caller
 * that may outrun its peer watches bufferedBytes() or onDrain(), and may
 * discardQueued() what waits (kernel/daemon.ts does, for a client that
 * stopped reading).
 *
 *   send(p):  closed?             → dropped (never throws after close)
 *             queue empty, socket accepts → socket.write(len ‖ p)   (one write; cork for big p)
 *             otherwise           → queue.push(p)
 *   'drain':  write queued frames until the socket says false again
 */
import type { Socket } from "node:net";

/** The biggest payload a frame may carry: 256 MiB (a migration with its memory fits many times over). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** Payloads up to this size are copied behind their length into one buffer; bigger ones go in two writes, corked. */
const COALESCE_BYTES = 16 * 1024;

export class FrameError extends Error {}

/**
 * Frames from a byte stream cut at arbitrary places. push() the chunks as
 * they come; next() returns each complete payload (a fresh buffer), or
 * undefined until more bytes arrive; it throws FrameError on a length above
 * the maximum, after which the reader is unusable.
 */
export class FrameReader {
  private readonly chunks: Uint8Array[] = [];
  /** how far into chunks[0] has been consumed */
  private head = 0;
  /** bytes buffered and not consumed */
  private have = 0;
  /** the current frame's payload length, once its header is read */
  private need = -1;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.have += chunk.length;
  }

  next(): Uint8Array | undefined {
    if (this.need < 0) {
      if (this.have < 4) return undefined;
      const h = this.take(4);
      const n = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
      if (n > this.maxFrameBytes) throw new FrameError(`frame of ${n} bytes exceeds MAX_FRAME_BYTES (${this.maxFrameBytes})`);
      this.need = n;
    }
    if (this.have < this.need) return undefined;
    const payload = this.take(this.need);
    this.need = -1;
    return payload;
  }

  /** Bytes buffered that are not yet a whole frame, and the frame they belong to. */
  partial(): { have: number; frame: number | undefined } {
    return { have: this.have, frame: this.need < 0 ? undefined : this.need };
  }

  /** Removes the first `n` buffered bytes (n ≤ have), copied into a buffer of their own. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const m = Math.min(n - at, c.length - this.head);
      out.set(c.subarray(this.head, this.head + m), at);
      at += m;
      this.head += m;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.have -= n;
    return out;
  }
}

export interface FramedConnectionOptions {
  /** bytes that arrived after the handshake and before this connection took the socket */
  leftover?: Uint8Array;
  maxFrameBytes?: number;
  /** how to name the other end; by default its address and port */
  remote?: string;
}

/**
 * A socket carrying frames. Frames are delivered from the first onFrame()
 * on (those that arrive before wait, and the socket is paused meanwhile).
 * onClose fires once, with the reason; a handler registered after the close
 * still hears it. A frame handler that throws closes the connection with
 * that reason: this class never lets an exception escape into the socket's
 * event handlers.
 */
export class FramedConnection {
  readonly remote: string;
  /** Date.now() when bytes last arrived (or the connection was made): heartbeats are watched with it (tcp.ts, kernel/remote.ts) */
  lastActivity = Date.now();
  /** Date.now() when a frame was last sent (or the connection was made): tcp.ts sends a heartbeat when it is old */
  lastSent = Date.now();
  private readonly reader: FrameReader;
  private frameHandler: ((payload: Uint8Array) => void) | undefined;
  private readonly closeHandlers: ((reason: string) => void)[] = [];
  private readonly drainHandlers: (() => void)[] = [];
  /** why it closed, once it has */
  private closedWith: string | undefined;
  /** close() asked for an orderly close: no more sends, no more deliveries, the queue drains, then end */
  private closing: string | undefined;
  private ended = false;
  private paused = false;
  private pumping = false;
  private readonly queue: (Uint8Array | undefined)[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  /** the socket said "no more" (write returned false) and has not drained yet */
  private blocked = false;
  private endTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    opts: FramedConnectionOptions = {},
  ) {
    this.remote = opts.remote ?? socketName(socket);
    this.reader = new FrameReader(opts.maxFrameBytes ?? MAX_FRAME_BYTES);
    if (opts.leftover) this.reader.push(opts.leftover);
    socket.pause(); // until onFrame: nothing to deliver to
    socket.on("data", (chunk: Buffer) => {
      this.lastActivity = Date.now();
      if (this.closing !== undefined) return; // closing: read only to see the peer's end
      this.reader.push(chunk);
      this.pump();
    });
    socket.on("end", () => {
      this.ended = true;
      this.pump();
    });
    socket.on("error", (e: NodeJS.ErrnoException) => this.finish(`socket error ${e.code ?? e.message}`));
    socket.on("close", () => this.finish(this.closing ?? "connection closed"));
    socket.on("drain", () => {
      this.blocked = false;
      this.flush();
    });
    if (socket.readableEnded) this.ended = true;
    if (socket.destroyed) queueMicrotask(() => this.finish(this.endReason()));
  }

  /** Sets the frame handler and starts delivering. */
  onFrame(cb: (payload: Uint8Array) => void): void {
    this.frameHandler = cb;
    queueMicrotask(() => this.pump());
  }

  onClose(cb: (reason: string) => void): void {
    const reason = this.closedWith;
    if (reason !== undefined) queueMicrotask(() => cb(reason));
    else this.closeHandlers.push(cb);
  }

  /** Called each time the send queue has emptied into the socket after back-pressure. */
  onDrain(cb: () => void): void {
    this.drainHandlers.push(cb);
  }

  get closed(): boolean {
    return this.closedWith !== undefined || this.closing !== undefined;
  }

  /**
   * Queues one frame. `payload` is written as is, later if the socket is
   * busy: do not change it after. Dropped once the connection is closed.
   * Throws RangeError for a payload above MAX_FRAME_BYTES (the peer would
   * close the connection on it).
   */
  send(payload: Uint8Array): void {
    if (this.closed) return;
    if (payload.length > MAX_FRAME_BYTES) throw new RangeError(`${this.remote}: frame of ${payload.length} bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`);
    this.lastSent = Date.now();
    if (this.blocked || this.queueHead < this.queue.length) {
      this.queue.push(payload);
      this.queuedBytes += 4 + payload.length;
      return;
    }
    this.write(payload);
  }

  /** Bytes sent and not yet taken by the kernel's socket buffer: the queue plus the socket's own buffer. */
  bufferedBytes(): number {
    return this.queuedBytes + (this.socket.destroyed ? 0 : this.socket.writableLength);
  }

  /**
   * Drops the frames waiting for the socket to drain (not those it has
   * taken, which may still arrive) and returns their bytes. Frames sent after
   * go behind what the socket holds, as usual.
   */
  discardQueued(): number {
    const bytes = this.queuedBytes;
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    return bytes;
  }

  /** Stops delivering frames and reading the socket (the peer's sends back up into its own queue). */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /**
   * Closes in order: nothing more is delivered or accepted, what is queued
   * is written, then the socket ends; if the peer has not let go within
   * `graceMs` (default 2 s), the socket is destroyed. onClose hears `reason`.
   */
  close(reason = "closed", graceMs = 2000): void {
    if (this.closed) return;
    this.closing = reason;
    this.socket.resume(); // read (and discard) until the peer's end, so the close completes
    this.endTimer = setTimeout(() => this.destroy(reason), graceMs);
    this.endTimer.unref();
    this.flush();
  }

  /** Closes now: what is queued is dropped. */
  destroy(reason = "closed"): void {
    if (this.closedWith !== undefined) return;
    this.closing ??= reason;
    this.socket.destroy();
    this.finish(reason);
  }

  private write(payload: Uint8Array): void {
    const n = payload.length;
    let ok: boolean;
    if (n <= COALESCE_BYTES) {
      const b = Buffer.allocUnsafe(4 + n);
      b.writeUInt32LE(n, 0);
      b.set(payload, 4);
      ok = this.socket.write(b);
    } else {
      const h = Buffer.allocUnsafe(4);
      h.writeUInt32LE(n, 0);
      this.socket.cork();
      this.socket.write(h);
      ok = this.socket.write(payload);
      this.socket.uncork();
    }
    if (!ok) this.blocked = true;
  }

  private flush(): void {
    while (!this.blocked && this.queueHead < this.queue.length && this.closedWith === undefined) {
      const p = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined;
      this.queuedBytes -= 4 + p.length;
      this.write(p);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
    if (this.blocked || this.queue.length > 0 || this.closedWith !== undefined) return;
    if (this.closing !== undefined) {
      this.socket.end();
      return;
    }
    for (const cb of this.drainHandlers) cb();
  }

  /** Delivers the complete frames buffered, unless paused, closing or without a handler. */
  private pump(): void {
    if (this.pumping) return; // a handler that resumed us: the loop below goes on
    this.pumping = true;
    let drained = false;
    try {
      while (this.frameHandler && !this.paused && !this.closed) {
        let payload: Uint8Array | undefined;
        try {
          payload = this.reader.next();
        } catch (e) {
          this.destroy((e as Error).message);
          return;
        }
        if (!payload) {
          drained = true;
          break;
        }
        try {
          this.frameHandler(payload);
        } catch (e) {
          this.destroy(`frame handler failed: ${(e as Error).message}`);
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.closed) return;
    if (drained && this.ended) return this.destroy(this.endReason());
    if (this.frameHandler && !this.paused && this.socket.isPaused()) this.socket.resume();
  }

  private endReason(): string {
    const p = this.reader.partial();
    if (p.frame !== undefined) return `peer closed mid-frame (${p.have} of ${p.frame} bytes)`;
    if (p.have > 0) return `peer closed mid-frame (${p.have} of the 4 length bytes)`;
    return "peer closed";
  }

  private finish(reason: string): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    clearTimeout(this.endTimer);
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    if (!this.socket.destroyed) this.socket.destroy();
    for (const cb of this.closeHandlers.splice(0)) cb(reason);
  }
}

/** "127.0.0.1:53412", "[::1]:53412" */
export function socketName(s: Socket): string {
  const host = s.remoteAddress ?? "?";
  return host.includes(":") ? `[${host}]:${s.remotePort}` : `${host}:${s.remotePort}`;
}
