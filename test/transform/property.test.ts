// The state transformation's laws, on random site tables and random stacks:
// lowering then lifting gives the frames back, rewriting to the other ISA
// and lifting there gives them back, and rewriting there and back again
// gives the very bytes of the original image.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lift, lower, type NativeImage, rewrite } from "../../host/transform/index.js";
import { ISAS, PAIRS, stackmaps, tableAndFramesArb } from "./tables.js";

const RUNS = 150;

function expectSameImage(a: NativeImage, b: NativeImage): void {
  expect({ isa: a.isa, pc: a.pc, sp: a.sp, fp: a.fp, stackTop: a.stackTop }).toEqual({
    isa: b.isa, pc: b.pc, sp: b.sp, fp: b.fp, stackTop: b.stackTop,
  });
  expect(Buffer.from(a.regs).equals(Buffer.from(b.regs))).toBe(true);
  expect(Buffer.from(a.stack).equals(Buffer.from(b.stack))).toBe(true);
}

describe("state transformation laws", () => {
  it.each(ISAS.map((p) => ({ isa: p.name, p })))("lift_A(lower_A(s)) = s on $isa", ({ p }) => {
    fc.assert(
      fc.property(tableAndFramesArb, ([t, frames]) => {
        const sm = stackmaps(t).get(p.name)!;
        expect(lift(lower(frames, t, sm, p), t, sm, p)).toEqual(frames);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(PAIRS)("lift_B(rewrite_A→B(lower_A(s))) = s for $from → $to", ({ A, B }) => {
    fc.assert(
      fc.property(tableAndFramesArb, ([t, frames]) => {
        const sms = stackmaps(t);
        const x = lower(frames, t, sms.get(A.name)!, A);
        const { image } = rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B);
        expect(image.isa).toBe(B.name);
        expect(lift(image, t, sms.get(B.name)!, B)).toEqual(frames);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(PAIRS)("rewrite_B→A(rewrite_A→B(x)) is byte-identical to x for $from → $to", ({ A, B }) => {
    fc.assert(
      fc.property(tableAndFramesArb, ([t, frames]) => {
        const sms = stackmaps(t);
        const [a, b] = [sms.get(A.name)!, sms.get(B.name)!];
        const x = lower(frames, t, a, A);
        const there = rewrite(x, a, b, A, B).image;
        const back = rewrite(there, b, a, B, A).image;
        expectSameImage(back, x);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(PAIRS)("rewrite_A→B(lower_A(s)) is byte-identical to lower_B(s) for $from → $to", ({ A, B }) => {
    fc.assert(
      fc.property(tableAndFramesArb, ([t, frames]) => {
        const sms = stackmaps(t);
        const x = lower(frames, t, sms.get(A.name)!, A);
        expectSameImage(rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B).image, lower(frames, t, sms.get(B.name)!, B));
      }),
      { numRuns: RUNS },
    );
  });

  it("lowering is deterministic and leaves no stray bytes: the same frames give the same image", () => {
    fc.assert(
      fc.property(tableAndFramesArb, ([t, frames]) => {
        for (const p of ISAS) {
          const sm = stackmaps(t).get(p.name)!;
          expectSameImage(lower(frames, t, sm, p), lower(structuredClone(frames), t, sm, p));
        }
      }),
      { numRuns: 50 },
    );
  });
});
