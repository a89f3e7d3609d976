// Many values: more live values than either ISA has callee-saved
// registers. x86-64 has 5 for integers and none for floats, aarch64 has 10
// and 8; so the two spill different values, to differently laid-out
// frames — and every value still arrives.
import { describe, expect, it } from "vitest";
import type { ValueType } from "../../host/toolchain/index.js";
import { aarch64, x86_64 } from "../../host/isa/index.js";
import { lift, lower, rewrite, type Value } from "../../host/transform/index.js";
import { PAIRS, siteTable, stackmaps } from "./tables.js";

const ints: [ValueType, string][] = Array.from({ length: 14 }, (_, i) => [i % 2 ? "i64" : "i32", `n${i}`]);
const floats: [ValueType, string][] = Array.from({ length: 10 }, (_, i) => [i % 2 ? "f64" : "f32", `x${i}`]);
const vecs: [ValueType, string][] = [["v128", "v0"], ["v128", "v1"]];
const all = [...ints, ...floats, ...vecs];

const table = siteTable([
  { name: "work", sites: [{ values: all }, { values: all.slice(0, 12) }] },
  { name: "main", sites: [{ values: [["i32", "argc"], ["f64", "scale"]] }] },
]);
const sms = stackmaps(table);

const valueOf = (type: ValueType, i: number): Value =>
  type === "i32" ? (-i * 1000) | 0 : type === "i64" ? BigInt(i) << 40n : type === "f32" ? i + 0.5 : type === "f64" ? Math.PI * i : [BigInt(i), -BigInt(i)];
const frames = [
  { site: 0, values: all.map(([t], i) => valueOf(t, i)) },
  { site: 1, values: all.slice(0, 12).map(([t], i) => valueOf(t, i + 100)) },
  { site: 2, values: [3, 0.25] },
];

const kinds = (isa: string) => sms.get(isa)!.sites[0]!.values.map((l) => l.kind);
const count = (xs: string[], k: string) => xs.filter((x) => x === k).length;

describe("many values", () => {
  it("uses every callee-saved register and spills the rest, differently on each ISA", () => {
    expect(count(kinds("x86-64"), "register")).toBe(5); // rbx r12 r13 r14 r15
    expect(count(kinds("x86-64"), "stack")).toBe(all.length - 5);
    expect(count(kinds("aarch64"), "register")).toBe(10 + 8); // x19–x28, d8–d15
    expect(count(kinds("aarch64"), "stack")).toBe(all.length - 18);
    expect(sms.get("x86-64")!.functions[0]!.frameSize).not.toBe(sms.get("aarch64")!.functions[0]!.frameSize);
  });

  it("spills every float on x86-64 and every v128 on both", () => {
    const x = sms.get("x86-64")!.sites[0]!.values;
    const a = sms.get("aarch64")!.sites[0]!.values;
    all.forEach(([t], i) => {
      if (t === "f32" || t === "f64" || t === "v128") expect(x[i]!.kind).toBe("stack");
      if (t === "v128") expect(a[i]!.kind).toBe("stack");
      if ((t === "f32" || t === "f64") && a[i]!.kind === "register") expect(aarch64.calleeSaved.fpr).toContain((a[i] as { dwarf: number }).dwarf);
    });
  });

  it("gives the values that appear at the most sites the registers", () => {
    // the first 12 values are live at both sites of `work`, the rest at one
    const x = sms.get("x86-64")!.sites[0]!.values;
    const regs = x.flatMap((l, i) => (l.kind === "register" ? [i] : []));
    expect(regs.every((i) => i < 12)).toBe(true);
    expect(regs.map((i) => (x[i] as { dwarf: number }).dwarf)).toEqual(x86_64.calleeSaved.gpr);
  });

  it.each(PAIRS)("every value arrives $from → $to", ({ A, B }) => {
    const x = lower(frames, table, sms.get(A.name)!, A);
    const { image, trace } = rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B, { trace: true, sites: table });
    expect(lift(image, table, sms.get(B.name)!, B)).toEqual(frames);
    const moved = trace!.frames[0]!.values;
    expect(moved.filter((v) => v.from.kind !== v.to.kind).length).toBeGreaterThan(0); // register ↔ stack moves
    expect(trace!.counts.from.stack).not.toBe(trace!.counts.to.stack);
  });
});
