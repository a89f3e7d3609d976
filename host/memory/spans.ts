/**
 * Which bytes of a page differ from the same page elsewhere: the comparison
 * under merge() (incoming page against twin) of replica.ts, and under
 * diff() (snapshot against twin) where simd.ts cannot run.
 *
 * Pages are compared as 32-bit words, two per step (a pair of equal words
 * costs one branch); a differing word is then looked at byte by byte. No
 * wider word: JavaScript has no cheap 64-bit integer load (BigUint64Array
 * makes a BigInt per element), and a Float64Array comparison would take
 * +0 and -0 for equal and NaN for unequal to itself.
 *
 * The result is a list of byte ranges [start, end), in address order, of
 * changed bytes only: ranges that touch are one (also across the pages of
 * one pass), ranges with an unchanged byte between them are not (see
 * replica.ts on why a gap must not be sent).
 *
 * diff() compares in two steps instead: a Wasm SIMD function (simd.ts)
 * makes a page's change mask and counts its changed bytes and runs, from
 * which diff() picks the page's form (runs or dense, replica.ts);
 * Spans.addMask then turns the mask of a page sent as runs into ranges, as
 * addChanged would have. A change mask:
 *
 *   MASK_WORDS (128) i32 words, MASK_BYTES (512) bytes: one bit per byte
 *   of the page, in address order — byte j of the page is bit j & 7 of
 *   mask byte j >> 3, which is bit j & 31 of mask word j >> 5 read
 *   little-endian. Each 4-bit nibble covers one 32-bit word of the page.
 *
 *   page bytes   00 01 02 03 04 05 06 07 | 08 …
 *   changed       x  x  .  .  .  .  .  x |  x …
 *   mask byte 0  0b1000_0011 = 0x83        (nibble 0x3: word 0; 0x8: word 1)
 *
 * addMask reads the mask's words as little-endian; on a big-endian
 * platform, or one without Wasm SIMD, diff() keeps to addChanged.
 */

export const PAGE_WORDS = 4096 / 4;
/** A page's change mask: one bit per byte (see the header). */
export const MASK_BYTES = 4096 / 8;
export const MASK_WORDS = MASK_BYTES / 4;

/** The platform stores words little-endian: a change mask's bits are in address order. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The masks of a 32-bit word's bytes in memory order (little-endian on every platform Wasm runs on, checked anyway). */
const BYTE_MASKS = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
  ? [0xff, 0xff00, 0xff0000, 0xff000000 | 0]
  : [0xff000000 | 0, 0xff0000, 0xff00, 0xff];

/**
 * Whether every byte of the 32-bit word x is non-zero (every byte of the
 * word differs), without a branch per byte: x - 0x01010101 borrows into the
 * top bit of a byte exactly where that byte (or a lower one) is zero.
 */
function allBytes(x: number): boolean {
  return (((x - 0x01010101) | 0) & ~x & 0x80808080) === 0;
}

/**
 * Byte ranges collected in address order, as [start, end) pairs in `list`;
 * a range that starts where the last one ends extends it (also across pages).
 */
export class Spans {
  list: number[] = [];
  /** the range being extended: [start, end) */
  start = 0;
  end = 0;

  reset(): void {
    this.list = [];
    this.start = this.end = 0;
  }

  /** The ranges, the open one closed. */
  done(): number[] {
    if (this.end > this.start) this.list.push(this.start, this.end);
    this.start = this.end = 0;
    return this.list;
  }

  /**
   * Adds the bytes whose bits are set in the change mask mask[mi …
   * mi + MASK_WORDS) (simd.ts) of the page at `addr`: four mask words that
   * are all clear, or all set and right after the open range, are one
   * step; otherwise a full mask word is one step, others one step per run
   * of set bits.
   */
  addMask(mask: Int32Array, mi: number, addr: number): void {
    let s = this.start;
    let e = this.end;
    const list = this.list;
    // four mask words (128 bytes) a step: none changed, or all of them right after the open range, is one test
    for (let g = mi; g < mi + MASK_WORDS; g += 4) {
      const at4 = addr + 32 * (g - mi);
      const m0 = mask[g]!;
      const m1 = mask[g + 1]!;
      const m2 = mask[g + 2]!;
      const m3 = mask[g + 3]!;
      if ((m0 | m1 | m2 | m3) === 0) continue;
      if ((m0 & m1 & m2 & m3) === -1 && at4 === e) {
        e += 128;
        continue;
      }
      for (let k = 0; k < 4; k++) {
        let m = mask[g + k]!;
        if (m === 0) continue;
        const at = at4 + 32 * k;
        if (m === -1) {
          if (at !== e) {
            if (e > s) list.push(s, e);
            s = at;
          }
          e = at + 32;
          continue;
        }
        for (;;) {
          const i = trailingZeros(m);
          // one past the run's last bit: the zeros shifted in from the top end it by bit 32 at the latest
          const j = i + trailingZeros(~(m >>> i));
          if (at + i !== e) {
            if (e > s) list.push(s, e);
            s = at + i;
          }
          e = at + j;
          if (j >= 32) break;
          m &= -(1 << j);
          if (m === 0) break;
        }
      }
    }
    this.start = s;
    this.end = e;
  }

  /**
   * Adds the bytes of one page where words a[ai…] and b[bi…] differ; `addr`
   * is the page's address.
   */
  addChanged(a: Int32Array, ai: number, b: Int32Array, bi: number, addr: number): void {
    let s = this.start;
    let e = this.end;
    const list = this.list;
    // two words per step: one branch for the common pair of equal words
    for (let i = 0; i < PAGE_WORDS; i += 2) {
      const x0 = a[ai + i]! ^ b[bi + i]!;
      const x1 = a[ai + i + 1]! ^ b[bi + i + 1]!;
      if ((x0 | x1) === 0) continue;
      if (addr + 4 * i === e && allBytes(x0) && allBytes(x1)) {
        // both words, right after the open range: the common case of a rewritten stretch
        e += 8;
        continue;
      }
      // each word: all of its bytes (one range step), or byte by byte
      const at0 = addr + 4 * i;
      if (x0 !== 0) {
        if (allBytes(x0)) {
          if (at0 !== e) {
            if (e > s) list.push(s, e);
            s = at0;
          }
          e = at0 + 4;
        } else {
          for (let j = 0; j < 4; j++) {
            if ((x0 & BYTE_MASKS[j]!) === 0) continue;
            if (at0 + j !== e) {
              if (e > s) list.push(s, e);
              s = at0 + j;
            }
            e = at0 + j + 1;
          }
        }
      }
      const at1 = at0 + 4;
      if (x1 !== 0) {
        if (allBytes(x1)) {
          if (at1 !== e) {
            if (e > s) list.push(s, e);
            s = at1;
          }
          e = at1 + 4;
        } else {
          for (let j = 0; j < 4; j++) {
            if ((x1 & BYTE_MASKS[j]!) === 0) continue;
            if (at1 + j !== e) {
              if (e > s) list.push(s, e);
              s = at1 + j;
            }
            e = at1 + j + 1;
          }
        }
      }
    }
    this.start = s;
    this.end = e;
  }
}


/** Trailing zero bits of a non-zero 32-bit word. */
function trailingZeros(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/** A page mask's count (simd.ts): bytes ≤ 4096 below this bit, runs above it. */
export const RUNS_SHIFT = 13;

/** The changed bytes of a page mask's count. */
export function changedBytes(change: number): number {
  return change & ((1 << RUNS_SHIFT) - 1);
}

/** The runs that start in the page, of a page mask's count. */
export function changedRuns(change: number): number {
  return change >>> RUNS_SHIFT;
}
