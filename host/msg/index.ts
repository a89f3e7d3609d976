/** The message layer: kernel messages and the transports that carry them. */
export * from "./messages.js";
export type { Transport, TransportStats, MessageHandler } from "./transport.js";
export { TransportError } from "./transport.js";
export { LocalTransport } from "./local.js";
export { MessageRing, releaseMessage, isShared } from "./ring.js";
export { protectNegativeZero, withNegativeZero } from "./negzero.js";
