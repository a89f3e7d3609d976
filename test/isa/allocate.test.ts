// The backend allocator: deterministic, values live across calls only in
// callee-saved registers or stack slots, frames and slots aligned, return
// addresses unique, and the two ISAs really disagree where they should.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { aarch64, allocate, AllocationError, frameOverlaps, type IsaProfile, PROFILES, VALUE_BYTES, x86_64 } from "../../host/isa/index.js";
import { encodeStackmap, type SiteTable, type Stackmap } from "../../host/toolchain/index.js";
import { siteTable, siteTableArb } from "../transform/tables.js";

const ISAS = [...PROFILES.values()];
const each = ISAS.map((p) => ({ isa: p.name, p }));

/** Every invariant a stackmap from allocate must hold, for one table and profile. */
function checkInvariants(t: SiteTable, sm: Stackmap, p: IsaProfile): void {
  const calleeSaved = new Set([...p.calleeSaved.gpr, ...p.calleeSaved.fpr]);
  const ras = new Set<number>();
  let prevEnd = p.code.textBase;
  expect(sm.entryReturnAddress).toBeLessThan(sm.functions[0]?.address ?? Infinity);
  sm.functions.forEach((f, fi) => {
    expect(f.frameSize % 16).toBe(0);
    expect(f.address % p.code.functionAlign).toBe(0);
    expect(f.address).toBeGreaterThanOrEqual(prevEnd);
    prevEnd = f.address + f.codeSize;
    const cfa = p.cfaOffset(f.frameSize);
    const low = cfa - f.frameSize;
    // byte ranges (from the frame base) the frame record and the save slots take
    const taken: [number, number, string][] = [
      [p.savedFpOffset, 8, "saved fp"],
      [p.returnAddressOffset, 8, "return address"],
      ...f.savedRegs.map((r): [number, number, string] => [r.offset, 8, p.registerName(r.dwarf)]),
    ];
    for (const r of f.savedRegs) expect(calleeSaved.has(r.dwarf)).toBe(true);
    const own = t.sites.slice(t.functions[fi]!.firstSite, t.functions[fi]!.firstSite + t.functions[fi]!.siteCount);
    const slots = new Map<number, number>();
    let prevRA = f.address;
    for (const s of own) {
      const m = sm.sites[s.id]!;
      expect(m.func).toBe(fi);
      expect(m.returnAddress).toBeGreaterThan(prevRA);
      expect(m.returnAddress).toBeLessThanOrEqual(f.address + f.codeSize);
      prevRA = m.returnAddress;
      expect(ras.has(m.returnAddress)).toBe(false);
      ras.add(m.returnAddress);
      m.values.forEach((l, j) => {
        expect(l.size).toBe(VALUE_BYTES[s.values[j]!.type]);
        if (l.kind === "register") {
          expect(calleeSaved.has(l.dwarf)).toBe(true); // never caller-saved: the value lives across a call
          expect(f.savedRegs.map((r) => r.dwarf)).toContain(l.dwarf); // and the prologue saves it
          expect(s.values[j]!.type).not.toBe("v128");
        } else if (l.kind === "stack") {
          expect(Math.abs(l.offset) % l.size).toBe(0);
          expect(l.offset).toBeGreaterThanOrEqual(low);
          expect(l.offset + l.size).toBeLessThanOrEqual(cfa);
          slots.set(l.offset, l.size);
        }
      });
    }
    const all = [...taken, ...[...slots].map(([o, n]): [number, number, string] => [o, n, `slot ${o}`])].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < all.length; i++) expect(all[i]![0]).toBeGreaterThanOrEqual(all[i - 1]![0] + all[i - 1]![1]); // no overlap
    for (const [o, n] of all) expect(o >= low && o + n <= cfa).toBe(true);
  });
  expect(ras.size).toBe(t.sites.length);
  expect(frameOverlaps(sm, p), "what the copy plan and popcorn check would refuse").toEqual([]);
}

describe("the backend allocator", () => {
  it.each(each)("holds every invariant on random site tables ($isa)", ({ p }) => {
    fc.assert(fc.property(siteTableArb, (t) => checkInvariants(t, allocate(t, p), p)), { numRuns: 200 });
  });

  it.each(each)("is deterministic: the same table gives the same bytes ($isa)", ({ p }) => {
    fc.assert(
      fc.property(siteTableArb, (t) => {
        expect(encodeStackmap(allocate(t, p))).toEqual(encodeStackmap(allocate(structuredClone(t), p)));
      }),
      { numRuns: 100 },
    );
  });

  it("keeps one location per value across a function's sites, and gives the registers to the values live at most sites", () => {
    const t = siteTable([
      {
        name: "main",
        sites: [
          { values: [["i32", "rare"], ["i32", "often"]] },
          { values: [["i32", "often"], ["i64", "mid"]] },
          { values: [["i64", "mid"], ["i32", "often"]] },
        ],
      },
    ]);
    for (const p of ISAS) {
      const sm = allocate(t, p);
      const at = (site: number, j: number) => sm.sites[site]!.values[j]!;
      expect(at(0, 1)).toEqual(at(1, 0));
      expect(at(1, 0)).toEqual(at(2, 1));
      expect(at(1, 1)).toEqual(at(2, 0));
      expect(at(0, 1)).toMatchObject({ kind: "register", dwarf: p.calleeSaved.gpr[0] }); // often: 3 sites
      expect(at(1, 1)).toMatchObject({ kind: "register", dwarf: p.calleeSaved.gpr[1] }); // mid: 2 sites
      expect(at(0, 0)).toMatchObject({ kind: "register", dwarf: p.calleeSaved.gpr[2] }); // rare: 1 site
    }
  });

  it("tells apart the same name and type listed twice at one site", () => {
    const t = siteTable([{ name: "main", sites: [{ values: [["i32", "$3"], ["i32", "$3"]] }] }]);
    for (const p of ISAS) {
      const [a, b] = allocate(t, p).sites[0]!.values;
      expect(a).not.toEqual(b);
    }
  });

  it("lays a program with many live values out differently on the two ISAs", () => {
    const values = Array.from({ length: 13 }, (_, i): ["i32" | "f64", string] => [i < 9 ? "i32" : "f64", `v${i}`]);
    const t = siteTable([{ name: "main", sites: [{ values }] }]);
    const x = allocate(t, x86_64);
    const a = allocate(t, aarch64);
    const kinds = (sm: Stackmap) => sm.sites[0]!.values.map((l) => l.kind);
    expect(kinds(x).filter((k) => k === "stack")).toHaveLength(8); // 4 i32 + 4 f64 spill
    expect(kinds(a).filter((k) => k === "stack")).toHaveLength(0); // x19–x27, d8–d11
    expect(x.functions[0]!.frameSize).not.toBe(a.functions[0]!.frameSize);
    expect(x.sites[0]!.returnAddress).not.toBe(a.sites[0]!.returnAddress);
  });

  it("saves nothing and needs only the frame record when nothing is live", () => {
    const t = siteTable([{ name: "main", sites: [{ values: [] }, { values: [] }] }]);
    for (const p of ISAS) expect(allocate(t, p).functions[0]).toMatchObject({ frameSize: 16, savedRegs: [] });
  });

  it("refuses a site table whose function ranges do not match its sites", () => {
    const t = siteTable([{ name: "a", sites: [{ values: [] }] }, { name: "main", sites: [{ values: [] }] }]);
    t.functions[0]!.siteCount = 2;
    expect(() => allocate(t, x86_64)).toThrow(AllocationError);
    expect(() => allocate(t, x86_64)).toThrow(/recompile with `popcorn compile`/);
  });
});
