// Races around migrations that a review (helper session) found broken, each
// on real kernels of this thread (scripted.ts) or a real process:
//   - a kernel that restarts gives out pids its peer had seen end: the peer
//     dropped its migrations without a word, and the source waited forever
//     (now the peer forgets a gone kernel's ended pids, and refuses, aloud,
//     a migration of a process that has ended);
//   - SIGMIGRATE for a main that still waits for its first core was kept,
//     and not given to the job that starts it;
//   - a time-slice yield the kernel had asked for made the guest's own
//     migrate() a no-op;
//   - a migrate message delivered twice ran the thread twice;
//   - a program that was not WebAssembly threw out of the kernel's client
//     handler, and one without main left its process starting for ever.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stackmapBackends } from "../../host/isa/index.js";
import type { ClientReply } from "../../host/kernel/client.js";
import { Process, SIG_YIELD, type CaptureReason } from "../../host/kernel/process.js";
import { loadProgram } from "../../host/kernel/program.js";
import { decodeMessage, encodeMessage, type KernelMessage } from "../../host/msg/index.js";
import { compile } from "../../host/toolchain/index.js";
import { ScriptedCluster } from "./scripted.js";

let cluster: ScriptedCluster | undefined;
afterEach(() => {
  cluster?.shutdown();
  cluster = undefined;
});

