// Process images: a bad image is refused with a named reason, never run.
import { describe, expect, it } from "vitest";
import { Process, decodeImage, encodeImage, ImageError, loadProgram, type ProcessImage } from "../../host/kernel/index.js";
import { compileExample, run } from "../helpers.js";

async function imageOf(name: string, args: string[], at: number): Promise<{ wasm: Uint8Array; image: ProcessImage }> {
  const c = await compileExample(name, { runtime: "stub" });
  const p = new Process(loadProgram(c.wasm, name), {
    args,
    kernel: { id: 0, isa: "x86-64", count: 1 },
    stdout: () => {},
    stderr: () => {},
    nextCapture: () => at,
  });
  p.boot();
  expect(p.run(() => "stop")).toBeUndefined();
  return { wasm: c.wasm, image: p.image() };
}

describe("process images", () => {
  it("round-trip through bytes and resume to the plain result", async () => {
    const { wasm, image } = await imageOf("fib", ["11", "50"], 40);
    const back = decodeImage(encodeImage(image));
    const out = run(wasm, { image: back });
    const c = await compileExample("fib", { runtime: "stub" });
    expect(out.output).toEqual(run(c.plain, { args: ["11", "50"] }).output);
  });

  it("keep only pages that are not all zero", async () => {
    const { image } = await imageOf("count", ["500"], 5);
    expect(image.memory.pages.length).toBeLessThan(image.memory.wasmPages * 16);
    expect(image.memory.pages.every(([, d]) => d.some((b) => b !== 0))).toBe(true);
  });

  it("refuses an image of another module", async () => {
    const { image } = await imageOf("fib", ["11", "50"], 40);
    const other = await compileExample("quicksort", { runtime: "stub" });
    expect(() => run(other.wasm, { image })).toThrow(/image is of module .* restore it with the program it was taken from/);
  });

  it("refuses a truncated image", async () => {
    const bytes = encodeImage((await imageOf("fib", ["11", "50"], 40)).image);
    for (const n of [0, 10, 44, bytes.length - 1]) expect(() => decodeImage(bytes.subarray(0, n))).toThrow(ImageError);
  });

  it("refuses a corrupted image", async () => {
    const bytes = encodeImage((await imageOf("fib", ["11", "50"], 40)).image);
    const bad = bytes.slice();
    bad[bad.length - 7]! ^= 0x40;
    expect(() => decodeImage(bad)).toThrow(/checksum mismatch/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(() => decodeImage(badMagic)).toThrow(/not a popcorn process image/);
  });

  it("refuses frames that do not fit the program's sites", async () => {
    const { wasm, image } = await imageOf("fib", ["11", "50"], 40);
    const wrong = structuredClone(image);
    wrong.threads[0]!.frames[0]!.values.push(1);
    expect(() => run(wasm, { image: wrong })).toThrow(/has \d+ values, the site has/);
    const missing = structuredClone(image);
    missing.threads[0]!.frames[0]!.site = 99999;
    expect(() => run(wasm, { image: missing })).toThrow(/names site 99999/);
  });
});

describe("process images keep -0.0", () => {
  it("in globals and in frame values", () => {
    const img: ProcessImage = {
      moduleHash: new Uint8Array(32),
      args: [],
      memory: { wasmPages: 1, pages: [] },
      globals: [["g", -0], ["h", 0]],
      threads: [{ frames: [{ site: 0, values: [-0, 1.5, 0n] }] }],
    };
    const back = decodeImage(encodeImage(img));
    expect(Object.is(back.globals[0]![1], -0)).toBe(true);
    expect(Object.is(back.globals[1]![1], 0)).toBe(true);
    expect(Object.is(back.threads[0]!.frames[0]!.values[0], -0)).toBe(true);
  });
});
