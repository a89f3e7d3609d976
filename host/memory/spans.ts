/**
 * Which bytes of a page differ from the same page elsewhere: the comparison
 * under diff() (snapshot against twin) and merge() (incoming page against
 * twin) of replica.ts.
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
 * diff() compares in two steps instead: pageMask makes a page's change
 * mask with word operations only (no branch per byte) and counts its
 * changed bytes and runs, from which diff() picks the page's form (runs or
 * dense, replica.ts); Spans.addMask then turns the mask of a page sent as
 * runs into ranges, as addChanged would have. A change mask:
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
 * pageMask and addMask read the page's words as little-endian (every
 * platform Wasm runs on); replica.ts keeps to addChanged on a big-endian one.
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
   * mi + MASK_WORDS) (pageMask) of the page at `addr`: four mask words that
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


/**
 * 0x80 in each byte of the 32-bit word x that is not zero, 0 in the others,
 * without a branch per byte: adding 0x7f to a byte's low 7 bits carries
 * into its top bit exactly when they are not all zero (and never into the
 * next byte), and x's own top bit covers the rest.
 */
function tops(x: number): number {
  return (((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x) & 0x80808080;
}

/** tops() of a word whose every byte is non-zero */
const ALL_TOPS = 0x80808080 | 0;

/**
 * The mask byte of two words from their tops(): bit k for byte k of the
 * first word, bit 4 + k for byte k of the second. The top bits, moved to
 * 8k (first word) and 8k + 4 (second), are gathered into bits 24 … 31 by
 * one multiplication by 2^24 + 2^17 + 2^10 + 2^3: the partial products
 * land on distinct bits (8q + 4r + 24 - 7j, all different), so nothing
 * carries into the result.
 */
function maskByte(tops0: number, tops1: number): number {
  return Math.imul((tops0 >>> 7) | (tops1 >>> 3), 0x01020408) >>> 24;
}

/** Set bits of a 32-bit word. */
function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Trailing zero bits of a non-zero 32-bit word. */
function trailingZeros(v: number): number {
  return 31 - Math.clz32(v & -v);
}

/**
 * Writes the change mask of one page where words a[ai…] and b[bi…] differ
 * into mask[mi … mi + MASK_WORDS) (see the header) and returns what it
 * holds, packed: its changed bytes | (the runs of them that start in this
 * page) << RUNS_SHIFT — read with changedBytes and changedRuns. Eight words
 * per step, one branch for eight equal ones. Little-endian only.
 */
export function pageMask(a: Int32Array, ai: number, b: Int32Array, bi: number, mask: Int32Array, mi: number): number {
  let bytes = 0;
  let runs = 0;
  /** 1 when the last byte before this group changed */
  let carry = 0;
  for (let g = 0, w = 0; g < MASK_WORDS; g++, w += 8) {
    const x0 = a[ai + w]! ^ b[bi + w]!;
    const x1 = a[ai + w + 1]! ^ b[bi + w + 1]!;
    const x2 = a[ai + w + 2]! ^ b[bi + w + 2]!;
    const x3 = a[ai + w + 3]! ^ b[bi + w + 3]!;
    const x4 = a[ai + w + 4]! ^ b[bi + w + 4]!;
    const x5 = a[ai + w + 5]! ^ b[bi + w + 5]!;
    const x6 = a[ai + w + 6]! ^ b[bi + w + 6]!;
    const x7 = a[ai + w + 7]! ^ b[bi + w + 7]!;
    if ((x0 | x1 | x2 | x3 | x4 | x5 | x6 | x7) === 0) {
      mask[mi + g] = 0;
      carry = 0;
      continue;
    }
    const t0 = tops(x0);
    const t1 = tops(x1);
    const t2 = tops(x2);
    const t3 = tops(x3);
    const t4 = tops(x4);
    const t5 = tops(x5);
    const t6 = tops(x6);
    const t7 = tops(x7);
    if ((t0 & t1 & t2 & t3 & t4 & t5 & t6 & t7) === ALL_TOPS) {
      // 32 changed bytes: the common group of a rewritten stretch
      mask[mi + g] = -1;
      bytes += 32;
      runs += carry ^ 1;
      carry = 1;
      continue;
    }
    const m = maskByte(t0, t1) | (maskByte(t2, t3) << 8) | (maskByte(t4, t5) << 16) | (maskByte(t6, t7) << 24);
    mask[mi + g] = m;
    bytes += popcount(m);
    // a run starts at a set bit whose lower neighbour (the carry for bit 0) is clear
    runs += popcount(m & ~((m << 1) | carry));
    carry = m >>> 31;
  }
  return bytes | (runs << RUNS_SHIFT);
}

/** pageMask's result: bytes ≤ 4096 below this bit, runs above it. */
const RUNS_SHIFT = 13;

/** The changed bytes of a pageMask result. */
export function changedBytes(change: number): number {
  return change & ((1 << RUNS_SHIFT) - 1);
}

/** The runs that start in the page, of a pageMask result. */
export function changedRuns(change: number): number {
  return change >>> RUNS_SHIFT;
}
