// Loading a program checks its stackmaps' frames once: a program whose
// stackmap puts two things in the same bytes (a value's slot over the frame
// record or a save slot, two values in one register) is refused by
// loadProgram and programMaps — what `popcorn run` and every kernel call —
// with the message the copy plan would give at the first migration, named
// by the file. Before, it loaded, ran, and failed only when a thread of it
// first migrated.
import { describe, expect, it } from "vitest";
import { customSectionsWithPrefix } from "../../host/isa/index.js";
import { loadProgram, ProgramError } from "../../host/kernel/index.js";
import { programMaps } from "../../host/kernel/program.js";
import { customSection, decodeSites, decodeStackmap, encodeStackmap, SITES_SECTION, type Stackmap, stackmapSection } from "../../host/toolchain/index.js";
import { compileExample } from "../helpers.js";
import { withStackmapSections } from "../transform/tables.js";

async function fibWith(isa: string, edit: (sm: Stackmap) => void): Promise<Uint8Array> {
  const wasm = (await compileExample("fib", { runtime: "stub" })).wasm;
  const sites = decodeSites(customSection(wasm, SITES_SECTION)!, "fib.wasm");
  const sections = [...customSectionsWithPrefix(wasm, "popcorn.stackmap.")].map(([name, bytes]): [string, Uint8Array] => {
    if (name !== stackmapSection(isa)) return [name, bytes];
    const sm = decodeStackmap(bytes);
    edit(sm);
    return [name, encodeStackmap(sm)];
  });
  return withStackmapSections(wasm, sites, sections);
}

describe("loading a program whose stackmap has overlapping slots", () => {
  it("loads a program fresh from popcorn compile", async () => {
    const wasm = await fibWith("x86-64", () => {});
    expect(loadProgram(wasm, "fib.wasm").stackmaps.size).toBe(2);
  });

  it.each(["x86-64", "aarch64"])("refuses one on %s, naming the file, the ISA and the overlap", async (isa) => {
    const wasm = await fibWith(isa, (sm) => {
      const s = sm.sites.find((x) => x.values.length >= 2)!;
      s.values[1] = { ...s.values[0]! };
    });
    const refusal = /^fib\.wasm: .+ stackmap: site \d+ \(.*\): value 0 and value 1 are both in \w+ — recompile with `popcorn compile`$/;
    expect(() => loadProgram(wasm, "fib.wasm")).toThrow(ProgramError);
    expect(() => loadProgram(wasm, "fib.wasm")).toThrow(refusal);
    expect(() => programMaps(wasm, "fib.wasm")).toThrow(new RegExp(`^fib\\.wasm: ${isa} stackmap: `));
  });
});
