// Process images: a bad image is refused with a named reason, never run.
import { createHash } from "node:crypto";
import { encode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { Process, ProcessError, decodeImage, encodeImage, ImageError, loadProgram, type ProcessImage } from "../../host/kernel/index.js";
import { compileExample, fromWat, run } from "../helpers.js";

/** What resuming `wasm` from image bytes read as "bad.img" throws (undefined if it runs). */
function resumeError(wasm: Uint8Array, bytes: Uint8Array): unknown {
  try {
    run(wasm, { image: decodeImage(bytes, "bad.img") });
  } catch (e) {
    return e;
  }
  return undefined;
}

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

/** An image whose payload is `payload` as it is, with a valid header and checksum: what a bug or another tool could write. */
function imageBytes(payload: unknown): Uint8Array {
  const body = encode(payload, { useBigInt64: true });
  const out = new Uint8Array(44 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x4d494350, true);
  view.setUint32(4, 1, true);
  view.setUint32(8, body.length, true);
  out.set(createHash("sha256").update(body).digest(), 12);
  out.set(body, 44);
  return out;
}

describe("process images of the wrong shape, with a valid checksum", () => {
  /** the payload of a real image of fib, as encodeImage lays it out */
  async function payload(): Promise<{ wasm: Uint8Array; p: [Uint8Array, string[], [number, [number, Uint8Array][]], [string, number | bigint][], [number, unknown[]][][]] }> {
    const { wasm, image: i } = await imageOf("fib", ["11", "50"], 40);
    return { wasm, p: [i.moduleHash, i.args, [i.memory.wasmPages, i.memory.pages], i.globals, i.threads.map((t) => t.frames.map((f) => [f.site, f.values]))] };
  }
  type Payload = Awaited<ReturnType<typeof payload>>["p"];
  const edits: [string, (p: Payload) => unknown][] = [
    ["a payload that is not a list", () => 5],
    ["arguments that are not strings", (p) => ((p[1] = [1, 2] as never), p)],
    ["a memory that is not a list", (p) => ((p[2] = 7 as never), p)],
    ["pages that are not a list", (p) => ((p[2][1] = 3 as never), p)],
    ["a page that is not [index, bytes]", (p) => ((p[2][1][0] = 3 as never), p)],
    ["a negative page index", (p) => ((p[2][1][0]![0] = -1), p)],
    ["a page index that is not an integer", (p) => ((p[2][1][0]![0] = 0.5), p)],
    ["more wasm pages than the memory may have", (p) => ((p[2][0] = 1e6), p)],
    ["a page count that is not a number", (p) => ((p[2][0] = "5" as never), p)],
    ["globals that are not a list", (p) => ((p[3] = 1 as never), p)],
    ["a global that is not [name, value]", (p) => ((p[3][0] = 1 as never), p)],
    ["a global value of the wrong type", (p) => ((p[3][0]![1] = typeof p[3][0]![1] === "bigint" ? 1.5 : 2n ** 40n), p)],
    ["a global value that is a string", (p) => ((p[3][0]![1] = "s" as never), p)],
    ["threads that are not a list", (p) => ((p[4] = 1 as never), p)],
    ["a frame that is not [site, values]", (p) => ((p[4][0]![0] = 1 as never), p)],
    ["a site that is not a number", (p) => ((p[4][0]![0]![0] = "0" as never), p)],
    ["frame values that are not a list", (p) => ((p[4][0]![0]![1] = 3 as never), p)],
    ["frame values that are strings", (p) => (p[4][0]!.forEach((f) => (f[1] = f[1].map(() => "x"))), p)],
    ["frame values of the wrong type", (p) => (p[4][0]!.forEach((f) => (f[1] = f[1].map((v) => (typeof v === "bigint" ? 1 : 5n)))), p)],
    ["frame values that are null", (p) => (p[4][0]!.forEach((f) => (f[1] = f[1].map(() => null))), p)],
  ];
  for (const [what, edit] of edits) {
    it(`refuses ${what} with an ImageError naming the file`, async () => {
      const { wasm, p } = await payload();
      const bytes = imageBytes(edit(p));
      const err = resumeError(wasm, bytes);
      expect(err).toBeInstanceOf(ImageError);
      expect((err as Error).message).toMatch(/^bad\.img: /);
    });
  }
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

describe("process images whose frames do not chain", () => {
  // a frame that called another stops at a call site; the innermost stops at a point
  const edits: [string, (f: ProcessImage["threads"][0]["frames"]) => ProcessImage["threads"][0]["frames"]][] = [
    ["only the outermost frame (a call with no callee's frame)", (f) => f.slice(-1)],
    ["no innermost frame", (f) => f.slice(1)],
    ["the frames reversed", (f) => [...f].reverse()],
    ["the innermost frame twice", (f) => [f[0]!, ...f]],
  ];
  for (const [what, edit] of edits) {
    it(`refuses ${what} with an ImageError naming the file, before the guest runs`, async () => {
      const { wasm, image } = await imageOf("fib", ["11", "50"], 40);
      const bad = structuredClone(image);
      bad.threads[0]!.frames = edit(bad.threads[0]!.frames);
      const err = resumeError(wasm, encodeImage(bad));
      expect(err).toBeInstanceOf(ImageError);
      expect((err as Error).message).toMatch(/^bad\.img: image does not fit test: /);
    });
  }

  it("refuses a frame inside a direct call's site that is not in the function the site calls, before the guest runs", async () => {
    const { wasm, image } = await imageOf("fib", ["11", "50"], 40);
    const sites = loadProgram(wasm, "test").sites!.sites;
    // deep's entry point under fib's calls: each frame fits its site, but fib's call does not call deep
    const deep = sites.find((s) => s.kind === "entry" && s.func.endsWith("/deep"))!;
    const bad = structuredClone(image);
    bad.threads[0]!.frames = [{ site: deep.id, values: deep.values.map(() => 1) }, ...bad.threads[0]!.frames.slice(1)];
    expect(bad.threads[0]!.frames.length).toBeGreaterThan(2);
    const err = resumeError(wasm, encodeImage(bad));
    expect(err).toBeInstanceOf(ImageError);
    expect((err as Error).message).toMatch(
      /^bad\.img: image does not fit test: its frame 1 \(innermost 0\) is at call site \d+ in fib\/fib, which calls fib\/fib, but the frame inside it is in fib\/deep — /,
    );
  });
});

/** main calls leaf (a point, no live values) and work (a point where n is live), then runs `tail`. */
const twoCallees = (tail = "") => `(module
  (import "popcorn" "check_migrate" (func $check))
  (memory 1)
  (export "memory" (memory 0))
  (func $leaf (call $check))
  (func $work (param $n i32) (result i32) (call $check) (i32.add (local.get $n) (i32.const 1)))
  (func $main (export "main") (result i32) (local $r i32)
    (call $leaf)
    (local.set $r (call $work (i32.const 41)))
    ${tail}
    (local.get $r)))`;

/** An image of `wasm` stopped at the first point whose innermost frame is in `func`. */
function imageIn(wasm: Uint8Array, func: string): ProcessImage {
  const program = loadProgram(wasm, "test");
  for (let at = 1; at < 20; at++) {
    const p = new Process(program, { args: [], kernel: { id: 0, isa: "x86-64", count: 1 }, stdout: () => {}, stderr: () => {}, nextCapture: () => at });
    p.boot();
    if (p.run(() => "stop") !== undefined) break;
    const image = p.image();
    if (program.sites!.sites[image.threads[0]!.frames[0]!.site]!.func === func) return image;
  }
  throw new Error(`no point in ${func}`);
}

/** twoCallees with main's call of work indirect, through a table that also holds other (of work's type). */
const indirectCallee = () =>
  twoCallees()
    .replace('(memory 1)', '(memory 1) (type $t (func (param i32) (result i32))) (table 2 funcref) (elem (i32.const 0) $work $other)')
    .replace('(func $main', '(func $other (param $n i32) (result i32) (call $check) (i32.sub (local.get $n) (i32.const 1)))\n  (func $main')
    .replace('(call $work (i32.const 41))', '(call_indirect (type $t) (i32.const 41) (i32.const 0))');

describe("the rewind of an image ends at the point it stopped at", () => {
  it("an innermost frame with no values at a site of another function is the image's fault, not the program's", () => {
    // an indirect call's site does not say which function it calls: the rewind finds the misfit
    const { wasm, sites } = fromWat(indirectCallee());
    const image = imageIn(wasm, "work");
    // leaf's point: no live values, so nothing is left to hand back once work takes it — work's rewind fails after that
    const leaf = sites.find((s) => s.func === "leaf" && s.kind !== "call" && !s.values.length)!;
    const bad = structuredClone(image);
    bad.threads[0]!.frames[0] = { site: leaf.id, values: [] };
    const err = resumeError(wasm, encodeImage(bad));
    expect(err).toBeInstanceOf(ImageError);
    expect((err as Error).message).toMatch(/^bad\.img: image does not fit test: its frames do not chain/);
  });

  it("a failure of the program after the rewind is the program's, from an image and at every checkpoint", () => {
    const { wasm } = fromWat(twoCallees("(if (i32.eq (local.get $r) (i32.const 42)) (then unreachable))"));
    const err = resumeError(wasm, encodeImage(imageIn(wasm, "work")));
    expect(err).toBeInstanceOf(ProcessError);
    expect((err as Error).message).toMatch(/trap: unreachable/);
    expect(() => run(wasm, { checkpointEvery: 1 })).toThrow(ProcessError);
    expect(() => run(wasm, { checkpointEvery: 1 })).toThrow(/trap: unreachable/);
  });
});

describe("the outermost frame of an image", () => {
  it("in another function than main is refused before the guest runs, naming it", () => {
    const { wasm } = fromWat(twoCallees());
    const bad = imageIn(wasm, "work");
    bad.threads[0]!.frames = bad.threads[0]!.frames.slice(0, -1); // without main's frame
    const err = resumeError(wasm, encodeImage(bad));
    expect(err).toBeInstanceOf(ImageError);
    expect((err as Error).message).toMatch(/^bad\.img: image does not fit test: its outermost frame is in work, not in main — /);
  });

  it("of fib without main's frame is refused the same way", async () => {
    const { wasm, image } = await imageOf("fib", ["11", "50"], 40);
    const bad = structuredClone(image);
    bad.threads[0]!.frames = bad.threads[0]!.frames.slice(0, -1);
    const err = resumeError(wasm, encodeImage(bad));
    expect(err).toBeInstanceOf(ImageError);
    expect((err as Error).message).toMatch(/^bad\.img: image does not fit test: its outermost frame is in fib\/fib, not in main — /);
  });
});
