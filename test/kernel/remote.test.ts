// The client protocol of cluster mode (remote.ts). What a kernel daemon
// takes from an authenticated client (checkRequest): each field of the kind
// it must be, or a RemoteError naming it — a bad request found by a review
// hung its process (name: null made every migration of it refused by the
// peer) or crashed the daemon (a ping of -1 bytes). And what a client waits
// for: a daemon that stops answering ends the wait (heartbeats, below).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../host/cli/local-cluster.js";
import { checkRequest, MAX_PING_BYTES, RemoteError, RemoteKernel } from "../../host/kernel/remote.js";
import { generateKey, readKeyFile } from "../../host/msg/index.js";
import { compileExample, ROOT } from "../helpers.js";

const exec = { t: "exec", req: 1, name: "hello.wasm", bytes: new Uint8Array([0, 0x61, 0x73, 0x6d]), args: ["2"] };

describe("a daemon checks a client's request field by field", () => {
  it("takes the requests popcorn's own clients send", () => {
    for (const r of [
      exec,
      { ...exec, schedule: [5, 10], scheduler: "balance" },
      { t: "signal", pid: 100001, signo: 35, to: 1 },
      { t: "signal", pid: 100001, tid: 2, signo: 9 },
      { t: "ping", req: 2, to: 1, size: 64, count: 200 },
      { t: "ps", req: 3 },
      { t: "dmesg", req: 4 },
      { t: "cluster", req: 5 },
      { t: "watch" },
    ]) {
      expect(checkRequest(r)).toBe(r);
    }
  });

  it.each([
    [{ ...exec, name: null }, /name is null/],
    [{ ...exec, args: "2" }, /args/],
    [{ ...exec, bytes: "wasm" }, /bytes/],
    [{ ...exec, pid: 100001 }, /pid is 100001, not absent/],
    [{ ...exec, schedule: "abc" }, /schedule/],
    [{ ...exec, scheduler: "fastest" }, /scheduler/],
    [{ t: "signal", pid: -5, signo: 9 }, /pid is -5/],
    [{ t: "ping", req: 1, to: 1, size: -1, count: 1 }, /size is -1/],
    [{ t: "ping", req: 1, to: 1, size: MAX_PING_BYTES + 1, count: 1 }, /size/],
    [{ t: "ping", req: 1, to: 1, size: 64, count: 1e10 }, /count/],
    [{ t: "ps" }, /req is missing/],
    [{ t: "reboot" }, /unknown kind "reboot"/],
  ])("refuses %j", (r, why) => {
    expect(() => checkRequest(r as never)).toThrow(RemoteError);
    expect(() => checkRequest(r as never)).toThrow(why);
  });
});

// A client waiting on a kernel daemon (a real `popcorn kernel` process on a
// loopback port): the daemon's heartbeats keep a long, quiet run alive, and
// a daemon that freezes (SIGSTOP: the socket stays open, nothing answers)
// ends the wait within the client's bound instead of never. The bound is
// shortened here through RemoteKernel.connect's option, to 5 s (at least
// three of the daemon's 1 s heartbeat periods, with room for a loaded machine); the CLI's default
// (KERNEL_SILENCE_MS) is pinned by test/cli/cluster.test.ts.
describe("a client and a kernel that stops answering", () => {
  const dir = mkdtempSync(join(tmpdir(), "popcorn-remote-"));
  const keyFile = join(dir, "cluster.key");
  const BOUND = 5000;
  let daemon: ChildProcess | undefined;
  let address = "";
  let count: Uint8Array;
  const log: string[] = [];

  beforeAll(async () => {
    writeFileSync(keyFile, generateKey());
    count = (await compileExample("count")).wasm;
    address = `127.0.0.1:${await freePort()}`;
    daemon = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "kernel", "--isa", "x86-64", "--listen", address, "--peers", address, "--key-file", keyFile], { stdio: ["ignore", "pipe", "pipe"] });
    daemon.stdout!.setEncoding("utf8").on("data", (d: string) => log.push(...d.split("\n").filter(Boolean)));
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => log.push(...d.split("\n").filter(Boolean)));
    const end = Date.now() + 15_000;
    while (!log.some((l) => / listening on /.test(l))) {
      if (Date.now() > end) throw new Error(`the kernel daemon did not start: ${log.join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(() => {
    daemon?.kill("SIGCONT");
    daemon?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** `exited`, or "still running" after `ms` */
  const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"still running">((r) => setTimeout(() => r("still running"), ms).unref())]);

  it("a quiet run longer than the bound is not cut off: the kernel's heartbeats keep the connection alive", async () => {
    const k = await RemoteKernel.connect(address, readKeyFile(keyFile), { deadAfterMs: BOUND });
    try {
      // sixteen threads counting to 2^31 each: far longer than the test waits (two took 3.7 s), and silent until the end
      const { pid, exited } = await k.exec(count, "count.wasm", ["16", "2147483647"]);
      expect(await within(exited, BOUND + 1500)).toBe("still running");
      k.signal(pid, 9); // and the connection still carries a request and the exit
      expect(await within(exited, 5000)).toMatchObject({ status: 137 });
    } finally {
      k.close();
    }
  });

  it("a kernel that freezes ends the wait within the bound, naming the kernel and that the process may still run there", async () => {
    const k = await RemoteKernel.connect(address, readKeyFile(keyFile), { deadAfterMs: BOUND });
    try {
      const { pid, exited } = await k.exec(count, "count.wasm", ["2147483647"]);
      daemon!.kill("SIGSTOP");
      const t0 = Date.now();
      const ex = await within(exited, 10_000);
      const took = Date.now() - t0;
      expect(ex).toEqual({
        status: 1,
        error: `kernel ${address} stopped answering (no heartbeat in 5 s) — pid ${pid} may still be running there`,
      });
      expect(took).toBeGreaterThanOrEqual(BOUND - 500); // silent since exec's reply, just before the freeze
      expect(took).toBeLessThan(BOUND + 2000);
      // what is asked after that fails at once, with the same reason
      await expect(k.ps()).rejects.toThrow(`kernel ${address}: the connection is closed (stopped answering (no heartbeat in 5 s))`);
    } finally {
      k.close();
      daemon!.kill("SIGCONT");
    }
  });
});
