// The trace of a rewrite against the images it describes, on random site
// tables and stacks, in both directions, with values of every type in
// registers, stack slots and constants: every frame once, innermost first;
// every live value once, in site order, its bytes (hex) the portable
// value's and found at its `from` location in the source image and at its
// `to` location in the rewritten one — a register of an outer frame in the
// save slot of the nearest callee that saves it, else in the register file;
// frame bases, CFAs and frame sizes chaining the frames from sp to the
// stack top; the counts the sums of the frames (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { IsaProfile } from "../../host/isa/index.js";
import { lift, lower, type NativeImage, type PortableFrame, rewrite, type TraceFrame, type TraceFrameSide, type Value } from "../../host/transform/index.js";
import type { Location, SiteTable, Stackmap, ValueType } from "../../host/toolchain/index.js";
import { PAIRS, stackmaps, tableAndFramesArb } from "./tables.js";

const SIZE: Record<ValueType, number> = { i32: 4, f32: 4, i64: 8, f64: 8, v128: 16 };

/** A portable value's bytes, little-endian, as hex (the trace's `hex`). */
function hexOf(type: ValueType, v: Value): string {
  const b = new DataView(new ArrayBuffer(16));
  if (type === "i32") b.setInt32(0, v as number, true);
  else if (type === "f32") b.setFloat32(0, v as number, true);
  else if (type === "f64") b.setFloat64(0, v as number, true);
  else if (type === "i64") b.setBigInt64(0, v as bigint, true);
  else {
    b.setBigInt64(0, (v as [bigint, bigint])[0], true);
    b.setBigInt64(8, (v as [bigint, bigint])[1], true);
  }
  return Buffer.from(b.buffer, 0, SIZE[type]).toString("hex");
}

/** Whether a traced f32/f64's bytes are a NaN. */
function isNaN(v: { type: ValueType | null; hex: string }): boolean {
  const b = Buffer.from(v.hex, "hex");
  return Number.isNaN(v.type === "f32" ? b.readFloatLE(0) : b.readDoubleLE(0));
}

/** The value a constant location stands for: `c` sign-extended to the type's size, read as the type. */
function constantValue(type: ValueType, c: number): Value {
  const b = new DataView(new ArrayBuffer(16));
  b.setBigInt64(0, BigInt(c), true);
  b.setBigInt64(8, c < 0 ? -1n : 0n, true);
  if (type === "i32") return b.getInt32(0, true);
  if (type === "f32") return b.getFloat32(0, true);
  if (type === "f64") return b.getFloat64(0, true);
  if (type === "i64") return b.getBigInt64(0, true);
  return [b.getBigInt64(0, true), b.getBigInt64(8, true)];
}

/** `sm` with the values `which` picks (site, value) kept as the constant `c` instead. */
function withConstants(sm: Stackmap, which: (site: number, j: number) => number | undefined): Stackmap {
  const sites = sm.sites.map((s) => ({
    ...s,
    values: s.values.map((v, j): Location => {
      const c = which(s.id, j);
      return c === undefined ? v : { kind: "constant", value: c, size: v.size };
    }),
  }));
  return { ...sm, sites, byAddress: new Map(sites.map((s) => [s.returnAddress, s])) };
}

/** The bytes at a location of frame `depth` of an image, as the unwinder must find them (see the header). */
function bytesAt(img: NativeImage, p: IsaProfile, sm: Stackmap, frames: TraceFrame[], side: "from" | "to", depth: number, loc: Location): string {
  const hex = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString("hex");
  if (loc.kind === "constant") return constantHex(loc.value, loc.size);
  if (loc.kind === "stack") return hex(img.stack, frames[depth]![side].frameBase - img.sp + loc.offset, loc.size);
  for (let k = depth - 1; k >= 0; k--) {
    const f: TraceFrameSide = frames[k]![side];
    const save = f.savedRegs.find((r) => r.dwarf === loc.dwarf);
    if (save) return hex(img.stack, f.frameBase - img.sp + save.offset, loc.size);
  }
  expect(sm.isa).toBe(p.name);
  return hex(img.regs, loc.dwarf * 16, loc.size);
}

function constantHex(c: number, size: number): string {
  const b = new DataView(new ArrayBuffer(16));
  b.setBigInt64(0, BigInt(c), true);
  b.setBigInt64(8, c < 0 ? -1n : 0n, true);
  return Buffer.from(b.buffer, 0, size).toString("hex");
}

/** Random tables and frames, and which values each ISA keeps as a constant (the frames then hold that constant). */
const caseArb = tableAndFramesArb.chain(([t, frames]) =>
  fc.tuple(
    fc.constant(t),
    fc.constant(frames),
    // per (site, value): constant on neither (most), on A, on B, or on both; and the constant
    fc.array(fc.tuple(fc.constantFrom(0, 0, 0, 1, 2, 3), fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -3, max: 3 }))), {
      minLength: 64,
      maxLength: 64,
    }),
  ),
);

function prepare(t: SiteTable, frames0: PortableFrame[], picks: [number, number][], A: IsaProfile, B: IsaProfile) {
  const sms = stackmaps(t);
  const picked = (site: number, j: number) => picks[(site * 7 + j) % picks.length]!;
  // no constant whose bits are a NaN of a float type: a portable frame holds the value as a JS number,
  // which does not keep a NaN's payload (values.ts), so the frames could not hold that constant
  const pick = (site: number, j: number): [number, number] => {
    const [on, c] = picked(site, j);
    const v = constantValue(t.sites[site]!.values[j]!.type, c);
    return typeof v === "number" && Number.isNaN(v) ? [0, c] : [on, c];
  };
  // a value constant on either side is that constant in every frame at the site
  const c = (on: number) => (site: number, j: number) => (pick(site, j)[0] & on ? pick(site, j)[1] : undefined);
  const a = withConstants(sms.get(A.name)!, c(1));
  const b = withConstants(sms.get(B.name)!, c(2));
  const frames = frames0.map((f) => ({
    site: f.site,
    values: f.values.map((v, j) => (pick(f.site, j)[0] !== 0 ? constantValue(t.sites[f.site]!.values[j]!.type, pick(f.site, j)[1]) : v)),
  }));
  return { a, b, frames };
}

