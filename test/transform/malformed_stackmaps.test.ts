// Stackmaps made by hand or by another tool, with one number out of range:
// the copy plan (host/transform/plan.ts) checks everything its loops take
// for granted, so lower, lift and rewrite either refuse such a stackmap with
// a TransformError naming it, or move every value exactly (the frames come
// back). Before, a register -1, a location of an unknown kind, a constant
// past 32 bits or a save slot of register -1 were taken, and values came
// back as 0 or as another frame's (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lift, lower, rewrite, TransformError } from "../../host/transform/index.js";
import type { Stackmap } from "../../host/toolchain/index.js";
import { PAIRS, siteTable, stackmaps, tableAndFramesArb } from "./tables.js";

/** A copy of `sm` with one site's value location, one function or the entry return address changed. */
type Mutation =
  | { t: "value"; site: number; value: number; field: "dwarf" | "offset" | "value" | "size" | "kind"; to: unknown }
  | { t: "save"; fn: number; field: "dwarf" | "offset"; to: unknown }
  | { t: "frame"; fn: number; to: unknown }
  | { t: "returnAddress"; site: number; to: unknown }
  | { t: "entry"; site: number };

function mutate(sm: Stackmap, m: Mutation): Stackmap | undefined {
  const sites = sm.sites.map((s) => ({ ...s, values: s.values.map((v) => ({ ...v })) }));
  const functions = sm.functions.map((f) => ({ ...f, savedRegs: f.savedRegs.map((r) => ({ ...r })) }));
  let entry = sm.entryReturnAddress;
  switch (m.t) {
    case "value": {
      const s = sites[m.site % sites.length]!;
      if (s.values.length === 0) return undefined;
      const v = s.values[m.value % s.values.length]! as Record<string, unknown>;
      if (m.field === "kind") v.kind = m.to;
      else if (m.field === "size") v.size = m.to;
      else {
        // the field of the location's kind: a register's number, a slot's offset, a constant's value
        const field = v.kind === "register" ? "dwarf" : v.kind === "stack" ? "offset" : "value";
        if (field !== m.field) return undefined;
        v[field] = m.to;
      }
      break;
    }
    case "save": {
      const f = functions[m.fn % functions.length]!;
      if (f.savedRegs.length === 0) return undefined;
      (f.savedRegs[0] as Record<string, unknown>)[m.field] = m.to;
      break;
    }
    case "frame":
      (functions[m.fn % functions.length] as Record<string, unknown>).frameSize = m.to;
      break;
    case "returnAddress":
      (sites[m.site % sites.length] as Record<string, unknown>).returnAddress = m.to;
      break;
    case "entry":
      entry = sites[m.site % sites.length]!.returnAddress;
      break;
  }
  return { ...sm, entryReturnAddress: entry, functions, sites, byAddress: new Map(sites.map((s) => [s.returnAddress, s])) };
}

const bad = fc.constantFrom<unknown>(-1, -16, 1.5, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 40, -(2 ** 40), undefined, "3");
/**
 * Offsets that are no frame offset at all, and small ones that usually land on the frame record, a save
 * slot or another value's slot (overlapping_slots.test.ts names each case) — or on free bytes of the frame,
 * where the value must then come back exactly.
 */
const badOffset = fc.constantFrom<unknown>(1.5, -7.5, NaN, Infinity, 2 ** 31, 2 ** 32, 2 ** 40, -(2 ** 40), undefined, "3", 0, 4, 8, 16, 24, -8, -16, -24);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ t: fc.constant("value" as const), site: fc.nat(), value: fc.nat(), field: fc.constantFrom("dwarf" as const, "value" as const), to: bad }),
  fc.record({ t: fc.constant("value" as const), site: fc.nat(), value: fc.nat(), field: fc.constant("offset" as const), to: badOffset }),
  fc.record({ t: fc.constant("value" as const), site: fc.nat(), value: fc.nat(), field: fc.constant("size" as const), to: fc.constantFrom<unknown>(0, 1, 2, 3, 12, 32, 256, 260, -4) }),
  fc.record({ t: fc.constant("value" as const), site: fc.nat(), value: fc.nat(), field: fc.constant("kind" as const), to: fc.constantFrom<unknown>("memory", undefined, 0, "Register") }),
  fc.record({ t: fc.constant("save" as const), fn: fc.nat(), field: fc.constant("dwarf" as const), to: bad }),
  fc.record({ t: fc.constant("save" as const), fn: fc.nat(), field: fc.constant("offset" as const), to: badOffset }),
  fc.record({ t: fc.constant("frame" as const), fn: fc.nat(), to: bad }),
  fc.record({ t: fc.constant("returnAddress" as const), site: fc.nat(), to: bad }),
  fc.record({ t: fc.constant("entry" as const), site: fc.nat() }),
);

