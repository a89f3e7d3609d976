// The popcorn command, as a user runs it: compile, run, checkpoint to a
// file and resume in a fresh Node process, and the error paths.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { popcornIn, example } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-cli-"));
const popcorn = popcornIn(dir, 120_000);

describe("popcorn compile / run / resume", () => {
  const fib = join(dir, "fib.wasm");
  const plain = join(dir, "fib.plain.wasm");

  it("compiles an example and prints a summary", () => {
    const r = popcorn("compile", example("fib"), "-o", fib, "--plain", plain);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/functions instrumented: \d+ \/ \d+/);
    expect(r.stdout).toMatch(/sites: \d+ entry, \d+ loop, \d+ call, \d+ explicit/);
  });

  it("runs it, with and without checkpoints, to the same output and status", () => {
    const a = popcorn("run", fib, "--", "15", "200");
    const b = popcorn("run", fib, "--checkpoint-every", "50", "--", "15", "200");
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout).toContain("fib(15) = 610");
    expect(b.stdout).toBe(a.stdout);
  });

  it("saves an image and resumes it in a fresh Node process", () => {
    const image = join(dir, "fib.img");
    const stop = popcorn("run", fib, "--stop-at", "300", "--save", image, "--", "15", "200");
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stderr).toMatch(/image saved/);
    const resumed = popcorn("resume", fib, image);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(stop.stdout + resumed.stdout).toBe(popcorn("run", fib, "--", "15", "200").stdout);
  });

  it("compiles a program that imports an npm package from any folder: packages are found from the program's own", () => {
    const r = popcorn("compile", example("npmpkg"), "-o", join(dir, "npmpkg.wasm")); // this test's folder is a temporary one
    expect(r.code, r.stderr).toBe(0);
    expect(popcorn("run", join(dir, "npmpkg.wasm")).stdout).toMatch(/all round trips ok/);
  });

  it("instruments an already compiled asc module", () => {
    const r = popcorn("compile", plain, "-o", join(dir, "again.wasm"));
    expect(r.code, r.stderr).toBe(0);
    expect(popcorn("run", join(dir, "again.wasm"), "--checkpoint-every", "7", "--", "10").stdout).toContain("fib(10) = 55");
  });
});

describe("popcorn error paths", () => {
  it("names the file and line of a syntax error and exits 2", () => {
    const bad = join(dir, "bad.ts");
    writeFileSync(bad, "export function main(): i32 { return 0 +; }\n");
    const r = popcorn("compile", bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("bad.ts");
    expect(r.stderr).toMatch(/AssemblyScript compilation failed/);
  });

  it("names an unreadable file", () => {
    const r = popcorn("compile", join(dir, "nope.ts"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.ts: cannot read \(ENOENT\)/);
  });

  it("refuses a file that is not WebAssembly", () => {
    const junk = join(dir, "junk.wasm");
    writeFileSync(junk, "hello");
    expect(popcorn("compile", junk).stderr).toMatch(/junk\.wasm: not a WebAssembly module/);
    expect(popcorn("run", junk).code).toBe(2);
  });

  it("refuses to instrument twice", () => {
    const twice = popcorn("compile", join(dir, "fib.wasm"), "-o", join(dir, "x.wasm"));
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/already instrumented/);
  });

  it("refuses a corrupted image and does not run it", () => {
    const image = join(dir, "c.img");
    popcorn("run", join(dir, "fib.wasm"), "--stop-at", "100", "--save", image, "--", "12", "10");
    const bytes = readFileSync(image);
    bytes[bytes.length - 3]! ^= 1;
    writeFileSync(image, bytes);
    const r = popcorn("resume", join(dir, "fib.wasm"), image);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/checksum mismatch/);
    expect(r.stdout).toBe("");
  });

  it("rejects bad flags with a usage message", () => {
    expect(popcorn("run", "x.wasm", "--checkpoint-every", "0").code).toBe(2);
    expect(popcorn("compile", example("fib"), "--points", "everywhere").stderr).toMatch(/unknown kind "everywhere"/);
    const reps = popcorn("bench", "overhead", "--reps", "0");
    expect(reps.code).toBe(2);
    expect(reps.stderr).toMatch(/--reps must be an integer ≥ 1/);
  });

  it("reports a trap with its function and exits 1", () => {
    const trap = join(dir, "trap.ts");
    writeFileSync(trap, "function boom(n: i32): i32 { if (n > 2) unreachable(); return boom(n + 1); }\nexport function main(): i32 { return boom(0); }\n");
    const r = popcorn("run", trap);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/trap: unreachable in \S*(boom|main)/); // boom may be inlined into main
  });
});

