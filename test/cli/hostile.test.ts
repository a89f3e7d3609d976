// What a careless or hostile user does to compile, run, resume and viz:
// every mistake is refused with one line that names the file (exit status 2),
// never an internal error, a stack trace, or a file silently destroyed.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeImage, encodeImage, loadProgram, Process } from "../../host/kernel/index.js";
import { example, fromWat, popcornIn } from "../helpers.js";
import { fibTrace } from "./trace-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-hostile-"));
const popcorn = popcornIn(dir, 120_000);

/** A module from WebAssembly text, as another toolchain would write it. */
function wat(file: string, text: string): string {
  const m = binaryen.parseText(text);
  m.setFeatures(binaryen.Features.All);
  writeFileSync(join(dir, file), m.emitBinary());
  m.dispose();
  return file;
}

/** One line on stderr, no stack, no "internal error". */
function expectOneLine(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|\n\s+at /);
  expect(stderr.trim().split("\n")).toHaveLength(1);
}

describe("a program's main", () => {
  const mains: [string, string][] = [
    ["i64", `(func (export "main") (result i64) (i64.const 7))`],
    ["f64", `(func (export "main") (result f64) (f64.const 2.5))`],
    ["two results", `(func (export "main") (result i32 i32) (i32.const 1) (i32.const 2))`],
    ["parameters", `(func (export "main") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))`],
  ];
  for (const [what, func] of mains) {
    it(`returning or taking the wrong thing (${what}) is refused with its expected signature, exit 2`, () => {
      const f = wat(`main-${what.replace(/ /g, "-")}.wasm`, `(module (memory (export "memory") 1) ${func})`);
      const r = popcorn("run", f);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain(`${f}: main`);
      expect(r.stderr).toContain("export function main(): i32");
    });
  }

  it("that returns nothing exits 0", () => {
    const f = wat("main-void.wasm", `(module (memory (export "memory") 1) (func (export "main")))`);
    expect(popcorn("run", f).code).toBe(0);
  });
});

describe("popcorn compile of what is not a .ts source or a .wasm", () => {
  beforeAll(() => {
    copyFileSync(example("hello"), join(dir, "hello.TS"));
    copyFileSync(example("hello"), join(dir, "hello"));
  });

  for (const name of ["hello.TS", "hello"]) {
    it(`${name}: says AssemblyScript source is named *.ts, not that ${name}.ts is missing`, () => {
      const r = popcorn("compile", name, "-o", "x.wasm");
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).not.toMatch(/not found/);
      expect(r.stderr).toContain(`popcorn: ${name}: `);
      expect(r.stderr).toContain("rename it to hello.ts");
    });
  }

  it("a module named without .wasm is read as a module", () => {
    const f = wat("plainmodule", `(module (memory (export "memory") 1) (func (export "main") (result i32) (i32.const 7)))`);
    const r = popcorn("compile", f, "-o", "plainmodule.out.wasm");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(popcorn("run", "plainmodule.out.wasm").code).toBe(7);
  });
});

describe("popcorn compile of a module from another toolchain", () => {
  it("names the file once in a link error", () => {
    const f = wat("nomem.wasm", `(module (func (export "main") (result i32) (i32.const 1)))`);
    const r = popcorn("compile", f);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr.split("nomem.wasm").length - 1).toBe(1);
  });

  it("that uses a feature popcorn does not target is refused in one line naming the feature, not as an internal error", () => {
    const f = wat(
      "multivalue.wasm",
      `(module (memory (export "memory") 1)
         (func $pair (result i32 i32) (i32.const 1) (i32.const 2))
         (func (export "main") (result i32) (call $pair) (drop)))`,
    );
    const r = popcorn("compile", f, "-o", "mv.out.wasm");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toMatch(/multivalue\.wasm: .*multi-?value/i);
  });
});

describe("popcorn compile never overwrites its input", () => {
  it("-o naming the source", () => {
    copyFileSync(example("hello"), join(dir, "keep.ts"));
    const before = readFileSync(join(dir, "keep.ts"), "utf8");
    const r = popcorn("compile", "keep.ts", "-o", "./keep.ts");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain("keep.ts");
    expect(readFileSync(join(dir, "keep.ts"), "utf8")).toBe(before);
  });

  it("--plain naming the source", () => {
    copyFileSync(example("hello"), join(dir, "keep2.ts"));
    const before = readFileSync(join(dir, "keep2.ts"), "utf8");
    const r = popcorn("compile", "keep2.ts", "-o", "k2.wasm", "--plain", "keep2.ts");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(readFileSync(join(dir, "keep2.ts"), "utf8")).toBe(before);
  });

  it("--plain naming the same file as -o", () => {
    copyFileSync(example("hello"), join(dir, "keep3.ts"));
    const r = popcorn("compile", "keep3.ts", "-o", "k3.wasm", "--plain", "./k3.wasm");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain("k3.wasm");
  });
});

