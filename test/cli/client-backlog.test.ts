// A kernel daemon whose client stops reading (Ctrl-Z on `popcorn run
// --cluster`, or a pipe nobody drains) while its process prints a lot: the
// daemon's memory stays bounded — ps shows the process's unread output.
// A process with migration points is held until its client reads again, and
// nothing is lost; output that holding cannot stop (a program without
// migration points) past MAX_CLIENT_BACKLOG_BYTES drops the client as if it
// had disconnected, dmesg says why, the process runs on, and the client,
// once continued, says what was lost and exits 1.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../host/cli/local-cluster.js";
import { stackmapBackends } from "../../host/isa/index.js";
import { MAX_CLIENT_BACKLOG_BYTES } from "../../host/kernel/daemon.js";
import { RemoteKernel } from "../../host/kernel/index.js";
import { readKeyFile } from "../../host/msg/index.js";
import { compile } from "../../host/toolchain/index.js";
import { popcornIn, ROOT } from "../helpers.js";

// says "ready", computes quietly, prints a burst of lines, computes quietly again, then prints the rest as fast as it can
// (one string, printed again and again: nothing to allocate)
const CHATTY = `
import { print, args } from "popcorn";
function spin(n: i32): i64 {
  let acc: i64 = 0;
  for (let i: i32 = 0; i < n; i++) acc = (acc ^ (acc >>> 13)) + <i64>i;
  return acc;
}
export function main(): i32 {
  const a = args();
  const line = "x".repeat(I32.parseInt(a[0]));
  print("ready");
  let acc = spin(I32.parseInt(a[1]));
  for (let i = 0; i < I32.parseInt(a[2]); i++) print(line);
  acc += spin(I32.parseInt(a[3]));
  for (let i = 0; i < I32.parseInt(a[4]); i++) print(line);
  return <i32>(acc & 0);
}
`;

const MiB = 1 << 20;
const BURST = 20_000;
const LINES = 400_000;
const dir = mkdtempSync(join(tmpdir(), "popcorn-backlog-"));
const keyFile = join(dir, "cluster.key");
const popcorn = popcornIn(dir, 30_000);
const children: ChildProcess[] = [];

/** The resident memory of a process, from /proc (Linux). */
const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

function start(args: string[]): { child: ChildProcess; out: string[]; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const out: string[] = [];
  let err = "";
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    const lines = (partial + d).split("\n");
    partial = lines.pop()!;
    out.push(...lines);
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  return { child, out, stderr: () => err, exited: new Promise((r) => child.once("exit", (code) => r(code))) };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  writeFileSync(keyFile, popcorn("keygen").stdout);
  writeFileSync(join(dir, "chatty.ts"), CHATTY);
  const chatty = await compile(join(dir, "chatty.ts"), { runtime: "stub", backends: stackmapBackends() });
  writeFileSync(join(dir, "chatty.wasm"), chatty.wasm);
  writeFileSync(join(dir, "chatty-plain.wasm"), chatty.plain); // no migration points: it cannot be held

});

