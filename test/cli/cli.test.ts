// The popcorn command, as a user runs it: compile, run, checkpoint to a
// file and resume in a fresh Node process, and the error paths.

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { popcornIn, example, fromWat, ROOT } from "../helpers.js";
import { encodeImage, loadProgram, Process } from "../../host/kernel/index.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-cli-"));
const popcorn = popcornIn(dir, 120_000);

const oneLine = (r: { stderr: string }) => {
  const lines = r.stderr.trim().split("\n");
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2); // the error, and at most a hint to --help
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
};

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
    // --dmesg lines read as a kernel's do on --kernels: this run is kernel 0, x86-64
    const d = popcorn("run", fib, "--checkpoint-every", "50", "--dmesg", "--", "15", "200");
    expect(d.stderr).toMatch(/^\[ +\d+\.\d{6}\] kernel 0 \(x86-64\): checkpoint: \d+ frames/m);
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

  it("runs a program that writes with AssemblyScript's console (log, info, debug to stdout; warn, error, a failed assert to stderr) and reads Date.now — in order, across a migration", () => {
    const src = join(dir, "console.ts");
    writeFileSync(
      src,
      [
        'import { migrate, kernelCount } from "popcorn";',
        "export function main(): i32 {",
        '  console.log("log " + (6 * 7).toString()); console.info("info"); console.debug("debug");',
        '  console.warn("warn"); migrate(kernelCount() - 1); console.error("error"); console.log();',
        // (conditions the compiler cannot fold: asc 0.28 passes console.assert(1 + 1 == 2, …) a false)
        '  const n = kernelCount(); console.assert(n > 0, "holds"); console.assert(n > 9, "fails");',
        '  console.log((Date.now() > 1_700_000_000_000).toString());',
        "  return 0;",
        "}",
      ].join("\n"),
    );
    const want = { stdout: "log 42\ninfo\ndebug\n\ntrue\n", stderr: "warn\nerror\nAssertion failed: fails\n" };
    for (const args of [[], ["--kernels", "x86-64,aarch64"]]) {
      const r = popcorn("run", src, ...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect({ stdout: r.stdout, stderr: r.stderr }, args.join(" ")).toEqual(want);
    }
    const timer = join(dir, "timer.ts");
    writeFileSync(timer, 'export function main(): i32 { console.time("t"); console.timeEnd("t"); return 0; }\n');
    const r = popcorn("run", timer);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/imports env\.console\.time\w*, which popcorn does not provide \(popcorn provides console\.log, info, debug, warn, error and assert, and Date\.now\)/);
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

/**
 * An image of count (2 threads) taken at its 10th point, before its first
 * spawn, through the API: `run --stop-at` refuses a program that uses
 * threads, an older popcorn or the API did not.
 */
function countImage(count: string, name: string): string {
  const image = join(dir, name);
  const p = new Process(loadProgram(readFileSync(count), "count.wasm"), {
    args: ["2", "1000"],
    kernel: { id: 0, isa: "x86-64", count: 1 },
    stdout: () => {},
    stderr: () => {},
    nextCapture: () => 10,
  });
  p.boot();
  expect(p.run(() => "stop"), "stopped at point 10, before the first spawn").toBeUndefined();
  writeFileSync(image, encodeImage(p.image()));
  return image;
}

describe("popcorn error paths", () => {
  it("an abort in the standard library names the program's function that called it, and exits 1", () => {
    const oob = join(dir, "oob.ts");
    writeFileSync(oob, "export function main(): i32 {\n  const a = new Array<i32>(3);\n  let s = 0;\n  for (let i = 0; i < 5; i++) s += a[i];\n  return s;\n}\n");
    const r = popcorn("run", oob);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^popcorn: .*oob\.ts: abort: Index out of range at ~lib\/array\.ts:\d+:\d+ in oob\/main$/);
  });

  it("an abort without a message or a place says so, not null:0:0", () => {
    const cases: [string, string, RegExp][] = [
      ["noargs", "abort();", /^popcorn: .*noargs\.ts: abort in noargs\/main$/],
      ["assertfalse", "assert(false);", /^popcorn: .*assertfalse\.ts: abort at assertfalse\.ts:\d+:\d+ in assertfalse\/main$/],
      ["msgonly", 'abort("just this");', /^popcorn: .*msgonly\.ts: abort: just this in msgonly\/main$/],
    ];
    for (const [name, call, expected] of cases) {
      const src = join(dir, `${name}.ts`);
      writeFileSync(src, `export function main(): i32 {\n  ${call}\n  return 0;\n}\n`);
      const r = popcorn("run", src);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim()).toMatch(expected);
    }
  });

  it("one kernel recurses as deep as a kernel's core: the plain run is the reference a kernel run is compared with", () => {
    // one kernel ran the guest on Node's main thread (~1 MB of stack), cores have 4 MB: 15,000 frames at -O0 trapped
    // ("call stack exhausted") on one kernel only
    const src = join(dir, "rec.ts");
    writeFileSync(src, [
      'import { args } from "popcorn";',
      "function down(n: i32): i32 { if (n == 0) return 0; return down(n - 1) + 1; }",
      "export function main(): i32 { console.log(down(I32.parseInt(args()[0])).toString()); return 0; }",
    ].join("\n"));
    const wasm = join(dir, "rec.wasm");
    expect(popcorn("compile", src, "-o", wasm, "-O0").code).toBe(0);
    for (const args of [["run", wasm], ["run", wasm, "--checkpoint-every", "5000"], ["run", wasm, "--kernels", "x86-64,aarch64"]]) {
      const r = popcorn(...args, "--", "15000");
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe("15000\n");
    }
  });

  it("a recursion deeper than the shadow stack says stack overflow and how to get more room, not 'abort:  at :1:1'", () => {
    // asc's shadow-stack check aborts with strings it never stored (asc 0.28): popcorn printed them as empty
    const src = join(dir, "deepbox.ts");
    writeFileSync(src, [
      "class Box { v: i32; constructor(v: i32) { this.v = v; } }",
      "function down(n: i32): i32 { const b = new Box(n); if (n == 0) return 0; return down(n - 1) + (b.v & 1); }",
      "export function main(): i32 { console.log(down(3000).toString()); return 0; }",
    ].join("\n"));
    const small = join(dir, "deepbox-small.wasm");
    expect(popcorn("compile", src, "-o", small, "--", "--stackSize", "1024").code).toBe(0);
    for (const args of [["run", small], ["run", small, "--kernels", "x86-64,aarch64"]]) {
      const r = popcorn(...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^popcorn: .*deepbox-small\.wasm: stack overflow: the program's shadow stack .* -- --stackSize <bytes> .* in deepbox\/down/);
      oneLine(r);
    }
    // ... and the room it names is what a bigger one takes
    const big = join(dir, "deepbox-big.wasm");
    expect(popcorn("compile", src, "-o", big, "--", "--stackSize=262144").code).toBe(0);
    const r = popcorn("run", big);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("1500\n");
  });

  it("asc options after -- go to asc for a .ts; a typo, a .wasm or an option popcorn sets is refused in one line", () => {
    const src = join(dir, "tiny.ts");
    writeFileSync(src, "export function main(): i32 { return 3; }\n");
    const cases: [string[], RegExp][] = [
      [[src, "--", "--bogus"], /asc does not know the option --bogus/],
      [[join(dir, "built.wasm"), "--", "--stackSize", "9"], /apply to a \.ts/],
      [[src, "--", "--memoryBase", "0"], /asc option --memoryBase after --: popcorn sets it itself/],
      [[src, "--", "-O0"], /asc option -O0 after --: popcorn sets it itself/],
    ];
    for (const [args, expected] of cases) {
      const r = popcorn("compile", "-o", join(dir, "tiny.wasm"), ...args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(expected);
      oneLine(r);
    }
  });

  it("an output in a folder that cannot be made (/proc/x as root) is an error in one line, not a hang at 100 % CPU", () => {
    // Node 20's mkdir { recursive } spins for ever on /proc/nope; as root the path passes the check made before the work
    const r = popcornIn(dir, 30_000)("compile", example("hello"), "-o", "/proc/popcorn-nope/hello.wasm");
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/\/proc\/popcorn-nope.*cannot (mkdir|write)/);
    oneLine(r);
  });

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

  // compiled once for this block, so that each test also runs alone (-t)
  beforeAll(() => {
    expect(popcorn("compile", example("fib"), "-o", fib).code).toBe(0);
  });

  it("numbers beyond what popcorn can count or run", () => {
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

  it("--stop-at/--save refuse a program that uses threads up front, naming it and what to do instead", () => {
    const count = join(dir, "count.wasm");
    expect(popcorn("compile", example("count"), "-o", count).code).toBe(0);
    const image = join(dir, "count-refused.img");
    const r = popcorn("run", count, "--stop-at", "10", "--save", image, "--", "2", "1000");
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/count\.wasm: .*threads need a kernel.*--stop-at and --save .*single-threaded programs.* run it with `popcorn run` alone, or with --kernels/);
    oneLine(r);
    expect(existsSync(image), "nothing saved").toBe(false);
  });

  it("--checkpoint-every refuses a program that uses threads up front, in run and in resume, as --stop-at does", () => {
    const count = join(dir, "count.wasm");
    expect(popcorn("compile", example("count"), "-o", count).code).toBe(0);
    const r = popcorn("run", count, "--checkpoint-every", "5", "--", "2", "1000");
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/count\.wasm: .*threads need a kernel.*--checkpoint-every runs one thread here .*single-threaded programs.* run it with `popcorn run` alone, or with --kernels/);
    expect(r.stdout, "it did not start").toBe("");
    oneLine(r);
    const image = countImage(count, "count-cp.img");
    const resumed = popcorn("resume", count, image, "--checkpoint-every", "5");
    expect(resumed.code, resumed.stderr).toBe(2);
    expect(resumed.stderr).toMatch(/count\.wasm: .*threads need a kernel, and resume and --checkpoint-every run one thread here/);
    expect(resumed.stdout).toBe("");
    oneLine(resumed);
  });

  it("resuming an image of a program whose threads need a kernel is refused before it runs, saying what to do instead", () => {
    // `run --stop-at` refuses such a program; an image made some other way (an older popcorn, the API) is refused by resume
    const count = join(dir, "count.wasm");
    expect(popcorn("compile", example("count"), "-o", count).code).toBe(0);
    const image = countImage(count, "count.img");
    const r = popcorn("resume", count, image);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/count\.wasm: threads need a kernel, and resume runs one thread here .* run it with `popcorn run` alone, or with --kernels/);
    oneLine(r);
  });

  it("keygen --help says what a key file may hold (any key of at least 16 bytes), and a bad key file is one line", () => {
    const help = popcorn("keygen", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/at least 16 bytes/);
    expect(help.stdout).toMatch(/64 hex digits/); // what keygen itself prints
    for (const [name, bytes, why] of [
      ["short.key", "01234567\n", /short\.key holds 8 bytes, fewer than 16 — make a key with `popcorn keygen > \S*short\.key`/],
      ["empty.key", " \n", /empty\.key is empty — fill it with `popcorn keygen > /],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const r = popcorn("ps", "--cluster", "127.0.0.1:1", "--key-file", file);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(why);
      oneLine(r);
    }
    const none = popcorn("ps", "--cluster", "127.0.0.1:1", "--key-file", join(dir, "no.key"));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no\.key: cannot read it \(no such file\) — create one with `popcorn keygen > /);
    oneLine(none);
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

  it("a program made before compile refused a memory below popcorn's reserved 8192 bytes: refused at load, not an internal error", () => {
    // what an older popcorn compile made of `asc plain.ts -O3` (no --memoryBase 8192): it imports a memory of 0 pages
    const { wasm } = fromWat(`(module (memory 1) (export "memory" (memory 0))
      (func (export "main") (result i32) (local $i i32) (loop $l (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 9)))) (local.get $i)))`);
    const bytes = Buffer.from(wasm);
    const at = bytes.indexOf(Buffer.from("\x03env\x06memory\x02\x03\x01", "latin1"));
    expect(at).toBeGreaterThan(0);
    bytes[at + 13] = 0; // initial pages 1 -> 0
    writeFileSync(join(dir, "nobase.wasm"), bytes);
    for (const args of [["run", "nobase.wasm"], ["run", "nobase.wasm", "--kernels", "x86-64,aarch64"]]) {
      const r = popcorn(...args);
      expect(r.code, r.stderr).toBe(2);
      oneLine(r);
      expect(r.stderr.trim()).toMatch(/^popcorn: nobase\.wasm: memory of 0 pages leaves no room for popcorn's reserved memory below 8192 \(built without asc --memoryBase 8192\?\) — /);
    }
  });

  it("a program without migration points: compile says so and why, and run refuses --migrate-at/--migrate-every for it", () => {
    const none = join(dir, "nopoints.wasm");
    const c = popcorn("compile", example("fib"), "--points", "explicit", "-o", none);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^ {2}no migration points \(--points explicit, and no migrate\(\)\/checkMigrate\(\) call\): it can never migrate, checkpoint or stop at a signal — /m);
    for (const flag of [["--migrate-at", "3"], ["--migrate-every", "5ms"]]) {
      const r = popcorn("run", none, "--kernels", "x86-64,aarch64", ...flag, "--", "5", "1");
      expect(r.code, r.stderr).toBe(2);
      oneLine(r);
      expect(r.stderr.trim()).toMatch(/^popcorn: .*nopoints\.wasm: --migrate-every\/--migrate-at need an instrumented program with migration points, and it has none — /);
    }
    // the default points: fib has loops and recursion
    expect(popcorn("compile", example("fib"), "-o", join(dir, "points.wasm")).stdout).not.toMatch(/no migration points/);
  });

  it("a spawned thread that traps: the program named once, then the thread", () => {
    const trap = join(dir, "threadtrap.ts");
    writeFileSync(trap, 'import { Thread } from "popcorn";\nfunction worker(n: i32): void { if (n > 0) unreachable(); }\nexport function main(): i32 { Thread.spawn(worker, 1).join(); return 0; }\n');
    const r = popcorn("run", trap);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^popcorn: \S*threadtrap\.ts: thread 1: trap: unreachable in /);
    expect(r.stderr.split("threadtrap.ts:").length - 1, r.stderr).toBe(1);
    oneLine(r);
  });
});

describe("popcorn --version", () => {
  it("--version and -V print package.json's version, nothing else, and exit 0", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = popcorn(flag);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
      expect(r.stderr).toBe("");
    }
  });
});

describe("popcorn without a command", () => {
  it("prints the help on stderr and exits 1, as git does; help asked for exits 0", () => {
    const none = popcorn();
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/Usage: popcorn/);
    for (const args of [["--help"], ["help"], ["help", "run"]]) expect(popcorn(...args).code, args.join(" ")).toBe(0);
    expect(popcorn("bench").code, "a command group without its subcommand").toBe(1);
  });
});

