// The popcorn.stackmap.<isa> section: what is encoded decodes to the same
// stackmap, and a malformed section is refused with the file and the fix.
import { encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, PROFILES } from "../../host/isa/index.js";
import { decodeStackmap, encodeStackmap, type Stackmap, StackmapFormatError, STACKMAP_VERSION } from "../../host/toolchain/index.js";
import { siteTable, siteTableArb } from "../transform/tables.js";

const ISAS = [...PROFILES.values()];
const table = siteTable([
  { name: "leaf", sites: [{ values: [["i32", "a"], ["f64", "b"], ["v128", "c"]] }] },
  { name: "main", sites: [{ values: [["i64", "m"]] }, { values: [] }] },
]);
const sm = allocate(table, ISAS[0]!);

/** The raw array of a section, to break on purpose. */
const raw = (s: Stackmap): unknown[] => [
  s.version,
  s.isa,
  s.moduleHash,
  s.entryReturnAddress,
  s.functions.map((f) => [f.name, f.address, f.codeSize, f.frameSize, f.savedRegs.map((r) => [r.dwarf, r.offset])]),
  s.sites.map((x) => [x.id, x.func, x.returnAddress, x.values.map((l) => [l.kind === "register" ? 0 : l.kind === "stack" ? 1 : 2, l.kind === "register" ? l.dwarf : l.kind === "stack" ? l.offset : l.value, l.size])]),
  s.sites.map((x) => [x.returnAddress, x.id]).sort((p, q) => p[0]! - q[0]!),
];
const broken = (change: (r: unknown[]) => void): Uint8Array => {
  const r = raw(sm);
  change(r);
  return encode(r);
};
const refuse = (bytes: Uint8Array) => {
  try {
    decodeStackmap(bytes, "fib.wasm");
  } catch (e) {
    expect(e).toBeInstanceOf(StackmapFormatError);
    const msg = (e as Error).message;
    expect(msg.startsWith("fib.wasm: ")).toBe(true);
    expect(msg).toMatch(/recompile with/);
    return msg;
  }
  throw new Error("decoded a malformed section");
};

describe("stackmap section format", () => {
  it.each(ISAS.map((p) => ({ isa: p.name, p })))("decodes what it encodes, with the address index ($isa)", ({ p }) => {
    fc.assert(
      fc.property(siteTableArb, (t) => {
        const s = allocate(t, p);
        const back = decodeStackmap(encodeStackmap(s), "x.wasm");
        expect(back).toEqual(s);
        for (const site of s.sites) expect(back.byAddress.get(site.returnAddress)).toEqual(site);
      }),
      { numRuns: 100 },
    );
  });

  it("encodes the layout documented in stackmap.ts", () => {
    expect(raw(decodeStackmap(encodeStackmap(sm)))).toEqual(raw(sm));
    expect(encodeStackmap(sm)).toEqual(encode(raw(sm)));
  });

  it("keeps constant locations", () => {
    const withConst: Stackmap = { ...sm, sites: sm.sites.map((s, i) => (i === 0 ? { ...s, values: [{ kind: "constant", value: -7, size: 4 }, ...s.values.slice(1)] } : s)) };
    expect(decodeStackmap(encodeStackmap(withConst)).sites[0]!.values[0]).toEqual({ kind: "constant", value: -7, size: 4 });
  });

  it("refuses bytes that are not MessagePack or not the right array", () => {
    refuse(new Uint8Array([0xc1]));
    expect(refuse(encode([1, 2, 3]))).toContain("not a 7-element array");
  });

  it("refuses another version, naming both", () => {
    expect(refuse(broken((r) => (r[0] = STACKMAP_VERSION + 1)))).toContain(`version ${STACKMAP_VERSION + 1}, this popcorn reads version ${STACKMAP_VERSION}`);
  });

  it("refuses a bad module hash, function or location record", () => {
    expect(refuse(broken((r) => (r[2] = new Uint8Array(4))))).toContain("module hash is not 32 bytes");
    expect(refuse(broken((r) => ((r[4] as unknown[][])[0]![3] = -16)))).toContain("function record 0");
    expect(refuse(broken((r) => (((r[5] as unknown[][])[0]![3] as unknown[][])[0]![0] = 9)))).toContain("location kind 9");
    expect(refuse(broken((r) => (((r[5] as unknown[][])[0]![3] as unknown[][])[0]![2] = 3)))).toContain("bad location record");
  });

  it("refuses sites out of order, outside their function, or sharing a return address", () => {
    expect(refuse(broken((r) => ((r[5] as unknown[][])[1]![0] = 5)))).toContain("site record 1 is out of order");
    expect(refuse(broken((r) => ((r[5] as unknown[][])[0]![2] = 1)))).toContain("outside its function leaf");
    expect(
      refuse(
        broken((r) => {
          const sites = r[5] as unknown[][];
          sites[2]![2] = sites[1]![2];
        }),
      ),
    ).toMatch(/sites 1 and 2 share return address 0x[0-9a-f]+/);
  });

  it("refuses an address index that is unsorted or disagrees with the sites", () => {
    expect(refuse(broken((r) => (r[6] as unknown[]).reverse()))).toContain("not sorted");
    expect(refuse(broken((r) => ((r[6] as unknown[][])[0]![1] = 2)))).toContain("the sites disagree");
    expect(refuse(broken((r) => (r[6] as unknown[]).pop()))).toContain("2 entries for 3 sites");
  });
});
