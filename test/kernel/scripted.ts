// Kernels of this thread on a scripted transport, for tests of races and
// faults: two (or more) real Kernel objects, each with its core workers,
// whose messages are encoded, decoded and delivered in order on the next
// turn of the event loop. A script sees every message sent while the link
// is up and may drop it or deliver it twice; taking the link down makes
// later sends throw, as the TCP transport's do for a peer that is down
// (what was sent before still arrives). The test tells the kernels of a
// drop or a restart itself, as the daemon's onPeerDown/onPeerUp would.
import { join } from "node:path";
import { stackmapBackends } from "../../host/isa/index.js";
import type { ClientReply, ClientRequest } from "../../host/kernel/client.js";
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

export const ISAS = ["x86-64", "aarch64"];

export class Link {
  up = true;
  readonly ends: ScriptedTransport[] = [];
  /** every message sent while the link is up: deliver it, drop it, or deliver it twice */
  script: (from: number, to: number, msg: KernelMessage) => "pass" | "drop" | "dup" = () => "pass";
}

export class ScriptedTransport implements Transport {
  readonly kind = "scripted";
  readonly peers: number[];
  handler: MessageHandler | undefined;

  constructor(
    readonly self: number,
    private readonly link: Link,
    kernels: number,
  ) {
    this.peers = [...Array(kernels).keys()].filter((k) => k !== self);
    link.ends[self] = this;
  }

  send(to: number, msg: KernelMessage): void {
    this.sendEncoded(to, encodeMessage(msg));
  }

  sendEncoded(to: number, bytes: Uint8Array): void {
    if (!this.link.up) throw new TransportError(`kernel ${to} is down: link dropped — not sent`);
    const copy = bytes.slice(); // a ring's buffer goes back at once, as over TCP
    releaseMessage(bytes);
    const action = this.link.script(this.self, to, decodeMessage(copy, `kernel ${this.self}`));
    if (action === "drop") return;
    // each delivery its own buffer: the receiver may hand it on and release it
    const deliver = () => {
      const own = copy.slice();
      this.link.ends[to]?.handler?.(this.self, decodeMessage(own, `kernel ${this.self}`), own);
    };
    setImmediate(deliver);
    if (action === "dup") setImmediate(deliver);
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

const programs = new Map<string, Promise<Uint8Array>>();

/** An example of assembly/examples, compiled once per test file. */
export function example(name: string): Promise<Uint8Array> {
  let p = programs.get(name);
  if (!p) {
    p = compile(join(packageRoot(), `assembly/examples/${name}.ts`), { runtime: "stub", backends: stackmapBackends() }).then((c) => c.wasm);
    programs.set(name, p);
  }
  return p;
}

export type Exit = Extract<ClientReply, { t: "exit" }>;

export class ScriptedCluster {
  readonly link = new Link();
  readonly kernels: Kernel[] = [];
  /** each kernel's dmesg lines, every life of it */
  readonly logs: string[][] = [];
  /** the time (now()) dmesg stamps count from, in seconds */
  bootAt = 0;
  /** everything the kernels told their clients */
  readonly replies: ClientReply[] = [];
  private readonly clients: ((r: ClientRequest) => void)[] = [];
  private nextReq = 1;
  private readonly waiting = new Map<number, (data: unknown) => void>();

  private constructor(
    readonly count: number,
    readonly cores: number,
  ) {}

  static async start(opts: { kernels?: number; cores?: number } = {}): Promise<ScriptedCluster> {
    const c = new ScriptedCluster(opts.kernels ?? 2, opts.cores ?? 1);
    c.bootAt = now();
    for (let id = 0; id < c.count; id++) c.boot(id, c.bootAt);
    await Promise.all(c.kernels.map((k) => k.ready));
    return c;
  }

  /** Kernel `id` as a new kernel: its old self shut down, its peer told it left and came back. */
  async restart(id: number): Promise<void> {
    this.kernels[id]!.shutdown();
    for (const k of this.kernels) if (k !== this.kernels[id]) k.peerDown(id, "restarted (test)");
    this.boot(id, now());
    await this.kernels[id]!.ready;
    for (const k of this.kernels) if (k !== this.kernels[id]) k.setIsa(id, ISAS[id % ISAS.length]!);
  }

  private boot(id: number, bootAt: number): void {
    this.logs[id] ??= [];
    const kernel = new Kernel(
      { id, isas: [...Array(this.count).keys()].map((i) => ISAS[i % ISAS.length]!), cores: this.cores, bootAt, workerFile: workerFile(), onLog: (l) => this.logs[id]!.push(l) },
      new ScriptedTransport(id, this.link, this.count),
    );
    this.kernels[id] = kernel;
    this.clients[id] = kernel.attach({
      post: (r) => {
        this.replies.push(r);
        if (r.t === "reply") this.waiting.get(r.req)?.(r.data);
      },
    });
  }

  /** Starts example `name` on kernel `k`; its pid. */
  async exec(k: number, name: string, args: string[]): Promise<number> {
    const bytes = await example(name);
    const req = this.nextReq++;
    const pid = new Promise<number>((resolve) => this.waiting.set(req, (d) => resolve(d as number)));
    this.clients[k]!({ t: "exec", req, name, bytes, args });
    return pid;
  }

  /** A request from kernel `k`'s client (a signal, say). */
  request(k: number, r: ClientRequest): void {
    this.clients[k]!(r);
  }

  /**
   * The process's exit, or "timeout" if it has not exited within `ms`.
   * `since`: look only at replies from that index of `replies` on (a pid
   * that a restarted kernel gives out again).
   */
  async exit(pid: number, ms = 20_000, since = 0): Promise<Exit | "timeout"> {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = this.replies.slice(since).find((r): r is Exit => r.t === "exit" && r.pid === pid);
      if (e) return e;
      if (Date.now() > deadline) return "timeout";
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The process's output lines, in order (from index `since` of `replies` on). */
  output(pid: number, since = 0): string[] {
    return this.replies.slice(since).flatMap((r) => (r.t === "output" && r.pid === pid ? [r.line] : []));
  }

  shutdown(): void {
    for (const k of this.kernels) k.shutdown();
  }
}
