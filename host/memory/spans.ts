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
 */

export const PAGE_WORDS = 4096 / 4;

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

