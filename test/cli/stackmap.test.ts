// popcorn stackmap shows where each value lives on each ISA; popcorn check
// names the first inconsistency of stackmaps corrupted on purpose.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeStackmap, encodeStackmap, type Stackmap, stackmapSection } from "../../host/toolchain/index.js";
import { checkStackmaps, customSectionsWithPrefix } from "../../host/isa/index.js";
import { compileExample, popcornIn, withSection } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-stackmap-"));
const popcorn = popcornIn(dir, 120_000);

let wasm: Uint8Array;
let arm: Stackmap;
const corrupt = (edit: (sm: Stackmap) => void) => {
  const sm = decodeStackmap(customSectionsWithPrefix(wasm, "popcorn.stackmap.aarch64").get("popcorn.stackmap.aarch64")!);
  edit(sm);
  return withSection(wasm, stackmapSection("aarch64"), encodeStackmap(sm));
};

beforeAll(async () => {
  wasm = (await compileExample("fib")).wasm;
  writeFileSync(join(dir, "fib.wasm"), wasm);
  arm = decodeStackmap(customSectionsWithPrefix(wasm, "popcorn.stackmap.aarch64").get("popcorn.stackmap.aarch64")!);
});

describe("popcorn stackmap", () => {
  it("lines the ISAs up side by side: frame, saved registers, return addresses, each value's location", () => {
    const r = popcorn("stackmap", "fib.wasm", "--function", "fib");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/function fib {2}\(fib\/fib\)/);
    expect(r.stdout).toMatch(/^ +x86-64 +aarch64$/m);
    expect(r.stdout).toMatch(/saves +rbx \[rbp-8\].* +x19 \[x29\+16\]/);
    expect(r.stdout).toMatch(/site \d+ call fib +ret 0x[0-9a-f]+ +ret 0x[0-9a-f]+/); // a direct call's site names what it calls
    expect(r.stdout).toMatch(/\$0 i32 +ebx +w19$/m); // an i32: the 32-bit view of the register
  });

  it("names aarch64's FP callee-saved registers d8.. in saves, as in value locations (AAPCS64 saves their low 64 bits)", async () => {
    writeFileSync(join(dir, "matmul.wasm"), (await compileExample("matmul")).wasm);
    const r = popcorn("stackmap", "matmul.wasm", "--function", "main", "--isa", "aarch64");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/saves +.*\bd8 \[x29\+\d+\]/);
    expect(r.stdout).not.toMatch(/\bv\d+ \[x29/);
    const j = JSON.parse(popcorn("stackmap", "matmul.wasm", "--function", "main", "--isa", "aarch64", "--json").stdout);
    expect(j.functions[0].isas.aarch64.saves.map((x: { register: string }) => x.register)).toContain("d8");
  });

  it("gives JSON with every value's location on every ISA, and one ISA or one site on request", () => {
    const all = JSON.parse(popcorn("stackmap", "fib.wasm", "--json").stdout);
    const withValues = all.functions.flatMap((f: { sites: { id: number; values: unknown[] }[] }) => f.sites).find((s: { values: unknown[] }) => s.values.length > 0);
    const r = popcorn("stackmap", "fib.wasm", "--site", String(withValues.id), "--isa", "aarch64", "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.isas.map((i: { name: string }) => i.name)).toEqual(["aarch64"]);
    expect(j.functions).toHaveLength(1);
    const site = j.functions[0].sites[0];
    expect(site.id).toBe(withValues.id);
    const loc = site.values[0].locations.aarch64;
    expect(loc.text).toMatch(loc.kind === "register" ? (loc.size === 4 ? /^w\d+$/ : /^x\d+$/) : /^\[x29\+\d+\]$/);
    const fib = all.functions.find((f: { name: string }) => f.name === "fib/fib");
    expect(fib.sites.filter((s: { kind: string }) => s.kind === "call").map((s: { callee?: string }) => s.callee)).toEqual(["fib/fib", "fib/fib"]);
  });

  it("--site of another function than --function names the function the site is in", () => {
    const fib = arm.functions.findIndex((f) => f.name.endsWith("/fib"));
    const other = arm.sites.find((s) => s.func !== fib)!;
    const r = popcorn("stackmap", "fib.wasm", "--function", "fib", "--site", String(other.id));
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr.trim()).toBe(
      `popcorn: fib.wasm: site ${other.id} is in function ${arm.functions[other.func]!.name}, not fib — leave out --function, or give --function ${arm.functions[other.func]!.name.replace(/.*\//, "")}`,
    );
  });

  it("names what it cannot show", () => {
    expect(popcorn("stackmap", "fib.wasm", "--function", "nope").stderr).toMatch(/no instrumented function nope/);
    expect(popcorn("stackmap", "fib.wasm", "--isa", "riscv").stderr).toMatch(/unknown ISA "riscv" — known ISAs: x86-64, aarch64/);
    expect(popcorn("stackmap", "fib.wasm", "--site", "100000").code).toBe(2);
  });
});

