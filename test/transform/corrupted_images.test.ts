// Corrupted native images, on random site tables and random stacks: lift
// and rewrite take an image apart frame by frame, and whatever is wrong
// with it — bytes of the stack overwritten, a pc, a frame pointer or a
// saved frame pointer that points nowhere (or back into the chain), a
// stack cut short, a register file or a field missing — they either read it
// consistently or refuse it with a TransformError that names the problem.
// Never a hang, never a TypeError or RangeError from deep inside.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type IsaProfile } from "../../host/isa/index.js";
import { lift, lower, type NativeImage, type PortableFrame, rewrite, TransformError } from "../../host/transform/index.js";
import type { SiteTable, Stackmap } from "../../host/toolchain/index.js";
import { PAIRS, stackmaps, tableAndFramesArb } from "./tables.js";

const RUNS = 120;

/** A copy of an image that owns its bytes (lower's may share a slab). */
const own = (i: NativeImage): NativeImage => ({ ...i, regs: i.regs.slice(), stack: i.stack.slice() });

/** What lift or rewrite did with an image: its frames, or the TransformError's message. Anything else fails the test. */
function outcome(f: () => PortableFrame[]): { frames: PortableFrame[] } | { refused: string } {
  try {
    return { frames: f() };
  } catch (e) {
    if (!(e instanceof TransformError)) throw new Error(`not a TransformError: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return { refused: e.message };
  }
}

interface Setup {
  t: SiteTable;
  frames: PortableFrame[];
  a: Stackmap;
  b: Stackmap;
  A: IsaProfile;
  B: IsaProfile;
  x: NativeImage;
  /** per frame, innermost first: its frame base in x */
  fps: number[];
}

function setup(t: SiteTable, frames: PortableFrame[], A: IsaProfile, B: IsaProfile): Setup {
  const sms = stackmaps(t);
  const [a, b] = [sms.get(A.name)!, sms.get(B.name)!];
  const x = own(lower(frames, t, a, A));
  const fps = rewrite(x, a, b, A, B, { trace: true }).trace!.frames.map((f) => f.from.frameBase);
  return { t, frames, a, b, A, B, x, fps };
}

/**
 * Lifts the image on A, and rewrites it to B and lifts it there: both refuse it with a
 * TransformError naming the ISA, or both read the same frames.
 */
function liftAndRewrite(s: Setup, img: NativeImage): { frames: PortableFrame[] } | { refused: string } {
  const onA = outcome(() => lift(img, s.t, s.a, s.A));
  const viaB = outcome(() => lift(rewrite(img, s.a, s.b, s.A, s.B).image, s.t, s.b, s.B));
  if ("refused" in onA) {
    expect("refused" in viaB, `lift refused (${onA.refused}) but rewrite did not`).toBe(true);
    expect(onA.refused).toContain(s.A.name);
    return onA;
  }
  expect(viaB).toEqual(onA);
  return onA;
}

/** The offset in x.stack of address `addr`. */
const at = (s: Setup, addr: number) => addr - s.x.sp;

describe.each(PAIRS)("a corrupted $from image (rewritten to $to and lifted)", ({ A, B }) => {
  it("with any bytes of its stack overwritten: read consistently or refused with a TransformError", () => {
    fc.assert(
      fc.property(tableAndFramesArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }), ([t, frames], writes) => {
        const s = setup(t, frames, A, B);
        const img = own(s.x);
        for (const [k, v] of writes) img.stack[k % img.stack.length] = v;
        const got = liftAndRewrite(s, img);
        if ("frames" in got) expect(got.frames.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });

  it("with a pc, a frame pointer or a stack pointer of any value: refused naming the ISA and the frame, or read consistently", () => {
    const field = fc.constantFrom("pc", "fp", "sp", "stackTop");
    const value = (s: Setup) =>
      fc.oneof(
        fc.integer({ min: s.x.sp - 256, max: s.x.stackTop + 256 }),
        fc.constantFrom(...s.a.sites.map((x) => x.returnAddress), s.a.entryReturnAddress, ...s.fps),
        fc.nat(),
        fc.constantFrom(0, -16, 2 ** 53, Number.MAX_SAFE_INTEGER, 0.5, NaN, Infinity, -Infinity),
      );
    fc.assert(
      fc.property(
        tableAndFramesArb.chain(([t, frames]) => {
          const s = setup(t, frames, A, B);
          return fc.tuple(fc.constant(s), field, value(s));
        }),
        ([s, f, v]) => {
          const img = { ...own(s.x), [f]: v };
          const got = liftAndRewrite(s, img);
          if ("refused" in got && f !== "sp" && f !== "stackTop") expect(got.refused).toMatch(/frame \d|image/);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("whose frame-pointer chain loops back or points outside the stack: refused as corrupted, naming the frame", () => {
    fc.assert(
      fc.property(
        tableAndFramesArb.filter(([, frames]) => frames.length >= 2),
        fc.nat(),
        fc.nat(),
        fc.constantFrom("self", "inner", "above", "below", "misaligned"),
        ([t, frames], i0, j0, how) => {
          const s = setup(t, frames, A, B);
          const n = s.fps.length;
          const i = i0 % (n - 1); // a frame with a caller: its saved frame pointer is followed
          const target =
            how === "self" ? s.fps[i]! : how === "inner" ? s.fps[j0 % (i + 1)]! : how === "above" ? s.x.stackTop + 16 * (1 + (j0 % 4)) : how === "below" ? s.x.sp - 16 * (1 + (j0 % 4)) : s.fps[i + 1]! + 8;
          const img = own(s.x);
          const view = new DataView(img.stack.buffer, img.stack.byteOffset, img.stack.length);
          view.setBigUint64(at(s, s.fps[i]! + A.savedFpOffset), BigInt(target), true);
          const got = liftAndRewrite(s, img);
          expect("refused" in got, `a saved frame pointer of frame ${i} set to ${how}`).toBe(true);
          expect((got as { refused: string }).refused).toMatch(new RegExp(`frame ${i + 1}\\b.*corrupted`));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("whose return address in a frame record is no site: refused naming the frame and the address", () => {
    fc.assert(
      fc.property(tableAndFramesArb, fc.nat(), fc.nat(), ([t, frames], i0, ra0) => {
        const s = setup(t, frames, A, B);
        const i = i0 % s.fps.length;
        const known = new Set([...s.a.sites.map((x) => x.returnAddress), s.a.entryReturnAddress]);
        const ra = known.has(ra0) ? ra0 + 1 : ra0;
        if (known.has(ra)) return;
        const img = own(s.x);
        const view = new DataView(img.stack.buffer, img.stack.byteOffset, img.stack.length);
        view.setBigUint64(at(s, s.fps[i]! + A.returnAddressOffset), BigInt(ra), true);
        const got = liftAndRewrite(s, img);
        expect((got as { refused: string }).refused).toContain(`frame ${i + 1}: return address 0x${ra.toString(16)} is no site`);
      }),
      { numRuns: RUNS },
    );
  });

  it("whose stack is cut short at either end, with or without sp or stackTop moved to match: refused", () => {
    fc.assert(
      fc.property(tableAndFramesArb, fc.integer({ min: 1, max: 64 }), fc.constantFrom("low", "high"), fc.boolean(), ([t, frames], k0, end, adjust) => {
        const s = setup(t, frames, A, B);
        const k = Math.min(k0 * (adjust ? 16 : 1), s.x.stack.length);
        const img = own(s.x);
        if (end === "low") Object.assign(img, { stack: img.stack.slice(k), sp: adjust ? img.sp + k : img.sp });
        else Object.assign(img, { stack: img.stack.slice(0, img.stack.length - k), stackTop: adjust ? img.stackTop - k : img.stackTop });
        const got = liftAndRewrite(s, img);
        expect("refused" in got, `${k} bytes cut at the ${end} end`).toBe(true);
        if (!adjust) expect((got as { refused: string }).refused).toContain("truncated");
      }),
      { numRuns: RUNS },
    );
  });

  it("with a field missing or not of its type: refused with a TransformError naming the field", () => {
    fc.assert(
      fc.property(
        tableAndFramesArb,
        fc.constantFrom("isa", "pc", "sp", "fp", "stackTop", "regs", "stack"),
        fc.constantFrom(undefined, null, "7", [1, 2, 3], {}, 1n),
        ([t, frames], f, v) => {
          const s = setup(t, frames, A, B);
          const img = { ...own(s.x), [f]: v } as unknown as NativeImage;
          const got = liftAndRewrite(s, img);
          expect("refused" in got).toBe(true);
          // an isa that is a string is another ISA's image: "the image is of 7, the stackmap and profile are for …"
          expect((got as { refused: string }).refused).toMatch(f === "isa" ? /the image is of/ : new RegExp(`image has ${f} `));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("that is no object at all: refused", () => {
    const s = setup(...fc.sample(tableAndFramesArb, { numRuns: 1, seed: 1 })[0]!, A, B);
    for (const img of [undefined, null, 7, "image", []]) {
      expect(() => lift(img as unknown as NativeImage, s.t, s.a, s.A)).toThrow(TransformError);
      expect(() => rewrite(img as unknown as NativeImage, s.a, s.b, s.A, s.B)).toThrow(TransformError);
    }
  });
});
