// No live values: frames that carry nothing but their frame record — the
// transformation still rebuilds return addresses and the frame-pointer chain.
import { describe, expect, it } from "vitest";
import { lift, lower, rewrite } from "../../host/transform/index.js";
import { ISAS, PAIRS, siteTable, stackmaps } from "./tables.js";

const table = siteTable([
  { name: "leaf", sites: [{ kind: "entry", values: [] }, { kind: "loop", values: [] }] },
  { name: "main", sites: [{ kind: "entry", values: [] }, { values: [] }] },
]);
const sms = stackmaps(table);

describe("no live values", () => {
  it.each(ISAS.map((p) => ({ isa: p.name, p })))("frames of $isa are frame records only, 16 bytes each", ({ p }) => {
    const sm = sms.get(p.name)!;
    expect(sm.functions.map((f) => [f.frameSize, f.savedRegs.length])).toEqual([[16, 0], [16, 0]]);
    const frames = [{ site: 1, values: [] }, { site: 0, values: [] }, { site: 3, values: [] }];
    const img = lower(frames, table, sm, p);
    expect(img.stack.length).toBe(48);
    expect(img.pc).toBe(sm.sites[1]!.returnAddress);
    expect(lift(img, table, sm, p)).toEqual(frames);
  });

  it("a lone main frame at its entry point", () => {
    for (const p of ISAS) {
      const sm = sms.get(p.name)!;
      const img = lower([{ site: 2, values: [] }], table, sm, p);
      expect(img.sp).toBe(p.stackTop - 16);
      expect(lift(img, table, sm, p)).toEqual([{ site: 2, values: [] }]);
    }
  });

  it.each(PAIRS)("rewrite $from → $to moves no values and keeps every frame", ({ A, B }) => {
    const frames = [{ site: 0, values: [] }, { site: 1, values: [] }, { site: 3, values: [] }];
    const x = lower(frames, table, sms.get(A.name)!, A);
    const { image, trace } = rewrite(x, sms.get(A.name)!, sms.get(B.name)!, A, B, { trace: true });
    expect(lift(image, table, sms.get(B.name)!, B)).toEqual(frames);
    expect(trace!.counts).toMatchObject({ frames: 3, values: 0, valueBytes: 0 });
    expect(trace!.frames.map((f) => f.to.returnAddress)).toEqual(frames.map((f) => sms.get(B.name)!.sites[f.site]!.returnAddress));
  });
});
