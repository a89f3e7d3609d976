/** The message layer: kernel messages and the transports that carry them. */
export * from "./messages.js";
export type { Transport, TransportStats, MessageHandler } from "./transport.js";
export { TransportError } from "./transport.js";
export { LocalTransport } from "./local.js";
export { MessageRing, releaseMessage, isShared } from "./ring.js";
export { protectNegativeZero, withNegativeZero } from "./negzero.js";
export { type Address, ConfigError, formatAddress, generateKey, MIN_KEY_BYTES, parseAddress, parsePeers, type PeerListNames, readKeyFile } from "./address.js";
export { FrameError, FrameReader, FramedConnection, type FramedConnectionOptions, MAX_FRAME_BYTES } from "./framing.js";
export { acceptAuthenticated, AuthError, type AuthFailure, connectAuthenticated, DEFAULT_HANDSHAKE_MS, type HandshakeOptions, type Hello, PROTOCOL_VERSION } from "./auth.js";
export { WakeWatch } from "./awake.js";
export { clusterDigest, DEFAULT_DEAD_AFTER_MS, TcpTransport, type TcpTransportOptions } from "./tcp.js";