/** The frames back, or a TransformError naming the stackmap: anything else fails. */
function refusedOrExact(f: () => unknown, frames: unknown, isa: string): void {
  let got: unknown;
  try {
    got = f();
  } catch (e) {
    if (!(e instanceof TransformError)) throw new Error(`not a TransformError: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    expect(e.message).toMatch(new RegExp(`${isa} stackmap|popcorn.sites|rebuild`));
    return;
  }
  expect(got).toEqual(frames);
}

describe.each(PAIRS)("a malformed $from stackmap (the other ISA's is $to)", ({ A, B }) => {
  it("lower and lift refuse it naming the stackmap, or give the frames back", () => {
    fc.assert(
      fc.property(tableAndFramesArb, mutation, ([t, frames], m) => {
        const sms = stackmaps(t);
        const a = mutate(sms.get(A.name)!, m);
        if (!a) return;
        refusedOrExact(() => lift(lower(frames, t, a, A), t, a, A), frames, A.name);
      }),
      { numRuns: 300 },
    );
  });

  it("rewrite (with no site table to check it against) refuses it naming the stackmap, or moves every value", () => {
    fc.assert(
      fc.property(tableAndFramesArb, mutation, ([t, frames], m) => {
        const sms = stackmaps(t);
        const [a0, b] = [sms.get(A.name)!, sms.get(B.name)!];
        const a = mutate(a0, m);
        if (!a) return;
        // A's image laid out from the good stackmap where the bad one cannot lay it out: rewrite reads it with the bad one
        let x;
        try {
          x = lower(frames, t, a, A);
        } catch {
          x = lower(frames, t, a0, A);
        }
        refusedOrExact(() => lift(rewrite(x, a, b, A, B).image, t, b, B), frames, A.name);
      }),
      { numRuns: 300 },
    );
  });

  it("names what is wrong: a register outside the register file, a location of no kind, a constant past 32 bits", () => {
    const t = siteTable([
      { name: "leaf", sites: [{ values: [["i32", "n"], ["f64", "x"]] }] },
      { name: "main", sites: [{ values: [["i32", "argc"]] }] },
    ]);
    const sm = stackmaps(t).get(A.name)!;
    const frames = [{ site: 0, values: [5, 2.5] }, { site: 1, values: [9] }];
    const reg = sm.sites[0]!.values.findIndex((v) => v.kind === "register");
    const cases: [Mutation, RegExp][] = [
      [{ t: "value", site: 0, value: reg, field: "dwarf", to: -1 }, /site 0 keeps a value in register -1/],
      [{ t: "value", site: 0, value: 1, field: "kind", to: "memory" }, /site 0 value 1 has location kind memory/],
      [{ t: "save", fn: 1, field: "dwarf", to: -1 }, /function main saves register -1/],
      [{ t: "frame", fn: 0, to: 2 ** 32 }, /function leaf has frame size 4294967296, not a positive 32-bit integer/],
      [{ t: "entry", site: 1 }, /site 1 returns to 0x[0-9a-f]+, where the entry stub's call to main returns/],
    ];
    for (const [m, message] of cases) {
      const bad = mutate(sm, m)!;
      expect(() => lower(frames, t, bad, A), JSON.stringify(m)).toThrow(message);
    }
    const konst = mutate(mutate(sm, { t: "value", site: 0, value: 0, field: "kind", to: "constant" })!, { t: "value", site: 0, value: 0, field: "value", to: 2 ** 40 })!;
    expect(() => lower(frames, t, konst, A)).toThrow(/site 0 value 0 is the constant 1099511627776, not a signed 32-bit integer/);
  });
});
