// A migration whose acknowledgement is lost when the link drops (DESIGN.md,
// decision 5; kernel.ts peerDown): the destination took the thread and runs
// it, the source never hears so and resumes it. The process must still run
// exactly once: the kernel that is not the process's origin drops it when
// its origin goes away, and the origin's copy goes on — so every line is
// printed once, in program order, and the process exits as it would have.
// (Two kernels on a scripted transport, scripted.ts: the script drops the
// acknowledgement and takes the link down at that moment, then tells both
// kernels, as onPeerDown would.)
import { afterEach, describe, expect, it } from "vitest";
import type { KernelMessage } from "../../host/msg/index.js";
import { ScriptedCluster } from "./scripted.js";

let cluster: ScriptedCluster | undefined;
afterEach(() => cluster?.shutdown());

/** Drops the first message of type `t` from kernel `from`, takes the link down then, and tells both kernels on the next turn. */
function dropLinkAt(c: ScriptedCluster, from: number, t: KernelMessage["t"]): Promise<void> {
  return new Promise((resolve) => {
    c.link.script = (sender, _to, msg) => {
      if (!c.link.up || sender !== from || msg.t !== t) return "pass";
      c.link.up = false;
      setImmediate(() => {
        c.kernels[0]!.peerDown(1, "link dropped (test)");
        c.kernels[1]!.peerDown(0, "link dropped (test)");
        resolve();
      });
      return "drop";
    };
  });
}

describe("a migration whose acknowledgement is lost as the link drops runs the process exactly once", () => {
  it("origin → other kernel: the origin resumes the thread, the other kernel drops the process", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const dropped = dropLinkAt(c, 1, "migrate-ack");
    const pid = await c.exec(0, "hello", ["2"]);
    const exit = await c.exit(pid);
    await dropped;
    expect(exit).toMatchObject({ status: 0 });
    // kernel 1 ran the thread after the hop, but its output could not reach the origin any more;
    // the origin's copy went on from the migration point, and its next hop found the link down
    expect(c.output(pid).filter((l) => !l.startsWith("popcorn:"))).toEqual([
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 0 (x86-64)",
      "hops = 2",
    ]);
    expect(c.logs[1]!.join("\n"), "the thread ran on kernel 1").toMatch(/migrated in from kernel 0/);
    expect(c.logs[0]!.join("\n")).toMatch(/migration to kernel 1 lost its destination \(link dropped \(test\)\) — staying on kernel 0/);
    expect(c.logs[1]!.join("\n")).toMatch(/dropped: its origin, kernel 0, went away/);
  });

  it("other kernel → origin: the origin runs the thread on, the other kernel drops the process", async () => {
    const c = (cluster = await ScriptedCluster.start());
    const dropped = dropLinkAt(c, 0, "migrate-ack"); // the ack of the second hop, home (the first kernel 0 sends)
    const pid = await c.exec(0, "hello", ["2"]);
    const exit = await c.exit(pid);
    await dropped;
    expect(exit).toMatchObject({ status: 0 });
    expect(c.output(pid)).toEqual(["Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "hops = 2"]);
    expect(c.logs[0]!.join("\n"), "the thread ran on kernel 0").toMatch(/migrated in from kernel 1/);
    expect(c.logs[1]!.join("\n")).toMatch(/migration to kernel 0 lost its destination \(link dropped \(test\)\) — staying on kernel 1/);
    expect(c.logs[1]!.join("\n")).toMatch(/dropped: its origin, kernel 0, went away/);
  });
});
