// popcorn run --kernels as a user types it: timed migrations, and the
// mistakes it names.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { popcornIn, ROOT, compileExample } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-run-kernels-"));
const popcorn = popcornIn(dir, 120_000);

beforeAll(async () => {
  writeFileSync(join(dir, "fib.wasm"), (await compileExample("fib")).wasm);
  writeFileSync(join(dir, "count-plain.wasm"), (await compileExample("count", { runtime: "stub" })).plain);
  writeFileSync(join(dir, "count.wasm"), (await compileExample("count")).wasm);
});

describe("popcorn run --kernels from the command line", () => {
  it("--migrate-every 2ms moves fib back and forth and it prints what one kernel prints", () => {
    // fib(38): ~0.35 s of work — fib(22) ran for 10–36 ms, and a loaded machine's first timer came after its end
    const plain = popcorn("run", "fib.wasm", "--", "38", "100");
    const r = popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-every", "2ms", "--dmesg", "--", "38", "100");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
    expect(r.stderr).toMatch(/migrated in from kernel 0 \(x86-64\)/);
  });

  it("--dmesg and --json's dmesg have each kernel's memory traffic line of the process, every time", () => {
    const both = (log: string) => [...log.matchAll(/kernel (\d) \(.*\): pid \d+ memory traffic on this kernel/g)].map((m) => m[1]).sort();
    for (let i = 0; i < 3; i++) {
      const r = popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-at", "60,5", "--json", "--", "10", "5");
      expect(r.code, r.stderr).toBe(0);
      expect(both((JSON.parse(r.stdout) as { dmesg: string[] }).dmesg.join("\n")), `--json run ${i}`).toEqual(["0", "1"]);
    }
    const r = popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-at", "60,5", "--dmesg", "--", "10", "5");
    expect(both(r.stderr), "--dmesg").toEqual(["0", "1"]);
  });

  it("names an unknown ISA and the known ones", () => {
    const r = popcorn("run", "fib.wasm", "--kernels", "x86-64,riscv64");
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('popcorn: unknown ISA "riscv64" — known ISAs: x86-64, aarch64');
  });

  it("refuses flags that need --kernels without it, and an empty kernel list entry", () => {
    expect(popcorn("run", "fib.wasm", "--migrate-every", "5ms").stderr).toMatch(/need --kernels/);
    expect(popcorn("run", "fib.wasm", "--kernels", "x86-64,,aarch64").stderr).toMatch(/an empty entry/);
    expect(popcorn("run", "fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-every", "soon").stderr).toMatch(/--migrate-every takes a duration such as 5ms/);
  });
});

describe("Ctrl-C on popcorn run --kernels", () => {
  it("a second interrupt ends a run whose program has no migration points to stop at", async () => {
    const child = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count-plain.wasm", "--kernels", "x86-64,aarch64", "--", "2000000000"], { cwd: dir });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 10_000))]);
    if (code === "still running") child.kill("SIGKILL");
    expect(code).toBe(130);
    expect(err).toMatch(/interrupted again — stopping the kernels/);
  });
});

describe("popcorn ps over several runs", () => {
  it("has a RUN column when more than one run's kernels are listed, each run its own kernel 0", async () => {
    const { psTable } = await import("../../host/cli/kernels.js");
    const row = (pid: number, isa: string, run: number) => ({
      pid, tid: 0, name: "fib", kernel: 0, isa, arch: process.arch, state: "running", origin: 0, migrations: 0, migrationsIn: 0, migrationsOut: 0, bytesIn: 0, bytesOut: 0, memIn: 0, memOut: 0, run,
    });
    const procs = [row(1, "x86-64", 4001), row(2, "aarch64", 4002)];
    const lines = psTable(procs, true).trimEnd().split("\n");
    expect(lines[0]).toMatch(/^RUN\s+PID\s+NAME\s+KERNEL/);
    expect(lines[1]).toMatch(/^4001\s+1\s+fib\s+0\s+x86-64/);
    expect(lines[2]).toMatch(/^4002\s+2\s+fib\s+0\s+aarch64/);
    expect(psTable(procs).split("\n")[0]).toMatch(/^PID\s/);
    expect(psTable(procs).split("\n")[0]).not.toMatch(/UNREAD/);
    // a cluster process whose client does not read its output
    const unread = psTable([{ ...procs[0]!, unread: 3 << 20 }]).split("\n");
    expect(unread[0]).toMatch(/UNREAD$/);
    expect(unread[1]).toMatch(/3\.0 MiB$/);
  });
});

describe("SIGTERM to popcorn run on kernels", () => {
  // on two kernels, and on the one kernel plain `run` gives a program that uses threads
  for (const kernels of [["--kernels", "x86-64,aarch64"], []]) {
    it(`stops the process as \`popcorn kill -15\` does: killed by signal 15, exit 143 (${kernels.join(" ") || "one kernel"})`, async () => {
      const child = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count.wasm", ...kernels, "--", "2", "2000000000"], { cwd: dir });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      await new Promise((r) => setTimeout(r, 1500));
      child.kill("SIGTERM");
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("still running"), 20_000))]);
      if (code === "still running") child.kill("SIGKILL");
      expect(code, err).toBe(143);
      expect(err).toMatch(/killed by signal 15/);
      expect(err).not.toMatch(/interrupt/);
    });
  }
});
