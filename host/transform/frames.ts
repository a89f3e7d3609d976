/**
 * The frame buffer: a stack between two layouts, as flat arrays — the site
 * of every frame and the raw bytes of its live values, innermost first. The
 * unwinder (unwind.ts) fills it from a native image, the builder (build.ts)
 * lays it out as a native image; lower fills it from portable frames and
 * lift reads portable frames out of it. It is the only intermediate form,
 * so rewrite moves every value as bytes and never builds a JS value.
 *
 *   frame i (0 = innermost)
 *     site[i]      site id
 *     valOff[i]    offset of its first value's bytes in `bytes`; values follow
 *                  back to back in site order, each as wide as its location
 *     fpFrom[i]    its frame base in the image it was unwound from
 *     fpTo[i]      its frame base in the image it was built into
 *
 * One buffer is reused by every call (these functions are synchronous and
 * never re-entered); its arrays grow geometrically, so a stack deeper than
 * any seen before costs one reallocation per doubling.
 */

export class FrameBuffer {
  n = 0;
  bytesUsed = 0;
  site = new Int32Array(64);
  valOff = new Int32Array(64);
  fpFrom = new Float64Array(64);
  fpTo = new Float64Array(64);
  bytes = new Uint8Array(4096);
  view = new DataView(this.bytes.buffer);

  reset(): void {
    this.n = 0;
    this.bytesUsed = 0;
  }

  /** Starts frame n at site `site` with `size` bytes of values; returns the offset of its bytes. */
  push(site: number, size: number): number {
    const i = this.n;
    if (i === this.site.length) this.growFrames();
    const off = this.bytesUsed;
    if (off + size > this.bytes.length) this.growBytes(off + size);
    this.site[i] = site;
    this.valOff[i] = off;
    this.n = i + 1;
    this.bytesUsed = off + size;
    return off;
  }

  private growFrames(): void {
    const cap = this.site.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.site = grow(this.site, (n) => new Int32Array(n));
    this.valOff = grow(this.valOff, (n) => new Int32Array(n));
    this.fpFrom = grow(this.fpFrom, (n) => new Float64Array(n));
    this.fpTo = grow(this.fpTo, (n) => new Float64Array(n));
  }

  private growBytes(need: number): void {
    let cap = this.bytes.length * 2;
    while (cap < need) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.bytes.subarray(0, this.bytesUsed));
    this.bytes = b;
    this.view = new DataView(b.buffer);
  }
}

/** The one buffer lower, lift and rewrite share. */
export const frameBuffer = new FrameBuffer();

/** Copies `n` bytes (n ≤ 16: one value) without allocating a view. */
export function copyBytes(dst: Uint8Array, d: number, src: Uint8Array, s: number, n: number): void {
  for (let k = 0; k < n; k++) dst[d + k] = src[s + k]!;
}

/** Reads a u64 address (< 2^53) stored little-endian at `at`. */
export function readAddress(b: Uint8Array, at: number): number {
  const lo = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  const hi = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
  return hi * 0x100000000 + lo;
}

/** Writes a u64 address (< 2^53) little-endian at `at`. */
export function writeAddress(b: Uint8Array, at: number, a: number): void {
  const lo = a >>> 0;
  const hi = Math.floor(a / 0x100000000) >>> 0;
  b[at] = lo & 0xff;
  b[at + 1] = (lo >>> 8) & 0xff;
  b[at + 2] = (lo >>> 16) & 0xff;
  b[at + 3] = lo >>> 24;
  b[at + 4] = hi & 0xff;
  b[at + 5] = (hi >>> 8) & 0xff;
  b[at + 6] = (hi >>> 16) & 0xff;
  b[at + 7] = hi >>> 24;
}

/*
 * Image memory. Allocating an ArrayBuffer costs about a microsecond, more
 * than rewriting a small frame, so the register files and stacks of small
 * images are carved, zeroed, from a shared slab — as Node pools small
 * Buffers. Slab memory is handed out once and never reused, so it is zero.
 * An image's regs and stack may therefore be views into a buffer other
 * images share: copy them (MessagePack does) but never transfer their
 * `.buffer` to another thread.
 */
const SLAB_BYTES = 64 * 1024;
const POOLED_MAX = 8 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** `n` zero bytes for an image, 16-byte aligned within their buffer. */
export function imageBytes(n: number): Uint8Array {
  if (n > POOLED_MAX) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  slabUsed += (n + 15) & ~15;
  return out;
}