describe("popcorn viz never overwrites its input", () => {
  it("-o naming the trace", async () => {
    const text = JSON.stringify((await fibTrace()).trace);
    writeFileSync(join(dir, "t.json"), text);
    const r = popcorn("viz", "t.json", "-o", "./t.json");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(readFileSync(join(dir, "t.json"), "utf8")).toBe(text);
  });
});

describe("popcorn compile of a program without an entry point", () => {
  const sources: [string, string][] = [
    ["empty.ts", ""],
    ["nomain.ts", "export function helper(): i32 { return 1; }\n"],
  ];
  for (const [file, text] of sources) {
    it(`${file}: refused at compile time with what to add, exit 2, nothing written`, () => {
      writeFileSync(join(dir, file), text);
      const out = file.replace(".ts", ".wasm");
      const r = popcorn("compile", file, "-o", out);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain(`popcorn: ${file}: `);
      expect(r.stderr).toContain("export function main(): i32");
      expect(existsSync(join(dir, out))).toBe(false);
    });
  }

  it("a module from another toolchain without main is refused the same way", () => {
    const f = wat("nomain.wasm", `(module (memory (export "memory") 1) (func (export "start") (result i32) (i32.const 1)))`);
    const r = popcorn("compile", f, "-o", "nomain.out.wasm");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain("nomain.wasm: ");
    expect(r.stderr).toContain("export function main(): i32");
  });
});

describe("popcorn compile of empty flag values", () => {
  beforeAll(() => copyFileSync(example("hello"), join(dir, "flags.ts")));

  for (const points of ["", ",", " , "]) {
    it(`--points "${points}" is refused with the kinds there are, exit 2`, () => {
      const r = popcorn("compile", "flags.ts", "-o", "flags.wasm", "--points", points);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain("--points");
      expect(r.stderr).toContain("entry,loops,explicit");
    });
  }

  for (const flag of ["-o", "--out", "--plain"]) {
    it(`${flag} "" is refused naming the flag, exit 2`, () => {
      const r = popcorn("compile", "flags.ts", ...(flag === "--plain" ? ["-o", "flags.wasm"] : []), flag, "");
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain(`${flag === "--out" ? "-o" : flag}`);
      expect(r.stderr).toMatch(/empty/);
    });
  }
});

describe("popcorn resume of an image whose frames do not chain", () => {
  beforeAll(() => {
    copyFileSync(example("fib"), join(dir, "chain.ts"));
    expect(popcorn("compile", "chain.ts", "-o", "chain.wasm").code).toBe(0);
    expect(popcorn("run", "chain.wasm", "--stop-at", "40", "--save", "chain.img", "--", "11", "50").code).toBe(0);
  });

  const edits: [string, (frames: { site: number }[]) => unknown[]][] = [
    ["only the outermost frame", (f) => f.slice(-1)],
    ["no innermost frame", (f) => f.slice(1)],
    ["the frames reversed", (f) => [...f].reverse()],
  ];
  for (const [what, edit] of edits) {
    it(`${what}: refused naming the image, exit 2, not a trap of the program`, () => {
      const img = decodeImage(readFileSync(join(dir, "chain.img")));
      img.threads[0]!.frames = edit(img.threads[0]!.frames) as typeof img.threads[0]["frames"];
      const file = `chain-${what.replace(/ /g, "-")}.img`;
      writeFileSync(join(dir, file), encodeImage(img));
      const r = popcorn("resume", "chain.wasm", file);
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain(`popcorn: ${file}: `);
      expect(r.stderr).toContain("does not fit chain.wasm");
    });
  }

  it("without main's frame: refused naming the function its outermost frame is in, exit 2", () => {
    const img = decodeImage(readFileSync(join(dir, "chain.img")));
    img.threads[0]!.frames = img.threads[0]!.frames.slice(0, -1);
    writeFileSync(join(dir, "chain-no-main.img"), encodeImage(img));
    const r = popcorn("resume", "chain.wasm", "chain-no-main.img");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toMatch(/^popcorn: chain-no-main\.img: image does not fit chain\.wasm: its outermost frame is in \S+\/fib, not in main — /);
    expect(r.stdout).toBe("");
  });

  it("an innermost frame with no values at a point of another function: refused as the image's, exit 2, not a failure of the program", () => {
    // main calls leaf (a point, no live values), then work (a point where n is live)
    const { wasm, sites } = fromWat(`(module
      (import "popcorn" "check_migrate" (func $check))
      (memory 1)
      (export "memory" (memory 0))
      (func $leaf (call $check))
      (func $work (param $n i32) (result i32) (call $check) (i32.add (local.get $n) (i32.const 1)))
      (func $main (export "main") (result i32) (call $leaf) (call $work (i32.const 41))))`);
    writeFileSync(join(dir, "callees.wasm"), wasm);
    const leafPoints = sites.filter((s) => s.func === "leaf" && s.kind !== "call");
    // stopped at the first point in work: every point before it counted down
    const stopAt = (at: number) => {
      const p = new Process(loadProgram(wasm, "callees.wasm"), { args: [], kernel: { id: 0, isa: "x86-64", count: 1 }, stdout: () => {}, stderr: () => {}, nextCapture: () => at });
      p.boot();
      expect(p.run(() => "stop")).toBeUndefined();
      return p.image();
    };
    let at = 1;
    while (sites[stopAt(at).threads[0]!.frames[0]!.site]!.func !== "work") at++;
    const img = stopAt(at);
    img.threads[0]!.frames[0] = { site: leafPoints[0]!.id, values: [] };
    writeFileSync(join(dir, "callees.img"), encodeImage(img));
    const r = popcorn("resume", "callees.wasm", "callees.img");
    expect(r.code, r.stderr).toBe(2);
    expectOneLine(r.stderr);
    // (main's site names the function it calls: refused before the guest runs)
    expect(r.stderr).toMatch(/^popcorn: callees\.img: image does not fit callees\.wasm: its frame 1 \(innermost 0\) is at call site \d+ in main, which calls work, but the frame inside it is in leaf — /);
  });
});

