// A real aarch64 kernel: Debian's arm64 Node.js under QEMU user-mode
// emulation, whose V8 compiles the guest to aarch64 machine code, next to a
// native x86-64 kernel. Runs when `popcorn setup arm64` has been done (the
// test setup does it when it may).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { freePort } from "../../host/cli/local-cluster.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arm64Node } from "../../host/cli/qemu.js";
import { popcornIn, ROOT, compileExample } from "../helpers.js";

const arm64 = arm64Node();
const missing = "missing" in arm64 ? arm64.missing : undefined;
const dir = mkdtempSync(join(tmpdir(), "popcorn-qemu-"));
const children: ChildProcess[] = [];

const popcorn = popcornIn(dir, 120_000);

beforeAll(async () => {
  writeFileSync(join(dir, "hello.wasm"), (await compileExample("hello")).wasm);
  writeFileSync(join(dir, "fib.wasm"), (await compileExample("fib", { runtime: "stub" })).wasm);
  for (const name of ["stencil", "count"]) writeFileSync(join(dir, `${name}.wasm`), (await compileExample(name)).wasm);
});
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing !== undefined)(`aarch64@qemu kernels${missing ? ` (SKIPPED: ${missing} — popcorn setup arm64)` : ""}`, () => {
  it("hello hops between a native x86-64 kernel and an arm64 Node under QEMU", () => {
    const r = popcorn("run", "hello.wasm", "--kernels", "x86-64,aarch64@qemu", "--", "3");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "hops = 3",
    ]);
  });

  it("a program migrated at many points through the emulated kernel prints what one kernel prints", () => {
    const plain = popcorn("run", "fib.wasm", "--", "12", "200");
    const r = popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64@qemu", "--migrate-at", "20,30,25,40,35,50", "--", "12", "200");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
  });

  it("threads share memory across the native and the emulated kernel: a barrier stencil gives the one-kernel result", () => {
    const plain = popcorn("run", "stencil.wasm", "--", "4", "10");
    const r = popcorn("run", "stencil.wasm", "--kernels", "x86-64,aarch64@qemu", "--dmesg", "--", "4", "10");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stderr).toMatch(/kernel 1 \(aarch64\): pid \d+\.\d+ migrated in from kernel 0/);
  });

  it("--scheduler hetero learns that the emulated kernel is slower (its measured speed) and still gives the one-kernel result", () => {
    const plain = popcorn("run", "count.wasm", "--", "2", "3000000");
    const r = popcorn("run", "count.wasm", "--kernels", "x86-64,aarch64@qemu", "--scheduler", "hetero", "--dmesg", "--", "2", "3000000");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    const m = /kernel 1 \(aarch64\) measured speed \d+: ×([\d.]+) this kernel's/.exec(r.stderr);
    expect(m, "kernel 0 logs kernel 1's speed").not.toBeNull();
    expect(Number(m![1]), "emulated is slower than native").toBeLessThan(1);
  });

  it("popcorn kernel --qemu runs under the arm64 Node, and ps shows the real process.arch beside the profile", async () => {
    const ports = [await freePort(), await freePort()];
    const [a, b] = ports.map((p) => `127.0.0.1:${p}`);
    const key = join(dir, "cluster.key");
    writeFileSync(key, popcorn("keygen").stdout);
    const start = (isa: string, listen: string, qemu: boolean) => {
      const args = [join(ROOT, "bin/popcorn.js"), "kernel", "--isa", isa, "--listen", listen, "--peers", `${a},${b}`, "--key-file", key, ...(qemu ? ["--qemu"] : [])];
      const c = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
      children.push(c);
      let out = "";
      c.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
      return () => out;
    };
    const outA = start("x86-64", a!, false);
    start("aarch64", b!, true);
    const end = Date.now() + 60_000;
    while (!/ joined/.test(outA()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const ps = popcorn("ps", "--cluster", a!, "--key-file", key, "--json");
    expect(ps.code, ps.stderr).toBe(0);
    const kernels = JSON.parse(ps.stdout).kernels.map((k: { isa: string; arch: string }) => `${k.isa}/${k.arch}`);
    expect(kernels).toEqual([`x86-64/${process.arch}`, "aarch64/arm64"]);
  });

  it("the arm64 Node of popcorn kernel --qemu stops when that popcorn is killed with -9 (it ran on, orphaned, listening)", async () => {
    const [a, b] = [await freePort(), await freePort()].map((p) => `127.0.0.1:${p}`);
    const key = join(dir, "leash.key");
    writeFileSync(key, popcorn("keygen").stdout);
    const outer = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "kernel", "--isa", "aarch64", "--listen", b!, "--peers", `${a},${b}`, "--key-file", key, "--qemu"], {
      stdio: "ignore",
    });
    children.push(outer);
    const pgrep = () => spawnSync("pgrep", ["-P", String(outer.pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
    let inner: number[] = [];
    for (let i = 0; i < 100 && !inner.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      inner = pgrep();
    }
    expect(inner.length, "popcorn kernel --qemu started qemu").toBe(1);
    const alive = () => {
      try {
        process.kill(inner[0]!, 0);
        return true;
      } catch {
        return false;
      }
    };
    outer.kill("SIGKILL");
    for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    if (alive()) process.kill(inner[0]!, "SIGKILL");
    expect(alive(), "qemu still running 10 s after its popcorn was killed").toBe(false);
  }, 60_000);
});

describe("--kernels entries", () => {
  it("name what they cannot run", () => {
    expect(popcorn("run", "hello.wasm", "--kernels", "x86-64,aarch64@docker").stderr).toMatch(/write <isa> or <isa>@qemu/);
    expect(popcorn("run", "hello.wasm", "--kernels", "x86-64,sparc@qemu").stderr).toMatch(/unknown ISA "sparc"/);
    // QEMU runs an arm64 Node: an x86-64 profile there would be a simulated ISA on the other real one
    const x = popcorn("run", "hello.wasm", "--kernels", "x86-64@qemu,aarch64");
    expect(x.code).toBe(2);
    expect(x.stderr).toMatch(/"x86-64@qemu": .*only aarch64 .*write x86-64/);
    const k = popcorn("kernel", "--qemu", "--isa", "x86-64", "--listen", "127.0.0.1:1", "--peers", "127.0.0.1:1", "--key-file", "none");
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/--qemu .*only .*--isa aarch64/);
  });
});
