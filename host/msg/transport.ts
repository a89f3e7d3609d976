/**
 * One messaging interface, transports as plug-ins (as Popcorn's msg_layer):
 * a kernel sends typed messages to a peer by kernel id and handles what
 * arrives; it never learns which transport carries them. Messages between
 * one pair of kernels arrive in the order they were sent.
 */
import type { KernelMessage } from "./messages.js";

export interface TransportStats {
  sent: { messages: number; bytes: number };
  received: { messages: number; bytes: number };
}

/**
 * `raw` is the message's bytes: the handler passes it on or calls
 * releaseMessage(raw) when done with it (ring.ts).
 */
export type MessageHandler = (from: number, msg: KernelMessage, raw: Uint8Array) => void;

export interface Transport {
  /** this kernel's id */
  readonly self: number;
  /** the other kernels' ids */
  readonly peers: readonly number[];
  readonly kind: string;
  send(to: number, msg: KernelMessage): void;
  /** sends a message already encoded with encodeMessage (the buffer may be transferred) */
  sendEncoded(to: number, bytes: Uint8Array): void;
  onMessage(handler: MessageHandler): void;
  /** what arrived and could not be decoded or handled: the message is dropped, the transport goes on */
  onError(handler: (from: number, error: Error) => void): void;
  stats(): TransportStats;
  close(): void;
}

export class TransportError extends Error {}
