// Errors name the thing — ISA, frame depth, function, site, address — and
// the fix where there is one. Nothing is corrupted silently.
import { describe, expect, it } from "vitest";
import { aarch64, x86_64 } from "../../host/isa/index.js";
import { lift, lower, type NativeImage, rewrite, TransformError } from "../../host/transform/index.js";
import { siteTable, stackmaps } from "./tables.js";

const table = siteTable([
  { name: "leaf", sites: [{ values: [["i32", "n"], ["i64", "acc"]] }] },
  { name: "main", sites: [{ values: [["i32", "argc"]] }] },
]);
const sms = stackmaps(table);
const X = sms.get("x86-64")!;
const A = sms.get("aarch64")!;
const frames = [{ site: 0, values: [1, 2n] }, { site: 1, values: [3] }];
const img = (): NativeImage => {
  const i = lower(frames, table, X, x86_64);
  return { ...i, stack: i.stack.slice(), regs: i.regs.slice() };
};
const fail = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TransformError);
    return (e as Error).message;
  }
  throw new Error("did not throw");
};

describe("transformation errors", () => {
  it("a pc that is no site names the address and the ISA", () => {
    const bad = { ...img(), pc: 0x401001 };
    const msg = fail(() => lift(bad, table, X, x86_64));
    expect(msg).toContain("0x401001");
    expect(msg).toContain("x86-64");
    expect(msg).toContain("frame 0");
  });

  it("a return address in an outer frame that is no site names the frame's depth", () => {
    const bad = img();
    // frame 0's return address (into main) sits at [fp+8]
    bad.stack.fill(0xee, bad.fp - bad.sp + 8, bad.fp - bad.sp + 12);
    const msg = fail(() => rewrite(bad, X, A, x86_64, aarch64));
    expect(msg).toMatch(/x86-64 frame 1: return address 0x[0-9a-f]+ is no site of this program/);
  });

  it("a corrupted frame-pointer chain names the frame, its function and site", () => {
    const bad = img();
    bad.stack.fill(0x10, bad.fp - bad.sp, bad.fp - bad.sp + 4); // saved rbp
    const msg = fail(() => lift(bad, table, X, x86_64));
    expect(msg).toContain("frame 1 (main, site 1)");
    expect(msg).toContain("corrupted");
  });

  it("an image of another ISA is refused", () => {
    expect(fail(() => lift(img(), table, A, aarch64))).toContain("the image is of x86-64");
  });

  it("a stackmap and a profile of different ISAs are refused", () => {
    expect(fail(() => lift(img(), table, X, aarch64))).toContain("stackmap is for x86-64, the profile is aarch64");
  });

  it("a truncated stack is refused", () => {
    const i = img();
    expect(fail(() => lift({ ...i, stack: i.stack.subarray(8) }, table, X, x86_64))).toContain("truncated");
  });

  it("stackmaps of two different programs are refused", () => {
    const other = stackmaps(siteTable([{ name: "main", sites: [{ values: [["i32", "argc"]] }] }], new Uint8Array(32).fill(9)));
    expect(fail(() => rewrite(img(), X, other.get("aarch64")!, x86_64, aarch64))).toContain("same compiled program");
  });

  it("lower names the frame, function and site of a value count mismatch", () => {
    const msg = fail(() => lower([{ site: 0, values: [1] }, frames[1]!], table, X, x86_64));
    expect(msg).toContain("frame 0 (leaf, site 0) has 1 values, the site has 2 live values");
  });

  it("lower names the value of a type mismatch", () => {
    expect(fail(() => lower([{ site: 0, values: [1, 2] }, frames[1]!], table, X, x86_64))).toContain("value acc (i64) must be a bigint");
    expect(fail(() => lower([{ site: 0, values: [1.5, 2n] }, frames[1]!], table, X, x86_64))).toContain("value n (i32) must be a 32-bit integer");
    expect(fail(() => lower([{ site: 0, values: [1, 2n ** 64n] }, frames[1]!], table, X, x86_64))).toContain("signed 64-bit range");
  });

  it("lower refuses frames that are not a list of {site, values}, naming the frame (it threw a TypeError)", () => {
    expect(fail(() => lower(undefined as never, table, X, x86_64))).toContain("lower: the frames are undefined, not a list");
    expect(fail(() => lower([null, frames[1]!] as never, table, X, x86_64))).toContain("lower: frame 0 is not a frame {site, values}");
    expect(fail(() => lower([frames[0]!, { site: 1 }] as never, table, X, x86_64))).toContain("lower: frame 1 is not a frame {site, values}");
  });

  it("lower refuses an unknown site and an empty stack", () => {
    expect(fail(() => lower([{ site: 7, values: [] }], table, X, x86_64))).toContain("names site 7, the program has 2 sites");
    expect(fail(() => lower([], table, X, x86_64))).toContain("no frames");
  });

  it("a site table that is not the stackmap's is refused with the fix", () => {
    const other = siteTable([
      { name: "leaf", sites: [{ values: [["i32", "n"]] }] },
      { name: "main", sites: [{ values: [["i32", "argc"]] }] },
    ]);
    expect(fail(() => lift(img(), other, X, x86_64))).toContain("site 0 has 2 live values on x86-64 but 1 in popcorn.sites — rebuild with the same popcorn version");
  });
});
