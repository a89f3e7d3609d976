// Which bytes of a page differ (host/memory/spans.ts): the word-wise
// comparison under merge() gives exactly the byte ranges a byte-by-byte
// comparison gives — changed bytes only, touching ranges joined (also
// across pages), never a gap. The change mask under diff() (the Wasm SIMD
// function of host/memory/simd.ts) has a bit for exactly the changed bytes,
// counts them and their runs, leaves the bytes around it alone, and gives
// the same ranges.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pageMaskSimd, SIMD_MASK, SIMD_SCRATCH_END, SIMD_SNAPSHOT } from "../../host/memory/simd.js";
import { changedBytes, changedRuns, MASK_BYTES, MASK_WORDS, PAGE_WORDS, Spans } from "../../host/memory/spans.js";

const PAGE = PAGE_WORDS * 4;

/** The reference: ranges [start, end) of bytes where a and b differ, page `p` at address p * PAGE. */
function byteRanges(pages: [Uint8Array, Uint8Array][]): number[] {
  const out: number[] = [];
  let s = -1;
  let e = -1;
  pages.forEach(([a, b], p) => {
    for (let i = 0; i < PAGE; i++) {
      if (a[i] === b[i]) continue;
      const at = p * PAGE + i;
      if (at !== e) {
        if (e > s) out.push(s, e);
        s = at;
      }
      e = at + 1;
    }
  });
  if (e > s) out.push(s, e);
  return out;
}

/** A byte that is 0, 0x80, 0xff or 0x01 more often than chance: the edge cases of a word test. */
const byte = fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xfe, 0xff), fc.integer({ min: 0, max: 255 }));
/** A page and its changed copy: writes of 1–12 bytes here and there (words with 1, 2, 3 or 4 changed bytes, runs across words). */
const pagePair = fc
  .tuple(fc.array(fc.tuple(fc.nat(PAGE - 1), fc.array(byte, { minLength: 1, maxLength: 12 })), { maxLength: 40 }), fc.nat(255))
  .map(([writes, seed]) => {
    const a = new Uint8Array(PAGE).map((_, i) => (i * 31 + seed) & 0xff);
    const b = a.slice();
    for (const [at, bytes] of writes) b.set(bytes.slice(0, PAGE - at), at);
    return [a, b] as [Uint8Array, Uint8Array];
  });

describe("Spans.addChanged", () => {
  it("gives the changed bytes exactly, as a byte-by-byte comparison does, over consecutive pages", () => {
    fc.assert(
      fc.property(fc.array(pagePair, { minLength: 1, maxLength: 3 }), (pages) => {
        const spans = new Spans();
        pages.forEach(([a, b], p) => spans.addChanged(new Int32Array(b.buffer), 0, new Int32Array(a.buffer), 0, p * PAGE));
        expect(spans.done()).toEqual(byteRanges(pages));
      }),
      { numRuns: 300 },
    );
  });

  it("a word with every byte changed, with some changed, with a 0x00 or 0x80 byte difference, or changed in its top byte only", () => {
    const a = new Uint8Array(PAGE);
    const b = a.slice();
    b.set([1, 1, 1, 1], 0); // every byte
    b.set([0x80, 0, 0x80, 0x80], 8); // all but one
    b.set([0, 0, 0, 0x80], 16); // the top byte only
    b.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 24); // two words, one run
    const spans = new Spans();
    spans.addChanged(new Int32Array(b.buffer), 0, new Int32Array(a.buffer), 0, 0);
    expect(spans.done()).toEqual([0, 4, 8, 9, 10, 12, 19, 20, 24, 32]);
  });
});

/** A twin memory as simd.ts works in it: its scratch bytes, then the page compared at PAGE_AT. */
const twin = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
const PAGE_AT = 8192;
const simdMask = pageMaskSimd(twin);

/**
 * A page pair's change mask by the SIMD function (`a` the twin's page, `b`
 * the snapshot), what it counted, and the twin's page after it (the
 * snapshot, if it copied it over). The mask comes back at word 4 of
 * `mask`, as Spans.addMask takes it; the bytes after it in the twin's
 * scratch are checked to be as they were.
 */
function maskOf([a, b]: [Uint8Array, Uint8Array]) {
  const t = new Uint8Array(twin.buffer);
  t.fill(0x5a, SIMD_MASK, PAGE_AT);
  t.set(b, SIMD_SNAPSHOT);
  t.set(a, PAGE_AT);
  const change = simdMask!(SIMD_SNAPSHOT, PAGE_AT, SIMD_MASK);
  const mask = new Int32Array(MASK_WORDS + 8);
  mask.set(new Int32Array(twin.buffer, SIMD_MASK, MASK_WORDS), 4);
  return { mask, change, bits: new Uint8Array(mask.buffer, 16, MASK_BYTES), after: t.slice(SIMD_SCRATCH_END, PAGE_AT), page: t.slice(PAGE_AT, PAGE_AT + PAGE) };
}

