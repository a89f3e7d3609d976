// The trace of a rewrite: JSON-able data naming every frame and value
// moved, its locations on both ISAs as an assembler writes them, and its
// bytes.
import { describe, expect, it } from "vitest";
import { aarch64, x86_64 } from "../../host/isa/index.js";
import { lower, rewrite, TRACE_VERSION } from "../../host/transform/index.js";
import { siteTable, stackmaps } from "./tables.js";

const many: [("i32" | "f64"), string][] = [
  ...Array.from({ length: 7 }, (_, i): ["i32", string] => ["i32", `n${i}`]),
  ["f64", "x"],
];
const table = siteTable([
  { name: "work", sites: [{ values: many }] },
  { name: "main", sites: [{ values: [["i32", "argc"]] }] },
]);
const sms = stackmaps(table);
const frames = [{ site: 0, values: [0, 1, 2, 3, 4, 5, 6, 2.5] }, { site: 1, values: [7] }];

describe("rewrite trace", () => {
  const x = lower(frames, table, sms.get("x86-64")!, x86_64);
  const { image, trace } = rewrite(x, sms.get("x86-64")!, sms.get("aarch64")!, x86_64, aarch64, { trace: true, sites: table });

  it("is plain JSON-able data that survives a JSON round trip", () => {
    expect(JSON.parse(JSON.stringify(trace))).toEqual(trace);
    expect(trace!.version).toBe(TRACE_VERSION);
  });

  it("names each frame, its site, and both return addresses and frame bases", () => {
    expect(trace!.frames.map((f) => [f.depth, f.function, f.site])).toEqual([[0, "work", 0], [1, "main", 1]]);
    expect(trace!.frames[0]!.from.returnAddress).toBe(x.pc);
    expect(trace!.frames[0]!.to.returnAddress).toBe(image.pc);
    expect(trace!.frames[0]!.to.frameBase).toBe(image.fp);
    expect(trace!.frames[1]!.to.cfa).toBe(aarch64.stackTop);
    expect(trace!.from).toMatchObject({ isa: "x86-64", sp: x.sp, stackBytes: x.stack.length });
  });

  it("writes locations as an assembler would, registers and frame-base offsets", () => {
    const v = trace!.frames[0]!.values;
    // i32s: the 32-bit views of the registers
    expect(v.slice(0, 5).map((m) => m.fromText)).toEqual(["ebx", "r12d", "r13d", "r14d", "r15d"]);
    expect(v.slice(0, 7).map((m) => m.toText)).toEqual(["w19", "w20", "w21", "w22", "w23", "w24", "w25"]);
    expect(v[5]!.fromText).toMatch(/^\[rbp-\d+\]$/);
    expect(v[7]).toMatchObject({ name: "x", type: "f64", size: 8, toText: "d8", hex: "0000000000000440" });
    expect(v[7]!.fromText).toMatch(/^\[rbp-\d+\]$/);
  });

  it("counts frames, values, bytes and locations on each side", () => {
    expect(trace!.counts).toEqual({
      frames: 2,
      values: 9,
      valueBytes: 8 * 4 + 8,
      from: { register: 6, stack: 3, constant: 0 },
      to: { register: 9, stack: 0, constant: 0 },
      savedRegisters: { from: 5 + 1, to: 8 + 1 },
    });
  });

  it("names values by index only when no site table is given", () => {
    const bare = rewrite(x, sms.get("x86-64")!, sms.get("aarch64")!, x86_64, aarch64, { trace: true }).trace!;
    expect(bare.frames[0]!.values[0]).toMatchObject({ index: 0, name: null, type: null });
  });

  it("is left out unless asked for", () => {
    expect(rewrite(x, sms.get("x86-64")!, sms.get("aarch64")!, x86_64, aarch64).trace).toBeUndefined();
  });
});