describe("popcorn check", () => {
  it("passes a program fresh from popcorn compile", () => {
    const r = popcorn("check", "fib.wasm");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stackmaps consistent — \d+ sites, \d+ live values, \d+ functions on x86-64, aarch64/);
  });

  const site = () => arm.sites.findIndex((s) => s.values.length > 0 && s.values[0]!.kind === "register");
  const cases: [string, (sm: Stackmap) => void, RegExp][] = [
    ["a site with a value missing", (sm) => void sm.sites[site()]!.values.pop(), /site \d+ has \d+ live values on aarch64 but \d+ in popcorn.sites/],
    ["a frame size that breaks 16-byte alignment", (sm) => void (sm.functions[0]!.frameSize += 8), /aarch64: function .* has a frame of \d+ bytes, not a multiple of 16/],
    ["a value in a caller-saved register", (sm) => void (sm.sites[site()]!.values[0] = { kind: "register", dwarf: 0, size: 4 }), /aarch64: site \d+ .* in [wx]0: not a callee-saved register for a i32/],
    ["a stack slot outside the frame", (sm) => void (sm.sites[site()]!.values[0] = { kind: "stack", offset: 4096, size: 4 }), /aarch64: site \d+ .* \[x29\+4096\]: outside the \d+-byte frame/],
    ["two sites with one return address", (sm) => {
      const i = sm.sites.findIndex((x, k) => sm.sites[k + 1]?.func === x.func);
      sm.sites[i + 1]!.returnAddress = sm.sites[i]!.returnAddress;
    }, /popcorn.stackmap.aarch64 section is malformed \(sites \d+ and \d+ share return address 0x[0-9a-f]+\)/],
    ["a value of the wrong size", (sm) => void (sm.sites[site()]!.values[0]!.size = 8), /value .* \(i32\) is 8 bytes on aarch64/],
    // a value written over the frame record, a save slot or another value: rewrite would move one in place of the other
    ["a stack slot over the return address", (sm) => void (sm.sites[site()]!.values[0] = { kind: "stack", offset: 8, size: 4 }),
      /aarch64: site \d+ \(.*\): value \$\w+ \(i32\) at \[x29\+8\] \(4 bytes\) overlaps the return address at \[x29\+8\] \(8 bytes\)/],
    ["a stack slot over a save slot", (sm) => void (sm.sites[site()]!.values[0] = { kind: "stack", offset: 16, size: 4 }),
      /aarch64: site \d+ \(.*\): value \$\w+ \(i32\) at \[x29\+16\] \(4 bytes\) overlaps the save slot of x19 at \[x29\+16\] \(8 bytes\)/],
    ["two values in one register", (sm) => {
      const values = sm.sites.find((s) => s.values.filter((v) => v.kind === "register").length >= 2)!.values;
      const [i, j] = values.flatMap((v, k) => (v.kind === "register" ? [k] : []));
      values[j!] = { ...values[i!]! };
    }, /aarch64: site \d+ \(.*\): value \$\w+ \(i32\) and value \$\w+ \(i32\) are both in [wx]\d+/],
  ];
  it.each(cases)("names %s", (_what, edit, expected) => {
    const bad = corrupt(edit);
    const report = checkStackmaps(bad, "bad.wasm");
    expect(report.problems[0]).toMatch(expected);
    writeFileSync(join(dir, "bad.wasm"), bad);
    const r = popcorn("check", "bad.wasm");
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toMatch(expected);
  });

  it("names a return address outside its function in hex, as every address", () => {
    const bad = corrupt((sm) => void (sm.sites[0]!.returnAddress = 0x500000));
    writeFileSync(join(dir, "farret.wasm"), bad);
    const r = popcorn("check", "farret.wasm");
    expect(r.stderr).toMatch(/site 0 return address 0x500000 is outside its function/);
  });

  it("names a stackmap of another build with both hashes, as far as they differ", () => {
    writeFileSync(join(dir, "otherhash.wasm"), corrupt((sm) => {
      sm.moduleHash = Uint8Array.from(sm.moduleHash);
      sm.moduleHash[31]! ^= 1; // the last byte: the hashes agree on all but their last hex digits
    }));
    const r = popcorn("stackmap", "otherhash.wasm");
    expect(r.code).toBe(2);
    const m = /popcorn\.stackmap\.aarch64 is for module ([0-9a-f]+)…?, popcorn\.sites for ([0-9a-f]+)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(m![1], "the two hashes as shown differ").not.toBe(m![2]);
  });

  it("names the ISA of a section that cannot be decoded at all", () => {
    writeFileSync(join(dir, "garbage.wasm"), withSection(wasm, stackmapSection("aarch64"), Uint8Array.of(0xc1, 0xc1)));
    const r = popcorn("stackmap", "garbage.wasm");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/garbage\.wasm: popcorn\.stackmap\.aarch64 section is malformed/);
  });

  it("names a missing ISA section", () => {
    const report = checkStackmaps(withSection(wasm, stackmapSection("x86-64")), "bad.wasm");
    expect(report.problems).toEqual(["bad.wasm: no popcorn.stackmap.x86-64 section — recompile with `popcorn compile`"]);
  });
});

