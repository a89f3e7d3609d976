// `popcorn run … | reader`: the program's output into a pipe, in each mode
// (one kernel in popcorn's own thread, kernels as worker threads, a
// cluster). A reader that goes away (`| head`) ends the program as SIGPIPE
// ends a writer: exit 141, quietly — it used to crash popcorn with an
// unhandled EPIPE and a Node stack. A reader that does not keep up makes the
// program wait, as a full pipe makes its writer wait: popcorn's memory stays
// bounded, and nothing is lost — it used to queue everything in memory.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackCluster } from "../../bench/cluster.js";
import { ROOT, popcornIn } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-pipe-"));
const popcorn = popcornIn(dir);
const LINE = "x".repeat(40);
const LINES = 1_000_000; // 48 MB of output: more than a program prints in the 3 s its reader waits

let cluster: Awaited<ReturnType<typeof loopbackCluster>> | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  writeFileSync(
    join(dir, "spam.ts"),
    `import { print, args } from "popcorn";
export function main(): i32 {
  const n = I32.parseInt(args()[0]);
  for (let i = 0; i < n; i++) print(i.toString() + " ${LINE}");
  return 0;
}
`,
  );
  expect(popcorn("compile", "spam.ts", "-o", "spam.wasm").code).toBe(0);
  cluster = await loopbackCluster();
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  cluster?.stop();
});

const modes = (): [string, string[]][] => [
  ["one kernel", []],
  ["kernels", ["--kernels", "x86-64,aarch64"]],
  ["a cluster", ["--cluster", cluster!.addresses[0]!, "--key-file", cluster!.keyFile]],
];

function start(args: string[], lines: number): ChildProcess {
  const c = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "spam.wasm", ...args, "--", String(lines)], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.push(c);
  return c;
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => c.once("exit", (code) => r(code)));

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

describe("a reader that goes away (| head)", () => {
  for (const i of [0, 1, 2]) {
    it(`ends the program as SIGPIPE would: exit 141, nothing on stderr — ${["one kernel", "kernels", "a cluster"][i]}`, async () => {
      const [, args] = modes()[i]!;
      const c = start(args, 5_000_000);
      let stderr = "";
      c.stderr!.on("data", (d) => (stderr += d));
      await new Promise<void>((r) => c.stdout!.once("data", () => r()));
      c.stdout!.destroy(); // the reader is gone
      expect(await exited(c), stderr).toBe(141);
      expect(stderr).toBe("");
    });
  }
});

describe("a reader that does not keep up", () => {
  for (const i of [0, 1, 2]) {
    it(`makes the program wait: popcorn's memory stays bounded, and every line arrives — ${["one kernel", "kernels", "a cluster"][i]}`, async () => {
      const [, args] = modes()[i]!;
      const c = start(args, LINES);
      const code = exited(c);
      await new Promise<void>((r) => c.stdout!.once("readable", () => r()));
      c.stdout!.pause(); // reads nothing for a while
      const base = rssKiB(c.pid!);
      let peak = base;
      let mid = 0;
      for (let t = 1; t <= 30; t++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, rssKiB(c.pid!));
        if (t === 15) mid = peak;
      }
      let count = 0;
      c.stdout!.on("data", (d: Buffer) => {
        for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) count++;
      });
      c.stdout!.resume();
      expect(await code).toBe(0);
      expect(count).toBe(LINES);
      // held: popcorn stops growing once the reader's pipe and its own bound are full (and its kernels warm);
      // queued as it was, it grew all along, by 90–280 MB for 37 MB of output
      const seen = `RSS ${base >> 10} → ${mid >> 10} → ${peak >> 10} MiB`;
      expect((peak - mid) / 1024, seen).toBeLessThan(8);
      expect((peak - base) / 1024, seen).toBeLessThan(80);
    });
  }
});