describe.each(PAIRS)("the trace of a rewrite $from → $to", ({ A, B }) => {
  it("names every frame and every value once, with bytes found where it says, on both sides", () => {
    let constants = 0;
    fc.assert(
      fc.property(caseArb, ([t, frames0, picks]) => {
        const { a, b, frames } = prepare(t, frames0, picks, A, B);
        const x = lower(frames, t, a, A);
        const { image: y, trace } = rewrite(x, a, b, A, B, { trace: true, sites: t });
        expect(lift(y, t, b, B), "the values arrive").toEqual(frames);
        const tr = trace!;
        expect(JSON.parse(JSON.stringify(tr)), "plain JSON").toEqual(tr);
        expect(tr.from).toEqual({ isa: A.name, pc: x.pc, sp: x.sp, fp: x.fp, stackTop: x.stackTop, stackBytes: x.stack.length });
        expect(tr.to).toEqual({ isa: B.name, pc: y.pc, sp: y.sp, fp: y.fp, stackTop: y.stackTop, stackBytes: y.stack.length });
        expect(tr.frames.map((f) => [f.depth, f.site, f.function])).toEqual(frames.map((f, i) => [i, f.site, t.sites[f.site]!.func]));
        const counts = { values: 0, valueBytes: 0, from: { register: 0, stack: 0, constant: 0 }, to: { register: 0, stack: 0, constant: 0 }, saved: { from: 0, to: 0 } };
        for (const [side, img, p, sm] of [["from", x, A, a], ["to", y, B, b]] as const) {
          // the frames chain from sp (innermost) to the stack top (outermost)
          expect(tr.frames[0]![side].frameBase).toBe(img.fp);
          expect(tr.frames[0]![side].returnAddress).toBe(img.pc);
          expect(tr.frames[0]![side].cfa - tr.frames[0]![side].frameSize).toBe(img.sp);
          for (let i = 1; i < tr.frames.length; i++) expect(tr.frames[i]![side].cfa - tr.frames[i]![side].frameSize).toBe(tr.frames[i - 1]![side].cfa);
          expect(tr.frames.at(-1)![side].cfa).toBe(img.stackTop);
          tr.frames.forEach((f, depth) => {
            const fn = sm.functions[sm.sites[f.site]!.func]!;
            expect(f[side].frameSize).toBe(fn.frameSize);
            expect(f[side].returnAddress).toBe(sm.sites[f.site]!.returnAddress);
            expect(f[side].savedRegs.map((r) => [r.dwarf, r.offset, r.register])).toEqual(fn.savedRegs.map((r) => [r.dwarf, r.offset, p.registerName(r.dwarf)]));
            counts.saved[side] += fn.savedRegs.length;
            f.values.forEach((v) => {
              expect(v[side]).toEqual(sm.sites[f.site]!.values[v.index]);
              expect(bytesAt(img, p, sm, tr.frames, side, depth, v[side]), `frame ${depth} value ${v.index} at ${side} ${v[`${side}Text`]}`).toBe(v.hex);
              counts[side][v[side].kind]++;
            });
          });
        }
        tr.frames.forEach((f, depth) => {
          const live = t.sites[f.site]!.values;
          expect(f.values.map((v) => v.index)).toEqual(live.map((_, j) => j));
          f.values.forEach((v, j) => {
            expect([v.name, v.type, v.size]).toEqual([live[j]!.name, live[j]!.type, SIZE[live[j]!.type]]);
            const value = frames[depth]!.values[j]!;
            if (typeof value === "number" && Number.isNaN(value)) {
              // a NaN's payload only as far as a JS number carries it (values.ts): V8 converts an f32 NaN
              // to and from a double differently in its tiers; the bytes are a NaN all the same
              expect(isNaN(v), `frame ${depth} value ${j}: ${v.hex}`).toBe(true);
            } else expect(v.hex, `frame ${depth} value ${j}`).toBe(hexOf(live[j]!.type, value));
            counts.values++;
            counts.valueBytes += v.size;
          });
        });
        constants += counts.from.constant + counts.to.constant;
        expect(tr.counts).toEqual({
          frames: frames.length,
          values: counts.values,
          valueBytes: counts.valueBytes,
          from: counts.from,
          to: counts.to,
          savedRegisters: counts.saved,
        });
      }),
      { numRuns: 120 },
    );
    expect(constants, "values kept as constants").toBeGreaterThan(50);
  });

  it("with values kept as constants on either side: there and back again gives the very bytes", () => {
    fc.assert(
      fc.property(caseArb, ([t, frames0, picks]) => {
        const { a, b, frames } = prepare(t, frames0, picks, A, B);
        const x = lower(frames, t, a, A);
        expect(lift(x, t, a, A)).toEqual(frames);
        const back = rewrite(rewrite(x, a, b, A, B).image, b, a, B, A).image;
        expect(Buffer.from(back.stack).equals(Buffer.from(x.stack))).toBe(true);
        expect(Buffer.from(back.regs).equals(Buffer.from(x.regs))).toBe(true);
      }),
      { numRuns: 80 },
    );
  });
});
