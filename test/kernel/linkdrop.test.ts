// A migration whose acknowledgement is lost when the link drops (DESIGN.md,
// decision 5; kernel.ts peerDown): the destination took the thread and runs
// it, the source never hears so and resumes it. The process must still run
// exactly once: the kernel that is not the process's origin drops it when
// its origin goes away, and the origin's copy goes on — so every line is
// printed once, in program order, and the process exits as it would have.
//
// Two kernels of this thread, each with its core workers, joined by a
// scripted transport: messages are encoded, decoded and delivered in order
// on the next turn of the event loop; the script drops one message and
// takes the link down at that moment (later sends throw, as the TCP
// transport's do for a peer that is down; what was sent before still
// arrives), then tells both kernels, as onPeerDown would.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stackmapBackends } from "../../host/isa/index.js";
import type { ClientLink, ClientReply } from "../../host/kernel/client.js";
import { now, workerFile } from "../../host/kernel/index.js";
import { Kernel } from "../../host/kernel/kernel.js";
import {
  decodeMessage,
  encodeMessage,
  type KernelMessage,
  type MessageHandler,
  releaseMessage,
  type Transport,
  TransportError,
  type TransportStats,
} from "../../host/msg/index.js";
import { compile, packageRoot } from "../../host/toolchain/index.js";

const ISAS = ["x86-64", "aarch64"];

/** The link between the two kernels: up or down, and what the script does with each message. */
class Link {
  up = true;
  readonly ends: ScriptedTransport[] = [];
  /** called for every message sent while the link is up; true drops it */
  script: (from: number, msg: KernelMessage) => boolean = () => false;
}

class ScriptedTransport implements Transport {
  readonly kind = "scripted";
  readonly peers: number[];
  handler: MessageHandler | undefined;

  constructor(
    readonly self: number,
    private readonly link: Link,
  ) {
    this.peers = [1 - self];
    link.ends[self] = this;
  }

  send(to: number, msg: KernelMessage): void {
    this.sendEncoded(to, encodeMessage(msg));
  }

  sendEncoded(to: number, bytes: Uint8Array): void {
    if (!this.link.up) throw new TransportError(`kernel ${to} is down: link dropped — not sent`);
    const copy = bytes.slice(); // a ring's buffer goes back at once, as over TCP
    releaseMessage(bytes);
    if (this.link.script(this.self, decodeMessage(copy, `kernel ${this.self}`))) return;
    setImmediate(() => this.link.ends[to]?.handler?.(this.self, decodeMessage(copy, `kernel ${this.self}`), copy));
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  onError(): void {}

  stats(): TransportStats {
    return { sent: { messages: 0, bytes: 0 }, received: { messages: 0, bytes: 0 } };
  }

  close(): void {}
}

let kernels: Kernel[] = [];
/** each kernel's dmesg lines */
let logs: string[][] = [];
afterEach(() => {
  for (const k of kernels) k.shutdown();
  kernels = [];
});

/** Two kernels on one link; hello.ts started on kernel 0 with `hops`; its output and exit, and the link. */
async function helloOnTwoKernels(hops: number) {
  const link = new Link();
  const bootAt = now();
  logs = [[], []];
  kernels = [0, 1].map(
    (id) => new Kernel({ id, isas: ISAS, cores: 1, bootAt, workerFile: workerFile(), onLog: (l) => logs[id]!.push(l) }, new ScriptedTransport(id, link)),
  );
  await Promise.all(kernels.map((k) => k.ready));
  const wasm = (await compile(join(packageRoot(), "assembly/examples/hello.ts"), { runtime: "stub", backends: stackmapBackends() })).wasm;
  const lines: string[] = [];
  const exited = new Promise<Extract<ClientReply, { t: "exit" }>>((resolve) => {
    const client: ClientLink = {
      post: (r) => {
        if (r.t === "output") lines.push(r.line);
        if (r.t === "exit") resolve(r);
      },
    };
    const send = kernels[0]!.attach(client);
    // the link's script is set before the program starts: see each test
    queueMicrotask(() => send({ t: "exec", name: "hello", bytes: wasm, args: [String(hops)] }));
  });
  return { link, lines, exited };
}

/** Drops the `nth` message of type `t` from kernel `from`, takes the link down then, and tells both kernels on the next turn. */
function dropLinkAt(link: Link, from: number, t: KernelMessage["t"], nth = 1): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    link.script = (sender, msg) => {
      if (sender !== from || msg.t !== t || ++seen !== nth) return false;
      link.up = false;
      setImmediate(() => {
        kernels[0]!.peerDown(1, "link dropped (test)");
        kernels[1]!.peerDown(0, "link dropped (test)");
        resolve();
      });
      return true;
    };
  });
}

describe("a migration whose acknowledgement is lost as the link drops runs the process exactly once", () => {
  it("origin → other kernel: the origin resumes the thread, the other kernel drops the process", async () => {
    const { link, lines, exited } = await helloOnTwoKernels(2);
    const dropped = dropLinkAt(link, 1, "migrate-ack");
    const exit = await exited;
    await dropped;
    expect(exit.status).toBe(0);
    // kernel 1 ran the thread after the hop, but its output could not reach the origin any more;
    // the origin's copy went on from the migration point, and its next hop found the link down
    expect(lines.filter((l) => !l.startsWith("popcorn:"))).toEqual([
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 0 (x86-64)",
      "hops = 2",
    ]);
    expect(logs[1]!.join("\n"), "the thread ran on kernel 1").toMatch(/migrated in from kernel 0/);
    expect(logs[0]!.join("\n")).toMatch(/migration to kernel 1 lost its destination \(link dropped \(test\)\) — staying on kernel 0/);
    expect(logs[1]!.join("\n")).toMatch(/dropped: its origin, kernel 0, went away/);
  });

  it("other kernel → origin: the origin runs the thread on, the other kernel drops the process", async () => {
    const { link, lines, exited } = await helloOnTwoKernels(2);
    const dropped = dropLinkAt(link, 0, "migrate-ack"); // the ack of the second hop, home (the first kernel 0 sends)
    const exit = await exited;
    await dropped;
    expect(exit.status).toBe(0);
    expect(lines).toEqual(["Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "hops = 2"]);
    expect(logs[0]!.join("\n"), "the thread ran on kernel 0").toMatch(/migrated in from kernel 1/);
    expect(logs[1]!.join("\n")).toMatch(/migration to kernel 0 lost its destination \(link dropped \(test\)\) — staying on kernel 1/);
    expect(logs[1]!.join("\n")).toMatch(/dropped: its origin, kernel 0, went away/);
  });
});
