// A stackmap whose frame holds two things in the same bytes: a live value's
// stack slot over the frame record (saved frame pointer, return address) or
// over a callee-saved save slot, two values' slots that intersect, a save
// slot over the frame record or over another, two values in one register.
// Laying such a frame out writes one over the other, and the value (or the
// return address) read back is another's. Before, lower, lift and rewrite
// took such a stackmap and moved the wrong bytes silently (a review found
// it); now the copy plan refuses it, naming the site or function, the two
// things and their offsets.
import { describe, expect, it } from "vitest";
import type { IsaProfile } from "../../host/isa/index.js";
import { lift, lower, type PortableFrame, rewrite, TransformError } from "../../host/transform/index.js";
import type { Stackmap } from "../../host/toolchain/index.js";
import { ISAS, siteTable, stackmaps } from "./tables.js";

// leaf keeps n and m in callee-saved registers (so it saves two) and spills the two v128s, on both ISAs
const table = siteTable([
  { name: "leaf", sites: [{ values: [["i32", "n"], ["v128", "a"], ["v128", "b"], ["i32", "m"]] }] },
  { name: "main", sites: [{ values: [["i32", "argc"]] }] },
]);
const frames: PortableFrame[] = [
  { site: 0, values: [5, [1n, 2n], [3n, 4n], 6] },
  { site: 1, values: [9] },
];

/** A deep copy of `sm` that `edit` may change. */
function edited(sm: Stackmap, edit: (sm: Stackmap, p: IsaProfile) => void, p: IsaProfile): Stackmap {
  const copy: Stackmap = {
    ...sm,
    functions: sm.functions.map((f) => ({ ...f, savedRegs: f.savedRegs.map((r) => ({ ...r })) })),
    sites: sm.sites.map((s) => ({ ...s, values: s.values.map((v) => ({ ...v })) })),
  };
  edit(copy, p);
  return { ...copy, byAddress: new Map(copy.sites.map((s) => [s.returnAddress, s])) };
}

const leaf = (sm: Stackmap) => sm.sites[0]!.values;
const stackOffset = (sm: Stackmap, j: number) => (leaf(sm)[j] as { offset: number }).offset;
/** "[rbp+8]" or "[x29+8]", as a regular expression */
const at = (p: IsaProfile, off: number) => `\\[${p.registerName(p.fp)}${off < 0 ? "-" : "\\+"}${Math.abs(off)}\\]`;

const cases: [string, (sm: Stackmap, p: IsaProfile) => void, (sm: Stackmap, p: IsaProfile) => RegExp][] = [
  [
    "a value's slot over the return address",
    (sm, p) => void (leaf(sm)[0] = { kind: "stack", offset: p.returnAddressOffset, size: 4 }),
    (_sm, p) => new RegExp(`site 0 \\(leaf\\): value 0 at ${at(p, p.returnAddressOffset)} \\(4 bytes\\) overlaps the return address at ${at(p, p.returnAddressOffset)} \\(8 bytes\\)`),
  ],
  [
    "a value's slot over the saved frame pointer",
    (sm, p) => void (leaf(sm)[3] = { kind: "stack", offset: p.savedFpOffset + 4, size: 4 }),
    (_sm, p) => new RegExp(`site 0 \\(leaf\\): value 3 at ${at(p, p.savedFpOffset + 4)} \\(4 bytes\\) overlaps the saved frame pointer at ${at(p, p.savedFpOffset)} \\(8 bytes\\)`),
  ],
  [
    "a value's slot over a callee-saved register's save slot",
    (sm) => void (leaf(sm)[0] = { kind: "stack", offset: sm.functions[0]!.savedRegs[1]!.offset, size: 4 }),
    (sm, p) => {
      const r = sm.functions[0]!.savedRegs[1]!;
      return new RegExp(`site 0 \\(leaf\\): value 0 at ${at(p, r.offset)} \\(4 bytes\\) overlaps the save slot of ${p.registerName(r.dwarf)} at ${at(p, r.offset)} \\(8 bytes\\)`);
    },
  ],
  [
    "two values' slots that intersect",
    (sm) => void ((leaf(sm)[2] as { offset: number }).offset = stackOffset(sm, 1) + 8),
    (sm, p) => new RegExp(`site 0 \\(leaf\\): value 2 at ${at(p, stackOffset(sm, 1) + 8)} \\(16 bytes\\) overlaps value 1 at ${at(p, stackOffset(sm, 1))} \\(16 bytes\\)`),
  ],
  [
    "a save slot over the return address",
    (sm, p) => void (sm.functions[0]!.savedRegs[0]!.offset = p.returnAddressOffset),
    (sm, p) =>
      new RegExp(`function leaf: the save slot of ${p.registerName(sm.functions[0]!.savedRegs[0]!.dwarf)} at ${at(p, p.returnAddressOffset)} \\(8 bytes\\) overlaps the return address`),
  ],
  [
    "two save slots in the same place",
    (sm) => void (sm.functions[0]!.savedRegs[1]!.offset = sm.functions[0]!.savedRegs[0]!.offset),
    (sm, p) => {
      const [r0, r1] = sm.functions[0]!.savedRegs.map((r) => p.registerName(r.dwarf));
      return new RegExp(`function leaf: the save slot of (${r0}|${r1}) at .* overlaps the save slot of (${r0}|${r1})`);
    },
  ],
  [
    "two values in one register",
    (sm) => void (leaf(sm)[3] = { ...leaf(sm)[0]! }),
    (sm, p) => new RegExp(`site 0 \\(leaf\\): value 0 and value 3 are both in ${p.registerName((leaf(sm)[0] as { dwarf: number }).dwarf, 4)}`),
  ],
];

describe.each(ISAS.map((p) => ({ isa: p.name, p })))("a $isa stackmap with two things in the same bytes of a frame", ({ p }) => {
  const good = stackmaps(table);
  const sm = good.get(p.name)!;
  const other = ISAS.find((q) => q !== p)!;

  it("is laid out without overlaps when allocate makes it (the frames come back)", () => {
    expect(lift(lower(frames, table, sm, p), table, sm, p)).toEqual(frames);
  });

  it.each(cases)("is refused by lower, lift and rewrite: %s", (_what, edit, message) => {
    const bad = edited(sm, edit, p);
    const expected = message(bad, p);
    const refused = (f: () => unknown) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, "a TransformError").toBeInstanceOf(TransformError);
      expect((err as Error).message).toMatch(new RegExp(`^${p.name} stackmap: `));
      expect((err as Error).message).toMatch(expected);
      expect((err as Error).message).toMatch(/recompile with `popcorn compile`$/);
    };
    refused(() => lower(frames, table, bad, p));
    const image = lower(frames, table, sm, p);
    refused(() => lift(image, table, bad, p));
    refused(() => rewrite(image, bad, good.get(other.name)!, p, other));
    refused(() => rewrite(lower(frames, table, good.get(other.name)!, other), good.get(other.name)!, bad, other, p));
  });
});
