// lower takes a portable value only if it can lay it out exactly: an f32
// must be a number an f32 holds (0.1 as a JS double is not one), and a value
// the stackmap keeps as a constant must be that constant. Before, lower
// rounded the f32 silently (0.1 came back as 0.10000000149011612) and laid
// out the constant whatever the frame held (5 came back as 7) — a review
// found both. −0, NaN (any payload: an f32 NaN is an f32), infinities and
// subnormals still pass, and a constant compares by the rules of its type:
// −0 is not 0, NaN is NaN.
import { describe, expect, it } from "vitest";
import { lift, lower, type PortableFrame, rewrite, TransformError, type Value } from "../../host/transform/index.js";
import type { Location, Stackmap, ValueType } from "../../host/toolchain/index.js";
import { ISAS, PAIRS, siteTable, stackmaps } from "./tables.js";

const table = siteTable([
  { name: "leaf", sites: [{ values: [["i32", "n"], ["f32", "x"], ["i64", "w"], ["f64", "y"], ["v128", "v"]] }] },
  { name: "main", sites: [{ values: [["f32", "argc"]] }] },
]);
const TYPES: ValueType[] = ["i32", "f32", "i64", "f64", "v128"];
const frame = (n: Value, x: Value, w: Value = 0n, y: Value = 0, v: Value = [0n, 0n]): PortableFrame[] => [
  { site: 0, values: [n, x, w, y, v] },
  { site: 1, values: [1.5] },
];

/** `sm` with value j of site 0 kept as the constant `c`. */
function withConstant(sm: Stackmap, j: number, c: number): Stackmap {
  const sites = sm.sites.map((s) => ({
    ...s,
    values: s.values.map((v, k): Location => (s.id === 0 && k === j ? { kind: "constant", value: c, size: v.size } : v)),
  }));
  return { ...sm, sites, byAddress: new Map(sites.map((s) => [s.returnAddress, s])) };
}

function refused(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TransformError);
    return (e as Error).message;
  }
  throw new Error("it was taken");
}

describe.each(ISAS.map((p) => ({ isa: p.name, p })))("lower on $isa", ({ p }) => {
  const sm = stackmaps(table).get(p.name)!;
  const roundTrip = (frames: PortableFrame[], s = sm) => lift(lower(frames, table, s, p), table, s, p);

  it("refuses an f32 an f32 cannot hold, naming the frame, the value and both numbers", () => {
    expect(refused(() => lower(frame(1, 0.1), table, sm, p))).toBe(
      "lower: frame 0 (leaf, site 0): value 1 (x: f32) is 0.1, which an f32 cannot hold — the nearest f32 is 0.10000000149011612; pass Math.fround(x)",
    );
    expect(refused(() => lower(frame(1, 1e39), table, sm, p))).toMatch(/value 1 \(x: f32\) is 1e\+39, .* the nearest f32 is Infinity/);
    expect(refused(() => lower([{ site: 1, values: [2 ** -150 * 3] }], table, sm, p))).toMatch(/frame 0 \(main, site 1\): value 0 \(argc: f32\) is 2\.1019476964872256e-45/);
  });

  it("takes every f32 there is: −0, NaN, infinities, subnormals, the largest, Math.fround(0.1)", () => {
    for (const x of [0, -0, NaN, Infinity, -Infinity, 1.401298464324817e-45, -3.4028234663852886e38, Math.fround(0.1)]) {
      expect(roundTrip(frame(1, x))).toEqual(frame(1, x));
    }
  });

  it("refuses a value that is not the constant the stackmap keeps it as, naming both", () => {
    expect(refused(() => lower(frame(5, 0), table, withConstant(sm, 0, 7), p))).toBe(
      `lower: frame 0 (leaf, site 0): value 0 (n: i32) is 5, but the ${p.name} stackmap keeps it as the constant 7 — the frames are not of this program, or the stackmap is not`,
    );
    // by the rules of the value's type: the constant's bits, sign-extended and read as the type
    expect(refused(() => lower(frame(1, -0), table, withConstant(sm, 1, 0), p))).toMatch(/value 1 \(x: f32\) is -0, but .* the constant 0 /);
    expect(refused(() => lower(frame(1, 0, 1n), table, withConstant(sm, 2, -1), p))).toMatch(/value 2 \(w: i64\) is 1n, but .* the constant -1n /);
    expect(refused(() => lower(frame(1, 0, 0n, 1), table, withConstant(sm, 3, -1), p))).toMatch(/value 3 \(y: f64\) is 1, but .* the constant NaN /);
    expect(refused(() => lower(frame(1, 0, 0n, 0, [-1n, 0n]), table, withConstant(sm, 4, -1), p))).toMatch(
      /value 4 \(v: v128\) is \[-1n, 0n\], but .* the constant \[-1n, -1n\] /,
    );
  });

  it("takes a value that is its constant, and lift gives it back", () => {
    const same: [number, number, PortableFrame[]][] = [
      [0, 7, frame(7, 0)],
      [0, -1, frame(-1, 0)],
      [1, 0, frame(1, 0)],
      [1, -1, frame(1, NaN)], // 0xffffffff is an f32 NaN
      [1, 0x3f800000, frame(1, 1)],
      [2, -1, frame(1, 0, -1n)],
      [3, -1, frame(1, 0, 0n, NaN)],
      [3, 0, frame(1, 0, 0n, 0)],
      [4, -2, frame(1, 0, 0n, 0, [-2n, -1n])],
    ];
    for (const [j, c, frames] of same) expect(roundTrip(frames, withConstant(sm, j, c)), `${TYPES[j]} constant ${c}`).toEqual(frames);
  });
});

