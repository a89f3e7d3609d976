// The message ring: buffers are reused once released, in any order, and a
// full ring says so instead of overwriting a message in flight.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MessageRing, isShared, releaseMessage } from "../../host/msg/index.js";

describe("message ring", () => {
  it("hands out shared buffers that do not overlap while in flight", () => {
    const ring = new MessageRing(4096);
    const a = ring.reserve(1000)!;
    const b = ring.reserve(1000)!;
    expect(isShared(a) && isShared(b)).toBe(true);
    a.fill(1);
    b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + a.length);
  });

  it("refuses a buffer when full, and reuses the space once released", () => {
    const ring = new MessageRing(4096);
    const held = [ring.reserve(1500)!, ring.reserve(1500)!];
    expect(ring.reserve(1500)).toBeUndefined();
    releaseMessage(held[0]!);
    const again = ring.reserve(1400); // (a record never fills the gap exactly: head === tail means empty)
    expect(again).toBeDefined();
    expect(again!.byteOffset).toBe(held[0]!.byteOffset); // wrapped around to the start
  });

  it("does not reclaim past a message still in flight, whatever order others are released in", () => {
    const ring = new MessageRing(8192);
    const [a, b, c] = [ring.reserve(2000)!, ring.reserve(2000)!, ring.reserve(2000)!];
    b.fill(7);
    releaseMessage(c);
    releaseMessage(a);
    const d = ring.reserve(1900)!; // may take a's place, never b's
    d.fill(9);
    expect(b.every((x) => x === 7)).toBe(true);
  });

  it("ignores buffers that are not from a ring", () => {
    expect(() => releaseMessage(new Uint8Array(100))).not.toThrow();
    expect(() => releaseMessage(new Uint8Array(new SharedArrayBuffer(100)))).not.toThrow();
  });

  it("never gives out bytes of a message in flight (random reserve/release sequences)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 3000 }), fc.nat()), { maxLength: 200 }), (ops) => {
        const ring = new MessageRing(16384);
        const live: { view: Uint8Array; tag: number }[] = [];
        let tag = 0;
        for (const [reserve, size, pick] of ops) {
          if (reserve || !live.length) {
            const v = ring.reserve(size);
            if (!v) continue;
            tag = (tag % 250) + 1;
            v.fill(tag);
            live.push({ view: v, tag });
          } else {
            const [gone] = live.splice(pick % live.length, 1);
            releaseMessage(gone!.view);
          }
          for (const l of live) expect(l.view.every((x) => x === l.tag)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