describe("function names", () => {
  it("of generics: the short name splits at the last / outside <...>, and --function takes either name", async () => {
    writeFileSync(join(dir, "strings.wasm"), (await compileExample("strings", { runtime: "incremental" })).wasm);
    const r = popcorn("stackmap", "strings.wasm");
    expect(r.code, r.stderr).toBe(0);
    const heads = [...r.stdout.matchAll(/^function (\S+) {2}\((\S+)\)$/gm)].map((m) => [m[1]!, m[2]!]);
    expect(heads).toContainEqual(["Array<~lib/string/String>#sort", "~lib/array/Array<~lib/string/String>#sort"]);
    expect(heads).toContainEqual(["HASH<~lib/string/String>", "~lib/util/hash/HASH<~lib/string/String>"]);
    expect(heads).toContainEqual(["main", "strings/main"]);
    expect(new Set(heads.map((h) => h[0])).size, "no two functions share a short name").toBe(heads.length);
    for (const name of ["HASH<~lib/string/String>", "~lib/util/hash/HASH<~lib/string/String>"]) {
      const one = popcorn("stackmap", "strings.wasm", "--function", name);
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout.match(/^function /gm)).toHaveLength(1);
    }
  });

  it("are the program's own (file/function), the same whichever folder popcorn is run from", () => {
    const src = join(dir, "names");
    mkdirSync(join(src, "sub"), { recursive: true });
    writeFileSync(join(src, "walk.ts"), `export function main(): i32 { let s = 0; for (let i = 0; i < 3; i++) s += i; return s - 3; }\n`);
    const fromHere = popcornIn(src, 120_000)("compile", "walk.ts", "-o", join(src, "a.wasm"));
    const fromBelow = popcornIn(join(src, "sub"), 120_000)("compile", "../walk.ts", "-o", join(src, "b.wasm"));
    expect([fromHere.code, fromBelow.code], fromHere.stderr + fromBelow.stderr).toEqual([0, 0]);
    expect(readFileSync(join(src, "a.wasm")).equals(readFileSync(join(src, "b.wasm"))), "the same module").toBe(true);
    expect(popcorn("stackmap", join(src, "a.wasm")).stdout).toMatch(/function main {2}\(walk\/main\)/);
  });
});

// A stackmap whose frame holds two things in the same bytes would have the
// transformation move one in place of the other. The copy plan refuses it,
// but only at the program's first migration, when its thread is already
// stopped mid-run. Before, `popcorn run --kernels` started such a program and
// it ran (to its end when it never migrated); now loading it refuses it, with
// the plan's message and the file's name, before anything runs.
describe("popcorn run of a program whose stackmap has overlapping slots", () => {
  it("refuses it at load, before it runs: exit 2, one line naming the file and the overlap", () => {
    const site = arm.sites.findIndex((s) => s.values.length > 0 && s.values[0]!.kind === "register");
    writeFileSync(join(dir, "overlap.wasm"), corrupt((sm) => void (sm.sites[site]!.values[0] = { kind: "stack", offset: 8, size: 4 })));
    const r = popcorn("run", "--kernels", "x86-64,aarch64", "overlap.wasm", "5", "3");
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(
      new RegExp(`^popcorn: overlap\\.wasm: aarch64 stackmap: site ${site} \\(.*\\): value 0 at \\[x29\\+8\\] \\(4 bytes\\) overlaps the return address at \\[x29\\+8\\] \\(8 bytes\\) — recompile with \`popcorn compile\`$`),
    );
  });
});
