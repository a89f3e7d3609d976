// Every example program: `popcorn compile` writes a stackmap per ISA that
// matches its site table and that `popcorn check` passes (no slot over the
// frame record or another slot among them), and the stacks captured at
// several points of a real run go through lower, rewrite (both directions)
// and lift unchanged —
// and the run, resumed each time from the frames lifted on the other ISA,
// prints what the plain run prints.
import { describe, expect, it } from "vitest";
import { allocate, checkStackmaps, loadStackmaps, PROFILES } from "../../host/isa/index.js";
import { customSection, decodeSites, SITES_SECTION } from "../../host/toolchain/index.js";
import { lift, lower, rewrite } from "../../host/transform/index.js";
import { EXAMPLES, compileExample, run } from "../helpers.js";
import { runWithCaptures } from "./tables.js";

const GAPS = [1, 3, 17, 101, 400, 1500];

describe.each(EXAMPLES)("example $name", ({ name, args, runtime }) => {
  it("has a stackmap per ISA that matches its site table, as allocate lays it out", async () => {
    const c = await compileExample(name, { runtime: runtime ?? "stub" });
    const sites = decodeSites(customSection(c.wasm, SITES_SECTION)!, `${name}.wasm`);
    const sms = loadStackmaps(c.wasm, sites, `${name}.wasm`);
    expect([...sms.keys()].sort()).toEqual([...PROFILES.keys()].sort());
    for (const [isa, sm] of sms) {
      const fresh = allocate(sites, PROFILES.get(isa)!);
      expect(sm.sites).toEqual(fresh.sites);
      expect(sm.functions).toEqual(fresh.functions);
    }
    expect(checkStackmaps(c.wasm, `${name}.wasm`).problems, "popcorn check").toEqual([]);
  });

  it("round-trips every captured stack through both ISAs and resumes from the lifted frames", async () => {
    const c = await compileExample(name, { runtime: runtime ?? "stub" });
    const plain = run(c.plain, { args });
    const sites = decodeSites(customSection(c.wasm, SITES_SECTION)!, `${name}.wasm`);
    const sms = loadStackmaps(c.wasm, sites, `${name}.wasm`);
    const [x, a] = [sms.get("x86-64")!, sms.get("aarch64")!];
    const [X, A] = [PROFILES.get("x86-64")!, PROFILES.get("aarch64")!];
    let frames = 0;
    const r = runWithCaptures(c.wasm, args, GAPS, (captured, t) => {
      frames += captured.length;
      const onX = lower(captured, t, x, X);
      expect(lift(onX, t, x, X)).toEqual(captured);
      const onA = rewrite(onX, x, a, X, A).image;
      const liftedA = lift(onA, t, a, A);
      expect(liftedA).toEqual(captured);
      const back = rewrite(onA, a, x, A, X).image;
      expect(Buffer.from(back.stack).equals(Buffer.from(onX.stack))).toBe(true);
      expect(Buffer.from(back.regs).equals(Buffer.from(onX.regs))).toBe(true);
      return liftedA;
    });
    expect(r.output).toEqual(plain.output);
    expect(r.status).toBe(plain.status);
    expect(r.captures).toBeGreaterThan(0);
    expect(frames).toBeGreaterThanOrEqual(r.captures);
  });
});
