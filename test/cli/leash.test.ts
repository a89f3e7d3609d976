// Kernel daemons a popcorn command starts for itself (ping --transport tcp, the benchmarks' clusters,
// --kernels …@qemu) end with it, however it ends: killed with -9, they used to run on, listening, for ever.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../helpers.js";

/** The pids of `pid`'s children. */
const children = (pid: number): number[] =>
  spawnSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it("the kernel daemons of `popcorn ping --transport tcp` stop when it is killed with -9", async () => {
  const ping = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "ping", "--transport", "tcp", "--count", "1000000"], { stdio: "ignore" });
  let daemons: number[] = [];
  try {
    for (let i = 0; i < 300 && daemons.length < 2; i++) {
      await sleep(100);
      daemons = children(ping.pid!);
    }
    expect(daemons.length, "ping started its two kernel daemons").toBe(2);
    ping.kill("SIGKILL");
    for (let i = 0; i < 100 && daemons.some(alive); i++) await sleep(100);
    expect(daemons.filter(alive), "daemons still running 10 s after their launcher died").toEqual([]);
  } finally {
    ping.kill("SIGKILL");
    for (const d of daemons) if (alive(d)) process.kill(d, "SIGKILL");
  }
}, 60_000);
