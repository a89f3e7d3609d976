// Callee-saved registers: a value an outer frame keeps in a callee-saved
// register is, in the native image, wherever the register's value went —
// in the save slot of the first inner frame that reused the register, or
// still in the register file if no inner frame touched it. Unwinding must
// follow the register to find it (Popcorn's callee_saved test).
import { describe, expect, it } from "vitest";
import { lift, lower, rewrite } from "../../host/transform/index.js";
import type { NativeImage } from "../../host/transform/index.js";
import type { IsaProfile } from "../../host/isa/index.js";
import { ISAS, PAIRS, siteTable, stackmaps } from "./tables.js";

// inner and outer each keep one i32, so both take the first callee-saved
// GPR; middle keeps nothing and saves nothing; main keeps an i64, also in
// the first register.
const table = siteTable([
  { name: "inner", sites: [{ values: [["i32", "a"]] }] },
  { name: "middle", sites: [{ values: [] }] },
  { name: "outer", sites: [{ values: [["i32", "x"]] }] },
  { name: "main", sites: [{ values: [["i64", "m"]] }] },
]);
const [INNER, MIDDLE, OUTER, MAIN] = [0, 1, 2, 3];
const sms = stackmaps(table);

const u64 = (b: Uint8Array, at: number) => Buffer.from(b.buffer, b.byteOffset + at, 8).readBigUInt64LE();
const reg = (img: NativeImage, dwarf: number) => u64(img.regs, dwarf * 16);
/** The frame base of each frame, innermost first, by the frame-pointer chain. */
function frameBases(img: NativeImage, p: IsaProfile, n: number): number[] {
  const out = [img.fp];
  while (out.length < n) out.push(Number(u64(img.stack, out[out.length - 1]! - img.sp + p.savedFpOffset)));
  return out;
}
const saveSlot = (img: NativeImage, fp: number, offset: number) => u64(img.stack, fp - img.sp + offset);

describe.each(ISAS.map((p) => ({ isa: p.name, p })))("callee-saved registers on $isa", ({ p }) => {
  const sm = sms.get(p.name)!;
  const first = p.calleeSaved.gpr[0]!;

  it("gives inner, outer and main the same first callee-saved register", () => {
    for (const s of [INNER, OUTER, MAIN]) expect(sm.sites[s]!.values[0]).toMatchObject({ kind: "register", dwarf: first });
    expect(sm.functions[MIDDLE]!.savedRegs).toEqual([]);
  });

  it("finds an outer frame's register value in the save slot of the inner frame that reuses the register", () => {
    const frames = [
      { site: INNER, values: [7] },
      { site: OUTER, values: [42] },
      { site: MAIN, values: [99n] },
    ];
    const img = lower(frames, table, sm, p);
    const [fpInner, fpOuter] = frameBases(img, p, 3);
    const slot = sm.functions[0]!.savedRegs[0]!;
    expect(slot.dwarf).toBe(first);
    expect(reg(img, first)).toBe(7n); // inner's own value is live in the register
    expect(saveSlot(img, fpInner!, slot.offset)).toBe(42n); // inner's prologue saved outer's x
    expect(saveSlot(img, fpOuter!, sm.functions[OUTER]!.savedRegs[0]!.offset)).toBe(99n); // and outer saved main's m
    expect(lift(img, table, sm, p)).toEqual(frames);
  });

  it("finds an outer frame's register value in the register file when no inner frame saves the register", () => {
    const frames = [
      { site: MIDDLE, values: [] },
      { site: OUTER, values: [-5] },
      { site: MAIN, values: [-(2n ** 40n)] },
    ];
    const img = lower(frames, table, sm, p);
    expect(reg(img, first)).toBe(BigInt(-5 >>> 0)); // an i32 in a 64-bit register: upper half zero
    expect(lift(img, table, sm, p)).toEqual(frames);
  });

  it("skips frames that do not save the register: the value is in the first saver further in", () => {
    const frames = [
      { site: INNER, values: [1] },
      { site: MIDDLE, values: [] },
      { site: MIDDLE, values: [] },
      { site: OUTER, values: [2] },
      { site: MAIN, values: [3n] },
    ];
    const img = lower(frames, table, sm, p);
    const [fpInner] = frameBases(img, p, 5);
    expect(saveSlot(img, fpInner!, sm.functions[INNER]!.savedRegs[0]!.offset)).toBe(2n);
    expect(lift(img, table, sm, p)).toEqual(frames);
  });
});

describe.each(PAIRS)("callee-saved registers across $from → $to", ({ A, B }) => {
  it("moves register values held in inner frames' save slots to the other ISA's save slots", () => {
    const frames = [
      { site: INNER, values: [11] },
      { site: MIDDLE, values: [] },
      { site: OUTER, values: [22] },
      { site: MAIN, values: [33n] },
    ];
    const x = lower(frames, table, sms.get(A.name)!, A);
    const { image, trace } = rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B, { trace: true, sites: table });
    expect(lift(image, table, sms.get(B.name)!, B)).toEqual(frames);
    expect(trace!.frames.map((f) => f.values.map((v) => v.hex))).toEqual([["0b000000"], [], ["16000000"], ["2100000000000000"]]);
    expect(trace!.counts.savedRegisters).toEqual({ from: 3, to: 3 });
  });
});