describe("arguments in the wrong place", () => {
  beforeAll(() => {
    copyFileSync(example("fib"), join(dir, "order.ts"));
    expect(popcorn("compile", "order.ts", "-o", "order.wasm").code).toBe(0);
    expect(popcorn("run", "order.wasm", "--stop-at", "40", "--save", "order.img", "--", "11", "50").code).toBe(0);
  });

  it("resume <image> <program>, swapped: says the program goes first", () => {
    const r = popcorn("resume", "order.img", "order.wasm");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain("order.img: a process image, not a program");
    expect(r.stderr).toContain("popcorn resume <program.wasm> order.img");
    expect(r.stderr).not.toMatch(/not a WebAssembly module/);
  });

  it("run <image>: the same", () => {
    const r = popcorn("run", "order.img");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("order.img: a process image, not a program");
  });

  it("compile of a file that is neither .ts nor a module (README.md) says what compile takes, not to rename it", () => {
    writeFileSync(join(dir, "README.md"), "# not a program\n");
    const r = popcorn("compile", "README.md");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).not.toMatch(/rename/);
    expect(r.stderr).toMatch(/README\.md: .*AssemblyScript source \(\*\.ts\) or a WebAssembly module/);
  });

  it("kill or migrate of a cluster's pid without --cluster hints at --cluster", () => {
    for (const args of [["kill", "-35", "100002"], ["migrate", "100002.1", "--to", "1"]]) {
      const r = popcorn(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(/no popcorn (process|thread) 100002/);
      expect(r.stderr).toContain("--cluster <address>");
    }
    expect(popcorn("kill", "-35", "4242").stderr, "a pid of a local run").not.toContain("--cluster");
  });
});

describe("the count example's arguments", () => {
  beforeAll(() => {
    expect(popcorn("compile", example("count"), "-o", "count.wasm").code).toBe(0);
  });

  for (const args of [["abc"], ["-5"], ["1e3"], ["99999999999999999999"], ["0", "10"], ["2", "x"], ["1", "2", "3"]]) {
    it(`refuses ${args.join(" ")} with what it takes, exit 1 — never counts a wrapped or zero load`, () => {
      const r = popcorn("run", "count.wasm", "--", ...args);
      expect(r.code, r.stdout).toBe(1);
      expect(r.stdout).toBe("");
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(/count: .*usage: count \[load\] \| count <threads> <load>/);
    });
  }

  it("counts a load it takes to the result it always printed", () => {
    expect(popcorn("run", "count.wasm", "--", "3000").stdout).toBe("count(3000) = 4479003\n");
    expect(popcorn("run", "count.wasm", "--", "2", "3000").stdout).toBe("count(2x3000) = 8961278\n");
  });
});
