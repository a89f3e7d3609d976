// Reading a program's stackmaps: one per ISA from its custom sections,
// each checked against the program's popcorn.sites.
import { describe, expect, it } from "vitest";
import { allocate, customSectionsWithPrefix, loadStackmaps, stackmapBackends, x86_64 } from "../../host/isa/index.js";
import { customSection, decodeSites, encodeStackmap, SITES_SECTION, STACKMAP_SECTION_PREFIX, StackmapFormatError } from "../../host/toolchain/index.js";
import { compileExample } from "../helpers.js";
import { withStackmapSections } from "../transform/tables.js";

async function fib() {
  const c = await compileExample("fib", { runtime: "stub" });
  return { wasm: c.wasm, sites: decodeSites(customSection(c.wasm, SITES_SECTION)!, "fib.wasm") };
}

describe("loading stackmaps", () => {
  it("offers one backend per profile, writing popcorn.stackmap.<isa>", () => {
    expect(stackmapBackends().map((b) => [b.isa, b.section])).toEqual([
      ["x86-64", "popcorn.stackmap.x86-64"],
      ["aarch64", "popcorn.stackmap.aarch64"],
    ]);
  });

  it("reads every popcorn.stackmap.* section of a compiled program", async () => {
    const { wasm, sites } = await fib();
    const names = [...customSectionsWithPrefix(wasm, STACKMAP_SECTION_PREFIX).keys()].sort();
    expect(names).toEqual(["popcorn.stackmap.aarch64", "popcorn.stackmap.x86-64"]);
    const sms = loadStackmaps(wasm, sites, "fib.wasm");
    expect(sms.get("x86-64")!.sites).toEqual(allocate(sites, x86_64).sites);
  });

  it("finds no stackmaps in a module without the sections", async () => {
    const { wasm, sites } = await fib();
    expect(loadStackmaps(withStackmapSections(wasm, sites, []), sites, "fib.wasm").size).toBe(0);
  });

  const refuse = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(StackmapFormatError);
      return (e as Error).message;
    }
    throw new Error("loaded a mismatched stackmap");
  };

  it("refuses a stackmap with another number of live values at a site, naming the site and the fix", async () => {
    const { wasm, sites } = await fib();
    const sm = allocate(sites, x86_64);
    const id = sites.sites.findIndex((s) => s.values.length >= 2);
    sm.sites[id] = { ...sm.sites[id]!, values: sm.sites[id]!.values.slice(1) };
    const bad = withStackmapSections(wasm, sites, [["popcorn.stackmap.x86-64", encodeStackmap(sm)]]);
    expect(refuse(() => loadStackmaps(bad, sites, "fib.wasm"))).toBe(
      `fib.wasm: site ${id} has ${sites.sites[id]!.values.length - 1} live values on x86-64 but ${sites.sites[id]!.values.length} in popcorn.sites — rebuild with the same popcorn version`,
    );
  });

  it("refuses a stackmap of another module or with another site count", async () => {
    const { wasm, sites } = await fib();
    const other = allocate({ ...sites, moduleHash: new Uint8Array(32).fill(1) }, x86_64);
    expect(refuse(() => loadStackmaps(withStackmapSections(wasm, sites, [["popcorn.stackmap.x86-64", encodeStackmap(other)]]), sites, "fib.wasm"))).toMatch(
      /^fib\.wasm: popcorn\.stackmap\.x86-64 is for module 010101010101…, popcorn\.sites for [0-9a-f]{12}… — rebuild/,
    );
    const fewer = allocate({ ...sites, functions: sites.functions.slice(0, 1), sites: sites.sites.slice(0, sites.functions[0]!.siteCount) }, x86_64);
    expect(refuse(() => loadStackmaps(withStackmapSections(wasm, sites, [["popcorn.stackmap.x86-64", encodeStackmap(fewer)]]), sites, "fib.wasm"))).toContain(
      `${fewer.sites.length} sites on x86-64 but ${sites.sites.length} in popcorn.sites`,
    );
  });

  it("refuses a section whose name and ISA disagree", async () => {
    const { wasm, sites } = await fib();
    const sm = encodeStackmap(allocate(sites, x86_64));
    expect(refuse(() => loadStackmaps(withStackmapSections(wasm, sites, [["popcorn.stackmap.aarch64", sm]]), sites, "fib.wasm"))).toContain(
      "section popcorn.stackmap.aarch64 holds a stackmap for x86-64",
    );
  });
});