/** The reference mask: bit i & 7 of byte i >> 3 set where a and b differ at byte i. */
function byteMask([a, b]: [Uint8Array, Uint8Array]): Uint8Array {
  const out = new Uint8Array(MASK_BYTES);
  for (let i = 0; i < PAGE; i++) if (a[i] !== b[i]) out[i >> 3]! |= 1 << (i & 7);
  return out;
}

/** Pages rewritten word by word with some bytes of each word left as they were (the dense case), or whole. */
const densePair = fc.tuple(fc.constantFrom(4, 8), fc.integer({ min: 1, max: 255 }), fc.nat(7), fc.nat(255)).map(([word, keep, shift, seed]) => {
  const a = new Uint8Array(PAGE).map((_, i) => (i * 7 + seed) & 0xff);
  const b = a.slice();
  // byte k of each word changes unless bit k of `keep`, turned by `shift`, says it stays
  for (let i = 0; i < PAGE; i++) if (!(((keep << shift) | (keep >> (8 - shift))) & (1 << (i % word)))) b[i] = (b[i]! + 1 + (i & 3)) & 0xff;
  return [a, b] as [Uint8Array, Uint8Array];
});

describe("the SIMD page mask and Spans.addMask", () => {
  it("runs on this Node (diff() falls back to addChanged without it, at a fraction of the speed)", () => {
    expect(simdMask).toBeTypeOf("function");
  });

  it("the mask has a bit for exactly the changed bytes, in address order, and counts them and the runs that start in the page; the twin's page becomes the snapshot", () => {
    fc.assert(
      fc.property(fc.oneof(pagePair, densePair), (pair) => {
        const { change, bits, after, page } = maskOf(pair);
        expect(bits).toEqual(byteMask(pair));
        expect(after).toEqual(new Uint8Array(PAGE_AT - SIMD_SCRATCH_END).fill(0x5a));
        expect(page).toEqual(pair[1]);
        const ranges = byteRanges([pair]);
        let bytes = 0;
        for (let i = 0; i < ranges.length; i += 2) bytes += ranges[i + 1]! - ranges[i]!;
        expect(changedBytes(change)).toBe(bytes);
        expect(changedRuns(change)).toBe(ranges.length / 2);
      }),
      { numRuns: 300 },
    );
  });

  it("addMask gives the ranges addChanged gives, over consecutive pages (touching ranges joined across them)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(pagePair, densePair), { minLength: 1, maxLength: 3 }), (pages) => {
        const spans = new Spans();
        pages.forEach((pair, p) => spans.addMask(maskOf(pair).mask, 4, p * PAGE));
        expect(spans.done()).toEqual(byteRanges(pages));
      }),
      { numRuns: 300 },
    );
  });

  it("edge cases: the top byte of a word, 0x80 and 0x01 differences, runs across mask words and pages, a whole page", () => {
    const a = new Uint8Array(PAGE);
    const b = a.slice();
    b.set([0, 0, 0, 0x80], 0); // the top byte only
    b.set([1, 0x80, 0, 1], 4); // bytes 0, 1 and 3
    b.fill(0xff, 28, 36); // across mask words 0 and 1 (bytes 31 | 32)
    b.fill(7, 60, 64); // the last byte of mask word 1 …
    b.fill(7, PAGE - 1, PAGE); // … and the last byte of the page
    const { change, mask } = maskOf([a, b]);
    expect(changedBytes(change)).toBe(1 + 3 + 8 + 4 + 1);
    expect(changedRuns(change)).toBe(5);
    const spans = new Spans();
    spans.addMask(mask, 4, 0);
    const c = new Uint8Array(PAGE).fill(9); // the next page changed whole: one run with the last byte of this one
    spans.addMask(maskOf([a, c]).mask, 4, PAGE);
    // bytes 3 | 4 5 of two words are one run; byte 6 is not changed
    expect(spans.done()).toEqual([3, 6, 7, 8, 28, 36, 60, 64, PAGE - 1, 2 * PAGE]);
    const whole = maskOf([a, c]);
    expect(changedBytes(whole.change)).toBe(PAGE);
    expect(changedRuns(whole.change)).toBe(1);
    expect(changedBytes(maskOf([a, a]).change)).toBe(0);
  });
});