describe("run --json: one shape in every mode a script can rely on", () => {
  type Summary = { status: unknown; error?: unknown; output: unknown; ms: unknown; dmesg: unknown; [k: string]: unknown };
  /** the fields every mode prints: status, output lines by stream, ms, dmesg; error exactly when the program failed */
  const common = (r: { code: number | null; stdout: string; stderr: string }, failed: boolean): Summary => {
    const lines = r.stdout.trim().split("\n");
    expect(lines.length, `one JSON line on stdout, nothing else: ${r.stdout}`).toBe(1);
    const j = JSON.parse(lines[0]!) as Summary;
    expect(j.status, "status is the exit status").toBe(r.code);
    expect(typeof j.ms).toBe("number");
    expect(Array.isArray(j.dmesg)).toBe(true);
    expect(Array.isArray(j.output)).toBe(true);
    for (const o of j.output as unknown[]) expect(o).toEqual({ stream: expect.any(Number), line: expect.any(String) });
    if (failed) expect(j.error).toEqual(expect.any(String));
    else expect(j).not.toHaveProperty("error");
    return j;
  };

  it("prints status, output, ms, dmesg (and error when it failed) on one kernel, on kernels, with --stop-at and on resume", () => {
    const fib = join(dir, "fib-json.wasm");
    const count = join(dir, "count-json.wasm");
    expect(popcorn("compile", example("fib"), "-o", fib).code).toBe(0);
    expect(popcorn("compile", example("count"), "-o", count).code).toBe(0);
    const trap = join(dir, "trap-json.ts");
    writeFileSync(trap, "export function main(): i32 { unreachable(); return 0; }\n");
    const fibOut = [{ stream: 1, line: "fib(10) = 55" }, { stream: 1, line: "deep(10) = 847859927977737" }];

    const one = common(popcorn("run", fib, "--json", "--checkpoint-every", "20", "--", "10", "10"), false);
    expect(one).toMatchObject({ status: 0, output: fibOut, captures: expect.any(Number), imageBytes: expect.any(Number) });
    expect(one.captures).toBeGreaterThan(0);

    const kernels = common(popcorn("run", fib, "--json", "--kernels", "x86-64,aarch64", "--migrate-at", "5", "--", "10", "10"), false);
    expect(kernels).toMatchObject({ status: 0, output: fibOut, pid: expect.any(Number) });

    const threaded = common(popcorn("run", count, "--json", "--", "2", "100"), false); // runs on a kernel of its own
    expect(threaded).toMatchObject({ status: 0, output: [{ stream: 1, line: "count(2x100) = 9901" }] });

    const image = join(dir, "fib-json.img");
    const stop = common(popcorn("run", fib, "--json", "--stop-at", "50", "--save", image, "--", "10", "10"), false);
    expect(stop).toMatchObject({ status: 0, stoppedAt: 50, image, imageBytes: readFileSync(image).length });
    const resumed = common(popcorn("resume", fib, image, "--json"), false);
    expect([...(stop.output as unknown[]), ...(resumed.output as unknown[])]).toEqual(fibOut);

    const finished = common(popcorn("run", fib, "--json", "--stop-at", "50000000", "--save", join(dir, "never.img"), "--", "10", "10"), false);
    expect(finished, "the program ended before the point: its output, nothing saved").toMatchObject({ status: 0, output: fibOut });
    expect(finished).not.toHaveProperty("stoppedAt");
    expect(existsSync(join(dir, "never.img"))).toBe(false);

    for (const args of [[], ["--kernels", "x86-64"], ["--stop-at", "1000", "--save", join(dir, "trap.img")]]) {
      const r = popcorn("run", trap, "--json", ...args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(1);
      expect(common(r, true).error, args.join(" ")).toMatch(/trap: unreachable/);
      expect(r.stderr, `${args.join(" ")}: the error is in the JSON, as in every mode`).toBe("");
    }

    // a failure after checkpoints still counts them, as a run that ends does
    const late = join(dir, "trap-late.ts");
    writeFileSync(late, "function f(n: i32): i32 { return n < 2 ? n : f(n - 1) + f(n - 2); }\nexport function main(): i32 { if (f(12) > 0) unreachable(); return 0; }\n");
    const failed = common(popcorn("run", late, "--json", "--checkpoint-every", "20"), true);
    expect(failed.error).toMatch(/trap: unreachable/);
    expect(failed.captures).toBeGreaterThan(0);
    expect(failed.imageBytes).toBeGreaterThan(0);
  });
});

describe("npm start (popcorn demo)", () => {
  it("runs hello on an x86-64 and an aarch64 kernel and shows dmesg and the first migration's stack transformation", () => {
    const r = popcorn("demo");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Hello from kernel 0 \(x86-64\)\nHello from kernel 1 \(aarch64\)\nHello from kernel 0 \(x86-64\)/);
    expect(r.stdout).toMatch(/kernel 1 \(aarch64\): pid \d+ migrated in from kernel 0 \(x86-64\)/);
    expect(r.stdout).toMatch(/What the first migration did to the stack \(x86-64 → aarch64/);
    expect(r.stdout).toMatch(/ \$\d+ i32 = \d+ \(bytes [0-9a-f]{8}\): (ebx|r1[2-5]d|\[rbp-\d+\]) → (w(19|2[0-8])|\[x29\+\d+\])/); // an i32 (its value, then its bytes): the registers' 32-bit views
    expect(readFileSync(join(dir, "build/hello.wasm")).length).toBeGreaterThan(1000);
  });
});
