// The files popcorn writes: every output path (compile's -o and --plain,
// run's --trace and --save, viz's -o) is checked before any work is done —
// a path that cannot be written is one line, exit 2, and nothing runs, so a
// program's output and status are never lost to a typo at the end — and a
// missing folder on the way to it is created, the same way for every one.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compileExample, example, popcornIn } from "../helpers.js";
import { fibTrace } from "./trace-fixture.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-outputs-"));
const popcorn = popcornIn(dir, 120_000);

beforeAll(async () => {
  writeFileSync(join(dir, "fib.wasm"), (await compileExample("fib")).wasm);
  writeFileSync(join(dir, "a-file"), "not a folder\n");
  writeFileSync(join(dir, "t.json"), JSON.stringify((await fibTrace()).trace));
});

/** One line naming the flag and the path, exit 2, and the program never ran. */
function refused(r: { code: number | null; stdout: string; stderr: string }, flag: string, path: string): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout, "nothing ran").toBe("");
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toContain(`${flag} ${path}: cannot write`);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe("an output path that cannot be written is refused before the run", () => {
  const under = join("a-file", "w.json"); // a path through a regular file: no one can write it, root included

  it("run --kernels --trace", () => {
    refused(popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-at", "3", "--trace", under, "--", "12", "3"), "--trace", under);
  });

  it("run --trace naming a folder", () => {
    refused(popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--trace", ".", "--", "12", "3"), "--trace", ".");
  });

  it("run --stop-at --save", () => {
    refused(popcorn("run", "fib.wasm", "--stop-at", "10", "--save", under, "--", "12", "3"), "--save", under);
  });

  it("run --save naming the program itself", () => {
    copyFileSync(join(dir, "fib.wasm"), join(dir, "own.wasm"));
    const r = popcorn("run", "own.wasm", "--stop-at", "10", "--save", "own.wasm", "--", "12", "3");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--save own\.wasm: would overwrite the program, own\.wasm/);
    expect(readFileSync(join(dir, "own.wasm")).equals(readFileSync(join(dir, "fib.wasm"))), "the program is intact").toBe(true);
  });

  it("compile -o and --plain, and viz -o", () => {
    refused(popcorn("compile", "fib.wasm", "-o", under), "-o", under);
    refused(popcorn("compile", "fib.wasm", "-o", "ok.wasm", "--plain", under), "--plain", under);
    expect(existsSync(join(dir, "ok.wasm")), "nothing written").toBe(false);
    refused(popcorn("viz", "t.json", "-o", under), "-o", under);
  });
});

describe("a missing folder on the way to an output is created, for every output", () => {
  it("compile -o, run --trace, run --save, viz -o", () => {
    const c = popcorn("compile", example("hello"), "-o", join("new1", "deep", "hello.wasm"), "--plain", join("new1", "plain", "hello.wasm"));
    expect(c.code, c.stderr).toBe(0);
    expect(existsSync(join(dir, "new1", "deep", "hello.wasm")) && existsSync(join(dir, "new1", "plain", "hello.wasm"))).toBe(true);
    const t = popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-at", "3", "--trace", join("new2", "fib.trace.json"), "--", "12", "3");
    expect(t.code, t.stderr).toBe(0);
    expect(existsSync(join(dir, "new2", "fib.trace.json"))).toBe(true);
    const s = popcorn("run", "fib.wasm", "--stop-at", "10", "--save", join("new3", "fib.img"), "--", "12", "3");
    expect(s.code, s.stderr).toBe(0);
    expect(existsSync(join(dir, "new3", "fib.img"))).toBe(true);
    const v = popcorn("viz", join("new2", "fib.trace.json"), "-o", join("new4", "fib.html"));
    expect(v.code, v.stderr).toBe(0);
    expect(existsSync(join(dir, "new4", "fib.html"))).toBe(true);
  });
});