// rewrite moves values unwound from one ISA's image into the other's layout.
// A value the target stackmap keeps as a constant has no place there: if the
// source frame held another value, the target's code would see the constant
// instead. Before, rewrite wrote nothing and the value silently became the
// constant (5 came back as 7). Now it is refused by the rules lower uses —
// with the site table, as the value's type compares (−0 is not 0, NaN is
// NaN); without it, floats cannot be told from integers and the bits must
// match.
describe.each(PAIRS)("rewrite $from → $to", ({ A, B }) => {
  const smA = stackmaps(table).get(A.name)!;
  const smB = stackmaps(table).get(B.name)!;
  const rewriteTo = (frames: PortableFrame[], b: Stackmap, withSites = true) =>
    rewrite(lower(frames, table, smA, A), smA, b, A, B, withSites ? { sites: table } : {}).image;

  it("refuses a value that is not the constant the target stackmap keeps it as, naming frame, site, value and both numbers", () => {
    expect(refused(() => rewriteTo(frame(5, 0), withConstant(smB, 0, 7)))).toBe(
      `rewrite ${A.name} → ${B.name}: frame 0 (leaf, site 0): value 0 (n: i32) is 5 on ${A.name}, but the ${B.name} stackmap keeps it as the constant 7 — the stackmaps are not of the same program: rebuild it whole`,
    );
    expect(refused(() => rewriteTo(frame(5, 0), withConstant(smB, 0, 7), false))).toBe(
      `rewrite ${A.name} → ${B.name}: frame 0 (leaf, site 0): value 0 (4 bytes) is 5 on ${A.name}, but the ${B.name} stackmap keeps it as the constant 7 — the stackmaps are not of the same program: rebuild it whole`,
    );
    expect(refused(() => rewriteTo(frame(1, -0), withConstant(smB, 1, 0)))).toMatch(/value 1 \(x: f32\) is -0 on .*, but .* the constant 0 /);
    expect(refused(() => rewriteTo(frame(1, 0, 1n), withConstant(smB, 2, -1)))).toMatch(/value 2 \(w: i64\) is 1n on .*, but .* the constant -1n /);
    expect(refused(() => rewriteTo(frame(1, 0, 0n, 1), withConstant(smB, 3, -1)))).toMatch(/value 3 \(y: f64\) is 1 on .*, but .* the constant NaN /);
    expect(refused(() => rewriteTo(frame(1, 0, 0n, 0, [-1n, 0n]), withConstant(smB, 4, -1)))).toMatch(
      /value 4 \(v: v128\) is \[-1n, 0n\] on .*, but .* the constant \[-1n, -1n\] /,
    );
    // a constant on both sides, but not the same one
    expect(refused(() => rewrite(lower(frame(5, 0), table, withConstant(smA, 0, 5), A), withConstant(smA, 0, 5), withConstant(smB, 0, 7), A, B))).toMatch(
      /value 0 \(4 bytes\) is 5 on .*, but .* the constant 7 /,
    );
  });

  it("takes a value that is its target constant, and lift on the target gives it back", () => {
    const same: [number, number, PortableFrame[]][] = [
      [0, 7, frame(7, 0)],
      [0, -1, frame(-1, 0)],
      [1, 0, frame(1, 0)],
      [1, -1, frame(1, NaN)], // 0xffffffff is an f32 NaN, as is the NaN the frame holds
      [1, 0x3f800000, frame(1, 1)],
      [2, -1, frame(1, 0, -1n)],
      [3, -1, frame(1, 0, 0n, NaN)],
      [3, 0, frame(1, 0, 0n, 0)],
      [4, -2, frame(1, 0, 0n, 0, [-2n, -1n])],
    ];
    for (const [j, c, frames] of same) {
      const b = withConstant(smB, j, c);
      expect(lift(rewriteTo(frames, b), table, b, B), `${TYPES[j]} constant ${c}`).toEqual(frames);
    }
  });

  it("without the site table compares the bits: a NaN of other bits than the constant's is refused", () => {
    expect(refused(() => rewriteTo(frame(1, NaN), withConstant(smB, 1, -1), false))).toMatch(/value 1 \(4 bytes\) is 2143289344 on .*, but .* the constant -1 /);
    expect(lift(rewriteTo(frame(7, 0), withConstant(smB, 0, 7), false), table, withConstant(smB, 0, 7), B)).toEqual(frame(7, 0));
  });
});