afterAll(() => {
  for (const c of children) {
    c.kill("SIGCONT");
    c.kill("SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A one-kernel cluster: a `popcorn kernel` daemon on a free loopback port, once it listens. */
async function oneKernel() {
  const a = `127.0.0.1:${await freePort()}`;
  const kernel = start(["kernel", "--isa", "x86-64", "--listen", a, "--peers", a, "--key-file", keyFile]);
  await until("the kernel listens", () => kernel.out.some((l) => / listening on /.test(l)), 10_000);
  return { a, kernel };
}

describe("a client that stops reading its process's output", () => {
  it("holds the process until the client reads again: the kernel's memory stays bounded, and the continued client gets every line and exits 0", async () => {
    const { a, kernel } = await oneKernel();
    const burst = 10_000;
    const lines = 40_000;
    const run = start(["run", "chatty.wasm", "--cluster", a, "--key-file", keyFile, "--", "1000", "300000000", String(burst), "1000", String(lines)]);
    let stopped = false;
    const ps = await RemoteKernel.connect(a, readKeyFile(keyFile));
    const row = async () => (await ps.ps()).find((p) => p.name === "chatty.wasm");
    try {
      await until("the client reads ready", () => run.out.includes("ready"), 10_000);
      run.child.kill("SIGSTOP");
      stopped = true;
      const before = rss(kernel.child.pid!);
      let shown = 0;
      let grew = 0;
      for (const end = Date.now() + 3000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        shown = Math.max(shown, (await row())?.unread ?? 0);
        grew = Math.max(grew, rss(kernel.child.pid!) - before);
      }
      expect(kernel.out.some((l) => / exited with status/.test(l)), "the process waits for its client").toBe(false);
      expect((await row())?.state, "held: its thread waits in the run queue").toBe("runnable");
      expect(shown / MiB, "ps --json: the process's unread output").toBeGreaterThan(1);
      expect(shown).toBeLessThan(MAX_CLIENT_BACKLOG_BYTES);
      expect(grew / MiB, `the kernel's memory grew by ${(grew / MiB).toFixed(0)} MiB while its client was stopped`).toBeLessThan(256);
      run.child.kill("SIGCONT");
      stopped = false;
      expect(await run.exited, run.stderr()).toBe(0);
      expect(run.out.length, "every line").toBe(1 + burst + lines);
      expect(run.out.slice(1).every((l) => l === "x".repeat(1000))).toBe(true);
      await until("the kernel's log says it held it", () => kernel.out.some((l) => /was held \d+ times?: its client did not keep up/.test(l)), 5000);
    } finally {
      ps.close();
      if (stopped) run.child.kill("SIGCONT");
      run.child.kill("SIGKILL");
      kernel.child.kill("SIGKILL");
    }
  }, 30_000);

  it("a program that cannot be held (no migration points) costs the kernel at most MAX_CLIENT_BACKLOG_BYTES: the client is dropped, dmesg says why, the process runs on, the continued client reports the loss and exits 1", async () => {
    const { a, kernel } = await oneKernel();
    // lines of 1000 characters: a burst of 20 MB, more than the sockets' buffers take and less than the bound,
    // then 400 MB, far more than the bound; ~0.5 s and ~1 s of quiet computing before each
    const args = ["1000", "300000000", String(BURST), "600000000", String(LINES)];
    const run = start(["run", "chatty-plain.wasm", "--cluster", a, "--key-file", keyFile, "--", ...args]);
    let stopped = false;
    // another client asks ps, as `popcorn ps --cluster --json` does
    const ps = await RemoteKernel.connect(a, readKeyFile(keyFile));
    const unread = async () => (await ps.ps()).find((p) => p.name === "chatty-plain.wasm")?.unread;
    try {
      await until("the client reads ready", () => run.out.includes("ready"), 10_000);
      run.child.kill("SIGSTOP");
      stopped = true;
      const before = rss(kernel.child.pid!);
      // the burst, then quiet: ps shows the process's output its client has not read
      let shown = 0;
      for (const end = Date.now() + 10_000; shown <= MiB && Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
        shown = (await unread()) ?? 0;
      }
      // the daemon's memory while its client does not read: bounded (the client's queue, and the lines on their way from
      // the core, which the control thread forwards more slowly than the guest prints), or it grows with the output (> 1 GiB)
      const LIMIT = 512 * MiB;
      let grew = 0;
      const dropped = () => kernel.out.some((l) => /stopped reading/.test(l));
      const exited = () => kernel.out.some((l) => /pid \d+ exited/.test(l));
      const end = Date.now() + 10_000;
      while (!(dropped() && exited()) && grew < LIMIT && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        grew = Math.max(grew, rss(kernel.child.pid!) - before);
      }
      expect(grew / MiB, `the kernel's memory grew by ${(grew / MiB).toFixed(0)} MiB while its client was stopped`).toBeLessThan(LIMIT / MiB);
      expect(shown / MiB, "ps --json: the process's unread output, while its client is stopped").toBeGreaterThan(1);
      expect(shown).toBeLessThan(MAX_CLIENT_BACKLOG_BYTES);
      const line = kernel.out.find((l) => /stopped reading/.test(l));
      expect(line).toMatch(new RegExp(`client 127\\.0\\.0\\.1:\\d+ of pid (\\d+) stopped reading: \\d+\\.\\d MiB of output unread`));
      const pid = /of pid (\d+)/.exec(line!)![1];
      const said = Number(/: (\d+\.\d) MiB of output unread/.exec(line!)![1]) * MiB;
      expect(said).toBeGreaterThanOrEqual(MAX_CLIENT_BACKLOG_BYTES); // to the 0.1 MiB it says
      expect(said).toBeLessThan(MAX_CLIENT_BACKLOG_BYTES + MiB);
      // the same path as a client that disconnects: the process runs on to its end, its output discarded
      expect(kernel.out.some((l) => new RegExp(`pid ${pid} exited with status 0`).test(l)), kernel.out.slice(-5).join("\n")).toBe(true);
      run.child.kill("SIGCONT");
      stopped = false;
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toMatch(new RegExp(`^popcorn: chatty-plain\\.wasm: .*stopped reading.* MiB of output unread.* pid ${pid}`, "m"));
      expect(run.out.length, "the lines the client read are partial").toBeLessThan(LINES);
      expect(run.out.slice(1).every((l) => l === "x".repeat(1000)), "and whole: nothing torn, nothing else on stdout").toBe(true);
    } finally {
      ps.close();
      if (stopped) run.child.kill("SIGCONT");
      run.child.kill("SIGKILL");
      kernel.child.kill("SIGKILL");
    }
  }, 30_000);
});