const HELLO_2 = ["Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "hops = 2"];

describe("races around migrations", () => {
  it("a kernel that restarts: its processes migrate and exit, though their pids are ones its peer saw end before", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const first = await c.exec(1, "hello", ["2"]);
    expect(await c.exit(first)).toMatchObject({ status: 0 });
    await new Promise((r) => setTimeout(r, 50)); // the reaps of the first life delivered
    await c.restart(1);
    const since = c.replies.length;
    const again = await c.exec(1, "hello", ["2"]);
    expect(again, "the new kernel 1 gives out the same pid").toBe(first);
    expect(await c.exit(again, 10_000, since)).toMatchObject({ status: 0 });
    expect(c.output(again, since)).toEqual(["Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "hops = 2"]);
  });

  it("a migrate message for a process that has ended is refused, never dropped without a word", async () => {
    const c = (cluster = await ScriptedCluster.start());
    let first: Uint8Array | undefined;
    const acks: KernelMessage[] = [];
    c.link.script = (from, _to, m) => {
      if (m.t === "migrate" && from === 0 && !first) first = encodeMessage(m);
      if (m.t === "migrate-ack" && from === 1) acks.push(m);
      return "pass";
    };
    const pid = await c.exec(0, "hello", ["2"]);
    expect(await c.exit(pid)).toMatchObject({ status: 0 });
    await new Promise((r) => setTimeout(r, 50)); // kernel 1 has reaped it
    acks.length = 0;
    // the same message once more, as a peer that resent it late would
    c.link.ends[1]!.handler!(0, decodeMessage(first!, "the test"), first!);
    await new Promise((r) => setTimeout(r, 50));
    expect(acks).toEqual([{ t: "migrate-ack", pid, tid: 0, ok: false, reason: "kernel 1: its process has ended" }]);
  });

  it("a ping series the kernel cannot make is answered with the error, and the kernel goes on", async () => {
    const c = (cluster = await ScriptedCluster.start());
    c.request(0, { t: "ping", req: 77, to: 1, size: -1, count: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(c.replies.find((r) => r.t === "reply" && r.req === 77)).toMatchObject({ data: { rttUs: [], error: expect.stringMatching(/length/) } });
    const pid = await c.exec(0, "hello", ["2"]);
    expect(await c.exit(pid)).toMatchObject({ status: 0 });
  });

  it("a ping series ends when the client that asked for it leaves", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const replies: ClientReply[] = [];
    const link = { post: (r: ClientReply) => replies.push(r) };
    c.kernels[0]!.attach(link)({ t: "ping", req: 1, to: 1, size: 64, count: 1_000_000 });
    await new Promise((r) => setTimeout(r, 50));
    c.kernels[0]!.detach(link);
    for (let i = 0; i < 100 && !replies.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(replies).toEqual([{ t: "reply", req: 1, data: expect.objectContaining({ error: expect.stringMatching(/the client left after \d+ of 1000000 pings/) }) }]);
  });

  it("migrations to a kernel that is down: the process's stderr says why, once", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const pid = await c.exec(0, "count", ["1", "2000000000"]);
    await new Promise((r) => setTimeout(r, 100));
    c.link.up = false;
    c.kernels[0]!.peerDown(1, "link dropped (test)");
    for (let i = 0; i < 3; i++) {
      c.request(0, { t: "signal", pid, tid: 1, signo: 35, to: 1 }); // the counting thread (main waits in join)
      await new Promise((r) => setTimeout(r, 40));
    }
    c.request(0, { t: "signal", pid, signo: 9 });
    expect(await c.exit(pid)).toMatchObject({ status: 137 });
    expect(c.output(pid).filter((l) => l.includes("staying"))).toEqual([
      `popcorn: pid ${pid}.1: migration to kernel 1 did not start: kernel 1 is down — staying on kernel 0`,
    ]);
    expect(c.logs[0]!.filter((l) => l.includes("staying")).length, "dmesg has each one").toBe(3);
  });

  it("SIGMIGRATE for a main that waits for its first core: it migrates once it starts", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const hog = await c.exec(0, "count", ["2000000000"]);
    await new Promise((r) => setTimeout(r, 100)); // the hog has kernel 0's only core
    const pid = await c.exec(0, "count", ["1000000"]);
    c.request(0, { t: "signal", pid, signo: 35, to: 1 });
    c.request(0, { t: "signal", pid: hog, signo: 9 });
    expect(await c.exit(pid)).toMatchObject({ status: 0 });
    expect(c.logs[1]!.join("\n")).toMatch(new RegExp(`pid ${pid} migrated in from kernel 0`));
  });

  it("a migrate message delivered twice runs the thread once", async () => {
    for (let round = 0; round < 3; round++) {
      const c = (cluster = await ScriptedCluster.start({ cores: 2 }));
      let migrates = 0;
      c.link.script = (_from, _to, m) => (m.t === "migrate" && ++migrates === 1 ? "dup" : "pass");
      const pid = await c.exec(0, "hello", ["2"]);
      expect(await c.exit(pid)).toMatchObject({ status: 0 });
      expect(c.output(pid)).toEqual(HELLO_2);
      expect(c.logs[1]!.filter((l) => l.includes(`pid ${pid} migrated in`))).toHaveLength(1);
      c.shutdown();
      cluster = undefined;
    }
  });
});

/** print, then migrate at once: no migration point between the two calls */
const PRINT_THEN_MIGRATE = `
import { print, migrate, currentKernel, kernelCount } from "popcorn";
export function main(): i32 {
  const want = (currentKernel() + 1) % kernelCount();
  print("before");
  migrate(want);
  print(currentKernel() == want ? "moved" : "not moved");
  return 0;
}
`;

describe("a program a kernel cannot run ends its process with an error, instead of hanging or crashing the kernel", () => {
  it.each([
    ["bytes that are not WebAssembly", new Uint8Array([1, 2, 3, 4]), /not a WebAssembly module/],
    ["a module without main", new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), /main/],
  ])("%s", async (_, bytes, error) => {
    const c = (cluster = await ScriptedCluster.start());
    c.request(0, { t: "exec", pid: 4242, name: "bad", bytes, args: [] });
    const exit = await c.exit(4242, 5000);
    expect(exit).toMatchObject({ status: 1, error: expect.stringMatching(error) });
    // and the kernel goes on
    const pid = await c.exec(0, "hello", ["2"]);
    expect(await c.exit(pid)).toMatchObject({ status: 0 });
  });
});

describe("the guest's own migrate()", () => {
  it("is not lost to a time-slice yield the kernel asked for just before it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "popcorn-races-"));
    writeFileSync(join(dir, "printmig.ts"), PRINT_THEN_MIGRATE);
    const wasm = (await compile(join(dir, "printmig.ts"), { runtime: "stub", backends: stackmapBackends() })).wasm;
    const reasons: CaptureReason["kind"][] = [];
    const p: Process = new Process(loadProgram(wasm, "printmig"), {
      args: [],
      syscalls: true,
      kernel: { id: 0, isa: "x86-64", count: 2 },
      // the kernel's slicer asks for a yield as the guest prints, right before its migrate()
      stdout: (line) => {
        if (line === "before") p.ctrl.request({ signo: SIG_YIELD });
      },
      stderr: () => {},
    });
    p.boot();
    p.run((state, reason) => {
      reasons.push(reason.kind);
      if (reason.kind === "migrate") return "stop"; // it leaves here
      p.resume(state); // a yield: parked, then run again here
      return "resume";
    });
    expect(reasons).toEqual(["migrate"]);
  });
});

describe("dmesg times", () => {
  it("a departure's line has the time it was sent, though the source is held up in the send (a thread it woke took its CPU)", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const stamp = (l: string) => Number(/^\[\s*([\d.]+)\]/.exec(l)![1]);
    let sentAt: number | undefined;
    c.link.script = (from, _to, m) => {
      if (m.t === "migrate" && from === 0 && sentAt === undefined) {
        sentAt = performance.timeOrigin + performance.now();
        const until = Date.now() + 30;
        while (Date.now() < until); // the sender is held up inside its send
      }
      return "pass";
    };
    const pid = await c.exec(0, "hello", ["1"]);
    expect(await c.exit(pid)).toMatchObject({ status: 0 });
    const leaving = c.logs[0]!.find((l) => / migrating to kernel 1/.test(l))!;
    // (stamps are in µs: one µs for the rounding)
    expect(c.bootAt + stamp(leaving) * 1000, leaving).toBeLessThanOrEqual(sentAt! + 0.001);
  });
});
