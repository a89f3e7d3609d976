// The popcorn.sites section (version 2): each function's frame, and each
// value's slot in it; and how the host maps a site's live values to the frame
// its function's code saves and restores.
import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { FrameLayout } from "../../host/kernel/frame-layout.js";
import { ImageError } from "../../host/kernel/index.js";
import { decodeSites, encodeSites, SitesFormatError, SITES_VERSION, type SiteTable } from "../../host/toolchain/index.js";

const table = (): SiteTable => ({
  version: SITES_VERSION,
  moduleHash: new Uint8Array(32).fill(7),
  functions: [
    { name: "f", firstSite: 0, siteCount: 2, frame: ["i32", "i64", "v128", "f64"] },
    { name: "g", firstSite: 2, siteCount: 1, frame: [] },
  ],
  sites: [
    { id: 0, kind: "entry", func: "f", values: [{ type: "i32", name: "n", slot: 0 }] },
    {
      id: 1,
      kind: "call",
      func: "f",
      values: [
        { type: "v128", name: "$3", slot: 2 },
        { type: "f64", name: "x", slot: 3 },
      ],
      callee: "g",
    },
    { id: 2, kind: "loop", func: "g", values: [] },
  ],
});

describe("popcorn.sites", () => {
  it("round-trips frames and slots", () => {
    expect(decodeSites(encodeSites(table()))).toEqual(table());
  });

  it("reads a call site without a callee (an indirect call's, and a section written before callees)", () => {
    const t = table();
    delete t.sites[1]!.callee;
    expect(decodeSites(encodeSites(t)).sites[1]).not.toHaveProperty("callee");
  });

  it("refuses a callee that is no function, or on a site that is not a call", () => {
    const raw = () => [SITES_VERSION, new Uint8Array(32), [["f", 0, 2, ["i32"]]], [[0, 0, 0, [["i32", "n", 0]]], [1, 2, 0, [], 0]]] as unknown[][];
    expect(decodeSites(encode(raw()), "x.wasm").sites[1]!.callee).toBe("f");
    const edits: ((r: unknown[][]) => void)[] = [
      (r) => ((r[3] as unknown[][])[1]![4] = 7), // no function 7
      (r) => ((r[3] as unknown[][])[1]![4] = "f"), // a name, not an index
      (r) => (r[3] as unknown[][])[0]!.push(0), // an entry point's
      (r) => (r[3] as unknown[][])[1]!.push(0), // a sixth element
    ];
    for (const edit of edits) {
      const r = raw();
      edit(r);
      expect(() => decodeSites(encode(r), "x.wasm")).toThrow(/^x\.wasm: popcorn\.sites section is malformed \(site \d has a bad callee\)/);
    }
  });

  it("refuses a value whose slot is not of its type in its function's frame, by site and function", () => {
    const t = table();
    t.sites[1]!.values[1]!.slot = 1; // an f64 in the i64 slot
    expect(() => decodeSites(encodeSites(t), "x.wasm")).toThrow(SitesFormatError);
    expect(() => decodeSites(encodeSites(t), "x.wasm")).toThrow(/x\.wasm: popcorn\.sites section is malformed \(site 1: value x has no f64 slot 1 in the frame of f\)/);
  });

  it("refuses a negative slot and two values in one slot", () => {
    const neg = table();
    neg.sites[0]!.values[0]!.slot = -2;
    expect(() => decodeSites(encodeSites(neg), "x.wasm")).toThrow(/site 0: value n has no i32 slot -2 in the frame of f/);
    const twice = table();
    twice.sites[1]!.values = [
      { type: "f64", name: "x", slot: 3 },
      { type: "f64", name: "y", slot: 3 },
    ];
    expect(() => decodeSites(encodeSites(twice), "x.wasm")).toThrow(/site 1 has two values in one slot of the frame of f/);
  });

  it("refuses records of the wrong shape with a SitesFormatError naming the file, not a TypeError", () => {
    const raw = () => [SITES_VERSION, new Uint8Array(32), [["f", 0, 1, ["i32"]]], [[0, 0, 0, [["i32", "n", 0]]]]] as unknown[][];
    const edits: ((r: unknown[][]) => void)[] = [
      (r) => ((r[3] as unknown[][])[0]![3] = [5]), // a value that is not [type, name, slot]
      (r) => ((r[3] as unknown[][])[0]![3] = [["i33", "n", -1]]), // a value of no Wasm type
      (r) => ((r[3] as unknown[][])[0]![3] = [[null, 7, -1]]), // nor a name
      (r) => ((r[2] as unknown[][])[0]![1] = "zero"), // a function's first site that is not a number
      (r) => ((r[2] as unknown[][])[0]![2] = 0), // a function whose range leaves out its site
      (r) => ((r[2] as unknown[][])[0]![1] = 1), // or starts past it
    ];
    for (const edit of edits) {
      const r = raw();
      expect(() => decodeSites(encode(r), "x.wasm")).not.toThrow();
      edit(r);
      expect(() => decodeSites(encode(r), "x.wasm")).toThrow(SitesFormatError);
      expect(() => decodeSites(encode(r), "x.wasm")).toThrow(/^x\.wasm: popcorn\.sites section is malformed/);
    }
  });

  it("refuses a section of version 1 with the way out", () => {
    const v1 = encode([1, new Uint8Array(32), [["f", 0, 1]], [[0, 0, 0, [["i32", "n"]]]]]);
    expect(() => decodeSites(v1, "old.wasm")).toThrow(/old\.wasm: popcorn\.sites version 1, this popcorn reads version 2 — recompile with this popcorn/);
  });
});

describe("FrameLayout", () => {
  const layout = FrameLayout.of(decodeSites(encodeSites(table())));

  it("keeps a site's live values of the whole frame a save passes (a v128 as two lanes)", () => {
    expect(layout.live(0, [5, 9n, 1n, 2n, 0.5])).toEqual([5]);
    expect(layout.live(1, [5, 9n, 1n, 2n, 0.5])).toEqual([[1n, 2n], 0.5]);
    expect(layout.live(2, [])).toEqual([]);
  });

  it("restores the whole frame: live values in their slots, zero of its type in the others", () => {
    expect(layout.whole(0, [5])).toEqual([5, 0n, 0n, 0n, 0]);
    expect(layout.whole(1, [[1n, 2n], -0.5])).toEqual([0, 0n, 1n, 2n, -0.5]);
  });

  it("names a frame that does not fit its site", () => {
    expect(() => layout.whole(1, [0.5])).toThrow(ImageError);
    expect(() => layout.whole(1, [0.5])).toThrow(/the frame of site 1 has 1 values, its site 2/);
    expect(() => layout.live(9, [])).toThrow(/frame of site 9: the program has sites 0\.\.2/);
  });
});
