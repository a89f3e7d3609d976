// A user's walkthrough with files that are not what a command takes, and flags
// that cannot do what they say: each refused in one line that names the file or
// the flag and the fix (exit status 2), never a line that leaves out the file,
// a misleading reason, or a run that quietly does not do what was asked.
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { example, popcornIn } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-bad-files-"));
const popcorn = popcornIn(dir, 60_000);

function expectOneLine(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|\n\s+at /);
  expect(stderr.trim().split("\n")).toHaveLength(1);
}

beforeAll(() => {
  copyFileSync(example("fib"), join(dir, "fib.ts"));
  expect(popcorn("compile", "fib.ts", "-o", "fib.wasm").code).toBe(0);
  // a module whose header is right and whose first section runs past the end of the file
  writeFileSync(join(dir, "broken.wasm"), Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x7f, 0x00]));
  // the popcorn program cut short (a download that stopped, a disk that filled up)
  writeFileSync(join(dir, "cut.wasm"), readFileSync(join(dir, "fib.wasm")).subarray(0, 2000));
});

describe("a .wasm that is not a valid module", () => {
  for (const file of ["broken.wasm", "cut.wasm"]) {
    for (const command of ["compile", "check", "stackmap"]) {
      it(`${command} ${file}: one line naming the file, exit 2`, () => {
        const r = popcorn(command, file, ...(command === "compile" ? ["-o", "out.wasm"] : []));
        expect(r.code).toBe(2);
        expectOneLine(r.stderr);
        expect(r.stderr).toMatch(new RegExp(`^popcorn: ${file.replace(".", "\\.")}: invalid WebAssembly module \\(`));
      });
    }
  }
});

describe("resume of a file that is not a process image", () => {
  it("a short text file is said to be no image, not a truncated one", () => {
    writeFileSync(join(dir, "notes.img"), "not an image\n");
    const r = popcorn("resume", "fib.wasm", "notes.img");
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain("notes.img: not a popcorn process image");
  });

  it("an image cut short is still said to be truncated", () => {
    expect(popcorn("run", "fib.wasm", "--stop-at", "30", "--save", "fib.img", "--", "10", "5").code).toBe(0);
    writeFileSync(join(dir, "short.img"), readFileSync(join(dir, "fib.img")).subarray(0, 20));
    const r = popcorn("resume", "fib.wasm", "short.img");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("short.img: truncated");
  });
});

describe("--migrate-at and --migrate-every with one kernel", () => {
  for (const flag of [["--migrate-at", "5"], ["--migrate-every", "1ms"]]) {
    it(`${flag[0]} with --kernels x86-64 is refused: there is no other kernel to move to`, () => {
      const r = popcorn("run", "fib.wasm", "--kernels", "x86-64", ...flag, "--", "10", "5");
      expect(r.code).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toContain(flag[0]);
      expect(r.stderr).toContain("--kernels x86-64,aarch64");
      expect(r.stdout).toBe("");
    });
  }
});

describe("run --json's status is the status popcorn exits with", () => {
  beforeAll(() => {
    writeFileSync(
      join(dir, "status.ts"),
      `import { args } from "popcorn";\nexport function main(): i32 { return I32.parseInt(args()[0]); }\n`,
    );
    expect(popcorn("compile", "status.ts", "-o", "status.wasm").code).toBe(0);
  });
  for (const [returned, exits] of [[256, 0], [-1, 255], [300, 44]] as const) {
    for (const mode of [[], ["--kernels", "x86-64,aarch64"]]) {
      it(`main returning ${returned}${mode.length ? ", on kernels" : ""}: exits ${exits}, and the JSON says ${exits}`, () => {
        expect(popcorn("run", "status.wasm", ...mode, "--", String(returned)).code).toBe(exits);
        const r = popcorn("run", "status.wasm", ...mode, "--json", "--", String(returned));
        expect(r.code).toBe(exits);
        expect(JSON.parse(r.stdout).status).toBe(exits);
      });
    }
  }
});
