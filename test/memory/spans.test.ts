// Which bytes of a page differ (host/memory/spans.ts): the word-wise
// comparison under diff() and merge() gives exactly the byte ranges a
// byte-by-byte comparison gives — changed bytes only, touching ranges
// joined (also across pages), never a gap.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_WORDS, Spans } from "../../host/memory/spans.js";

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
