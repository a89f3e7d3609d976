/**
 * -0.0 across MessagePack. The encoder writes every safe integer as an
 * integer, and -0 is one: an f32/f64 global holding -0.0 would arrive as
 * +0.0 (and 1/x would flip sign). A -0 in a value list is written as the
 * empty MessagePack extension NEG_ZERO_EXT instead and read back as -0.
 */
import { ExtensionCodec } from "@msgpack/msgpack";

export const NEG_ZERO_EXT = 0x2d; // "-"
const MARK = Object.freeze({ negativeZero: true });

/** `v`, or if it is -0 a marker that the codecs below encode as NEG_ZERO_EXT. */
export function protectNegativeZero<T>(v: T): T {
  return (Object.is(v, -0) ? MARK : v) as T;
}

/** Registers the -0 extension on a codec (both directions). */
export function withNegativeZero<C>(codec: ExtensionCodec<C>): ExtensionCodec<C> {
  codec.register({
    type: NEG_ZERO_EXT,
    encode: (v: unknown) => (v === MARK ? new Uint8Array(0) : null),
    decode: () => -0,
  });
  return codec;
}
