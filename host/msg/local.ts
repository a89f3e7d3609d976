/**
 * The local transport: kernels that are worker threads of one Node process,
 * one MessagePort per pair of kernels. A message travels as its encoded
 * bytes, never as objects: a buffer from a MessageRing is shared and
 * released by the receiver (ring.ts), any other buffer is transferred. The
 * receiver's handler must call releaseMessage(raw) once it is done with the
 * bytes, wherever it hands them on to.
 */
import type { MessagePort } from "node:worker_threads";
import { decodeMessage, encodeMessage, type KernelMessage } from "./messages.js";
import { isShared, releaseMessage } from "./ring.js";
import { type MessageHandler, type Transport, TransportError, type TransportStats } from "./transport.js";

export class LocalTransport implements Transport {
  readonly kind = "local";
  readonly peers: number[];
  private handler: MessageHandler | undefined;
  private readonly counters: TransportStats = { sent: { messages: 0, bytes: 0 }, received: { messages: 0, bytes: 0 } };

  /** `ports`: peer kernel id → the port whose other end that kernel holds. */
  constructor(readonly self: number, private readonly ports: Map<number, MessagePort>) {
    this.peers = [...ports.keys()].sort((a, b) => a - b);
    for (const [peer, port] of ports) {
      port.on("message", (data: Uint8Array) => {
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        this.counters.received.messages++;
        this.counters.received.bytes += bytes.length;
        let msg: KernelMessage;
        try {
          msg = decodeMessage(bytes, `kernel ${peer}`);
        } catch (e) {
          releaseMessage(bytes);
          return this.errorHandler?.(peer, e as Error);
        }
        try {
          this.handler?.(peer, msg, bytes);
        } catch (e) {
          this.errorHandler?.(peer, e as Error);
        }
      });
    }
  }

  send(to: number, msg: KernelMessage): void {
    this.sendEncoded(to, encodeMessage(msg));
  }

  sendEncoded(to: number, bytes: Uint8Array): void {
    const port = this.ports.get(to);
    if (!port) throw new TransportError(`kernel ${this.self} has no link to kernel ${to} (peers: ${this.peers.join(", ") || "none"})`);
    this.counters.sent.messages++;
    this.counters.sent.bytes += bytes.length;
    // a ring buffer is shared (the receiver releases it); a plain buffer is transferred
    port.postMessage(bytes, isShared(bytes) ? [] : [bytes.buffer as ArrayBuffer]);
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  private errorHandler: ((from: number, error: Error) => void) | undefined;
  onError(handler: (from: number, error: Error) => void): void {
    this.errorHandler = handler;
  }

  stats(): TransportStats {
    return structuredClone(this.counters);
  }

  close(): void {
    for (const p of this.ports.values()) p.close();
  }
}