describe("bad input a user gives: one line naming it, the right status, never a stack or a crash", () => {
  const fib = join(dir, "fib2.wasm");
  const oneLine = (r: { stderr: string }) => {
    const lines = r.stderr.trim().split("\n");
    expect(lines.length, r.stderr).toBeLessThanOrEqual(2); // the error, and at most a hint to --help
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  };

  it("numbers beyond what popcorn can count or run", () => {
    expect(popcorn("compile", example("fib"), "-o", fib).code).toBe(0);
    for (const args of [
      ["run", fib, "--stop-at", "4294967296", "--save", join(dir, "x.img")],
      ["run", fib, "--checkpoint-every", "1e99"],
      ["run", fib, "--kernels", "x86-64,aarch64", "--migrate-at", "2,4294967296"],
      ["run", fib, "--kernels", "x86-64,aarch64", "--migrate-every", "3000000s"],
      ["run", fib, "--kernels", "x86-64,aarch64", "--cores", "100000"],
      ["compile", example("fib"), "-O", "4"],
      ["ping", "--count", "1e99"],
    ]) {
      const r = popcorn(...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      oneLine(r);
    }
  });

  it("--json gives a script its JSON also when the program fails, or stops to save an image", () => {
    const trap = join(dir, "trap2.ts");
    writeFileSync(trap, "export function main(): i32 { unreachable(); return 0; }\n");
    const r = popcorn("run", trap, "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 1, error: expect.stringMatching(/trap: unreachable/), output: [] });
    const image = join(dir, "j.img");
    const s = popcorn("run", fib, "--json", "--stop-at", "50", "--save", image, "--", "10", "10");
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ status: 0, stoppedAt: 50, image });
  });

  it("--key-file without --cluster", () => {
    const r = popcorn("ps", "--key-file", join(dir, "cluster.key"));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--key-file goes with --cluster/);
    oneLine(r);
  });

  it("resuming an image of a program whose threads need a kernel says what to do instead", () => {
    const count = join(dir, "count.wasm");
    expect(popcorn("compile", example("count"), "-o", count).code).toBe(0);
    const image = join(dir, "count.img");
    expect(popcorn("run", count, "--stop-at", "10", "--save", image, "--", "2", "1000").code).toBe(0);
    const r = popcorn("resume", count, image);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/threads need a kernel, and this run has none .* run it with `popcorn run` alone, or with --kernels/);
    oneLine(r);
  });

  it("a signal popcorn does not know", () => {
    const r = popcorn("kill", "-s", "99", "4242");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/signal 99/);
    oneLine(r);
  });

  it("a path that cannot be written, a truncated module", () => {
    const out = popcorn("compile", example("fib"), "-o", dir);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/EISDIR/);
    oneLine(out);
    const cut = join(dir, "cut.wasm");
    writeFileSync(cut, readFileSync(fib).subarray(0, 100));
    const r = popcorn("stackmap", cut);
    expect(r.code).toBe(2);
    oneLine(r);
  });

  it("a program that recurses too deep, or aborts, exits 1 with one line — as it does on kernels", () => {
    const deep = popcorn("run", fib, "--", "10", "100000000");
    expect(deep.code, deep.stderr).toBe(1);
    expect(deep.stderr).toMatch(/call stack/);
    oneLine(deep);
    const abort = join(dir, "abort.ts");
    writeFileSync(abort, 'export function main(): i32 { throw new Error("bad thing"); }\n');
    for (const args of [["run", abort], ["run", abort, "--kernels", "x86-64,aarch64"]]) {
      const r = popcorn(...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/abort: bad thing/);
      expect(r.stderr, "the program named once").not.toMatch(/abort\.ts: abort\.ts:|abort\.wasm: abort\.wasm:/);
      oneLine(r);
    }
  });
});

describe("npm start (popcorn demo)", () => {
  it("runs hello on an x86-64 and an aarch64 kernel and shows dmesg and the first migration's stack transformation", () => {
    const r = popcorn("demo");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Hello from kernel 0 \(x86-64\)\nHello from kernel 1 \(aarch64\)\nHello from kernel 0 \(x86-64\)/);
    expect(r.stdout).toMatch(/kernel 1 \(aarch64\): pid \d+ migrated in from kernel 0 \(x86-64\)/);
    expect(r.stdout).toMatch(/What the first migration did to the stack \(x86-64 → aarch64/);
    expect(r.stdout).toMatch(/ \$\d+ i32 = 0x[0-9a-f]{8}: (rbx|r1[2-5]|\[rbp-\d+\]) → (x(19|2[0-8])|\[x29\+\d+\])/);
    expect(readFileSync(join(dir, "build/hello.wasm")).length).toBeGreaterThan(1000);
  });
});
