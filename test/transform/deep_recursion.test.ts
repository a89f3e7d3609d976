// Deep recursion: a 10,000-frame stack of one recursive function (fib's
// `deep`, reduced to its shape: an i32 and an i64 live at the recursive
// call) round-trips through both ISAs, every frame linked to the next.
import { describe, expect, it } from "vitest";
import { lift, lower, type PortableFrame, rewrite } from "../../host/transform/index.js";
import { PAIRS, siteTable, stackmaps } from "./tables.js";

const table = siteTable([
  { name: "deep", sites: [{ kind: "entry", values: [["i32", "d"]] }, { values: [["i32", "d"], ["i64", "acc"]] }] },
  { name: "main", sites: [{ values: [["i32", "depth"]] }] },
]);
const sms = stackmaps(table);
const DEPTH = 10_000;

function stack(depth: number): PortableFrame[] {
  const frames: PortableFrame[] = [{ site: 0, values: [0] }];
  for (let d = 1; d < depth - 1; d++) frames.push({ site: 1, values: [d, BigInt(d) * 0x1_0000_0001n - 2n ** 62n] });
  frames.push({ site: 2, values: [depth] });
  return frames;
}

describe.each(PAIRS)("deep recursion $from → $to", ({ A, B }) => {
  it(`round-trips ${DEPTH} frames`, () => {
    const frames = stack(DEPTH);
    const [a, b] = [sms.get(A.name)!, sms.get(B.name)!];
    const x = lower(frames, table, a, A);
    const frameSize = (isa: typeof a, site: number) => isa.functions[isa.sites[site]!.func]!.frameSize;
    expect(x.stack.length).toBe(frameSize(a, 0) + (DEPTH - 2) * frameSize(a, 1) + frameSize(a, 2));
    const t0 = performance.now();
    const y = rewrite(x, a, b, A, B).image;
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(500); // the goal is 20 ms; this only catches a pathology
    expect(lift(y, table, b, B)).toEqual(frames);
    expect(Buffer.from(rewrite(y, b, a, B, A).image.stack).equals(Buffer.from(x.stack))).toBe(true);
  });

  it("grows its buffers past any earlier stack: a short stack, then a longer one, then a short one", () => {
    const [a, b] = [sms.get(A.name)!, sms.get(B.name)!];
    for (const depth of [3, 2 * DEPTH, 2]) {
      const frames = stack(depth);
      expect(lift(rewrite(lower(frames, table, a, A), a, b, A, B).image, table, b, B)).toEqual(frames);
    }
  });
});
