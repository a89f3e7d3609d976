// Frames of functions reached through call_indirect: the real indirect
// example (a function-reference array and a register machine whose opcode
// handlers are dispatched through a table), captured at many points, each
// stack rewritten to the other ISA and lifted — and the program resumed
// from the lifted frames still prints what the plain run prints.
import { describe, expect, it } from "vitest";
import { loadStackmaps } from "../../host/isa/index.js";
import { customSection, decodeSites, SITES_SECTION } from "../../host/toolchain/index.js";
import { lift, lower, type PortableFrame, rewrite } from "../../host/transform/index.js";
import { compileExample, run } from "../helpers.js";
import { PAIRS, runWithCaptures } from "./tables.js";

const ARGS = ["60", "8"];
// a capture every few points, all the way through (about 180 points at these ARGS)
const GAPS = Array.from({ length: 100 }, (_, i) => [1, 2, 3, 5][i % 4]!);

describe("indirect call frames", () => {
  it.each(PAIRS)("round-trip $from → $to at every capture, and the program resumes from the lifted frames", async ({ A, B }) => {
    const c = await compileExample("indirect", { runtime: "stub" });
    const plain = run(c.plain, { args: ARGS });
    const sites = decodeSites(customSection(c.wasm, SITES_SECTION)!, "indirect.wasm");
    const sms = loadStackmaps(c.wasm, sites, "indirect.wasm");
    const [a, b] = [sms.get(A.name)!, sms.get(B.name)!];
    const stacks: string[][] = [];
    const r = runWithCaptures(c.wasm, ARGS, GAPS, (frames: PortableFrame[], t) => {
      stacks.push(frames.map((f) => t.sites[f.site]!.func));
      const { image, trace } = rewrite(lower(frames, t, a, A), a, b, A, B, { trace: true, sites: t });
      expect(trace!.frames.map((f) => f.function)).toEqual(stacks[stacks.length - 1]);
      const lifted = lift(image, t, b, B);
      expect(lifted).toEqual(frames);
      return lifted;
    });
    expect(r.output).toEqual(plain.output);
    expect(r.status).toBe(plain.status);
    expect(r.captures).toBeGreaterThanOrEqual(8);
    // some captures stopped in mix under the APPLY handler: two call_indirects deep
    const viaTable = stacks.filter((s) => /indirect\/mix/.test(s[0]!) && /indirect\/hApply/.test(s[1]!));
    expect(viaTable.length).toBeGreaterThan(0);
    expect(stacks.every((s) => s[s.length - 1] === "indirect/main")).toBe(true);
  });
});
