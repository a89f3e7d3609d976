// Floats, i64 and v128: every bit of every value survives lowering,
// rewriting and lifting — −0, infinities, NaN, subnormals, the i64 extremes,
// v128 lanes — whichever location (register, save slot, spill slot) it
// passes through.
import { describe, expect, it } from "vitest";
import { lift, lower, rewrite, type PortableFrame } from "../../host/transform/index.js";
import { ISAS, PAIRS, siteTable, stackmaps } from "./tables.js";

const F32 = [0, -0, Infinity, -Infinity, NaN, 1.401298464324817e-45, 3.4028234663852886e38, -1.5, Math.fround(Math.PI)];
const F64 = [0, -0, Infinity, -Infinity, NaN, Number.MIN_VALUE, Number.MAX_VALUE, -Number.EPSILON, Math.PI];
const I64 = [0n, -1n, 1n, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -(2n ** 32n)];
const I32 = [0, -1, -(2 ** 31), 2 ** 31 - 1];
const V128: [bigint, bigint][] = [[0n, 0n], [-1n, -1n], [-(2n ** 63n), 2n ** 63n - 1n], [0x0123456789abcdefn, -0x0123456789abcdefn]];

// one function per type (values live in registers where the ISA allows),
// and one with all of them at once (many spill)
const table = siteTable([
  { name: "f32s", sites: [{ values: [["f32", "a"], ["f32", "b"]] }] },
  { name: "f64s", sites: [{ values: [["f64", "a"], ["f64", "b"]] }] },
  { name: "i64s", sites: [{ values: [["i64", "a"], ["i64", "b"]] }] },
  { name: "v128s", sites: [{ values: [["v128", "a"]] }] },
  { name: "main", sites: [{ values: [["f32", "p"], ["f64", "q"], ["i64", "r"], ["i32", "s"], ["v128", "t"], ["f64", "u"], ["i64", "w"]] }] },
]);
const sms = stackmaps(table);

function cases(): PortableFrame[][] {
  const out: PortableFrame[][] = [];
  const n = Math.max(F32.length, F64.length, I64.length, V128.length);
  for (let i = 0; i < n; i++) {
    const f32 = F32[i % F32.length]!;
    const f64 = F64[i % F64.length]!;
    const i64 = I64[i % I64.length]!;
    const v = V128[i % V128.length]!;
    out.push([
      { site: 0, values: [f32, F32[(i + 1) % F32.length]!] },
      { site: 1, values: [f64, F64[(i + 3) % F64.length]!] },
      { site: 2, values: [i64, I64[(i + 2) % I64.length]!] },
      { site: 3, values: [v] },
      { site: 4, values: [f32, f64, i64, I32[i % I32.length]!, v, -f64, BigInt.asIntN(64, -i64)] },
    ]);
  }
  return out;
}

describe("float and i64 values", () => {
  it.each(ISAS.map((p) => ({ isa: p.name, p })))("keep their bits through lower and lift on $isa", ({ p }) => {
    for (const frames of cases()) expect(lift(lower(frames, table, sms.get(p.name)!, p), table, sms.get(p.name)!, p)).toEqual(frames);
  });

  it.each(PAIRS)("keep their bits through rewrite $from → $to", ({ A, B }) => {
    for (const frames of cases()) {
      const x = lower(frames, table, sms.get(A.name)!, A);
      const y = rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B).image;
      const back = lift(y, table, sms.get(B.name)!, B);
      expect(back).toEqual(frames);
      // toEqual tells −0 from 0; say it outright for the record
      expect(Object.is((back[4]!.values[0] as number) * 1, (frames[4]!.values[0] as number) * 1)).toBe(true);
    }
  });

  it("keep d8–d15 values on aarch64 and spill them on x86-64", () => {
    expect(sms.get("aarch64")!.sites[1]!.values.map((l) => l.kind)).toEqual(["register", "register"]);
    expect(sms.get("x86-64")!.sites[1]!.values.map((l) => l.kind)).toEqual(["stack", "stack"]);
  });

  it("writes the value's little-endian bytes to its location", () => {
    const frames: PortableFrame[] = [{ site: 2, values: [-2n, 2n ** 63n - 1n] }, { site: 4, values: [-0, -0, 0n, -1, [1n, -1n], 1, 5n] }];
    const p = ISAS[0]!;
    const x = lower(frames, table, sms.get(p.name)!, p);
    const { trace } = rewrite(x, sms.get(p.name)!, sms.get(ISAS[1]!.name)!, p, ISAS[1]!, { trace: true, sites: table });
    expect(trace!.frames[0]!.values.map((v) => v.hex)).toEqual(["feffffffffffffff", "ffffffffffffff7f"]);
    expect(trace!.frames[1]!.values.map((v) => v.hex).slice(0, 5)).toEqual([
      "00000080",
      "0000000000000080",
      "0000000000000000",
      "ffffffff",
      "0100000000000000ffffffffffffffff",
    ]);
  });
});
