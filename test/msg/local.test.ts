// The local transport (host/msg/local.ts) over MessageChannel pairs inside
// this one thread: what a kernel sends arrives in order with its sender's id,
// is counted, and an unknown destination or a closed link fails cleanly.
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { LocalTransport, TransportError, decodeMessage, encodeMessage, type KernelMessage } from "../../host/msg/index.js";

const channels: MessageChannel[] = [];
const transports: LocalTransport[] = [];

afterEach(() => {
  for (const t of transports.splice(0)) t.close();
  for (const ch of channels.splice(0)) {
    ch.port1.close();
    ch.port2.close();
  }
});

/** `n` kernels, every pair linked by its own MessageChannel, as EmbeddedKernels links them. */
function linked(n: number): LocalTransport[] {
  const links: Map<number, MessagePort>[] = Array.from({ length: n }, () => new Map());
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const ch = new MessageChannel();
      channels.push(ch);
      links[a]!.set(b, ch.port1);
      links[b]!.set(a, ch.port2);
    }
  }
  const ts = links.map((ports, id) => new LocalTransport(id, ports));
  transports.push(...ts);
  return ts;
}

interface Received {
  from: number;
  msg: KernelMessage;
  raw: Uint8Array;
}

function inbox(t: LocalTransport): Received[] {
  const got: Received[] = [];
  t.onMessage((from, msg, raw) => got.push({ from, msg, raw: raw.slice() }));
  return got;
}

async function until(what: string, done: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 50));

const page = (seed: number) => Uint8Array.from({ length: 4096 }, (_, i) => (i + seed) & 0xff);

/** A mixed stream of messages from kernel `from`, numbered by pid so that order is visible. */
function stream(from: number, n: number): KernelMessage[] {
  return Array.from({ length: n }, (_, i): KernelMessage => {
    const pid = from * 1000 + i;
    switch (i % 4) {
      case 0:
        return { t: "output", pid, stream: 1, line: `line ${i} from kernel ${from}` };
      case 1:
        return { t: "signal", pid, signo: 35, hops: 0 };
      case 2:
        return { t: "program", hash: "0".repeat(64), name: "p.wasm", bytes: page(i) };
      default:
        return { t: "exit", pid, status: i & 0xff };
    }
  });
}

describe("delivery", () => {
  it("delivers messages in the order they were sent, each with its sender's id", async () => {
    const [k0, k1, k2] = linked(3);
    const got = inbox(k1!);
    const a = stream(0, 40);
    const c = stream(2, 40);
    for (let i = 0; i < 40; i++) {
      k0!.send(1, a[i]!);
      k2!.send(1, c[i]!);
    }
    await until("80 messages at kernel 1", () => got.length === 80);
    expect(got.filter((r) => r.from === 0).map((r) => r.msg)).toEqual(a);
    expect(got.filter((r) => r.from === 2).map((r) => r.msg)).toEqual(c);
    expect(got.every((r) => r.from === 0 || r.from === 2)).toBe(true);
  });

  it("carries both directions of a link independently", async () => {
    const [k0, k1] = linked(2);
    const at0 = inbox(k0!);
    const at1 = inbox(k1!);
    k0!.send(1, { t: "reap", pid: 1 });
    k1!.send(0, { t: "reap", pid: 2 });
    await until("one message each way", () => at0.length === 1 && at1.length === 1);
    expect(at1[0]).toMatchObject({ from: 0, msg: { t: "reap", pid: 1 } });
    expect(at0[0]).toMatchObject({ from: 1, msg: { t: "reap", pid: 2 } });
  });

  it("hands the handler the very bytes encodeMessage made, decodable again", async () => {
    const [k0, k1] = linked(2);
    const got = inbox(k1!);
    const m: KernelMessage = { t: "program", hash: "a".repeat(64), name: "big.wasm", bytes: page(3) };
    const expected = encodeMessage(m);
    k0!.send(1, m);
    await until("the message", () => got.length === 1);
    expect(Buffer.from(got[0]!.raw).equals(Buffer.from(expected))).toBe(true);
    expect(decodeMessage(got[0]!.raw, "kernel 0")).toEqual(m);
  });

  it("sendEncoded carries bytes encoded elsewhere, a plain buffer or a shared one, unchanged", async () => {
    const [k0, k1] = linked(2);
    const got = inbox(k1!);
    const m: KernelMessage = { t: "output", pid: 9, stream: 2, line: "from a shared buffer" };
    const plain = encodeMessage(m);
    const shared = new Uint8Array(new SharedArrayBuffer(plain.length + 64), 32, plain.length);
    shared.set(plain);
    k0!.sendEncoded(1, encodeMessage(m));
    k0!.sendEncoded(1, shared);
    await until("two messages", () => got.length === 2);
    expect(got.map((r) => r.msg)).toEqual([m, m]);
  });
});

describe("stats", () => {
  it("count messages and bytes on the sending and the receiving side", async () => {
    const [k0, k1] = linked(2);
    const got = inbox(k1!);
    const msgs = stream(0, 10);
    const bytes = msgs.reduce((n, m) => n + encodeMessage(m).length, 0);
    for (const m of msgs) k0!.send(1, m);
    await until("10 messages", () => got.length === 10);
    expect(k0!.stats()).toEqual({ sent: { messages: 10, bytes }, received: { messages: 0, bytes: 0 } });
    expect(k1!.stats()).toEqual({ sent: { messages: 0, bytes: 0 }, received: { messages: 10, bytes } });
  });

  it("are a snapshot: changing the returned object changes nothing in the transport", () => {
    const [k0] = linked(2);
    k0!.send(1, { t: "reap", pid: 1 });
    const s = k0!.stats();
    s.sent.messages = 99;
    expect(k0!.stats().sent.messages).toBe(1);
  });
});

describe("links", () => {
  it("lists its peers in order, not itself, and says it is local", () => {
    const ch1 = new MessageChannel();
    const ch2 = new MessageChannel();
    channels.push(ch1, ch2);
    const t = new LocalTransport(1, new Map([[2, ch1.port1], [0, ch2.port1]]));
    transports.push(t);
    expect(t.self).toBe(1);
    expect(t.peers).toEqual([0, 2]);
    expect(t.kind).toBe("local");
  });

  it("sending to a kernel it has no link to throws a TransportError naming the known peers", () => {
    const [k0] = linked(3);
    expect(() => k0!.send(7, { t: "reap", pid: 1 })).toThrow(TransportError);
    expect(() => k0!.send(7, { t: "reap", pid: 1 })).toThrow(/kernel 0 has no link to kernel 7 \(peers: 1, 2\)/);
    expect(() => k0!.sendEncoded(0, encodeMessage({ t: "reap", pid: 1 }))).toThrow(/no link to kernel 0 \(peers: 1, 2\)/);
    expect(k0!.stats().sent.messages, "a refused message is not counted").toBe(0);
  });

  it("a kernel with no peers says so", () => {
    const alone = new LocalTransport(0, new Map());
    transports.push(alone);
    expect(() => alone.send(1, { t: "reap", pid: 1 })).toThrow(/\(peers: none\)/);
  });
});

describe("close", () => {
  it("stops delivery, even of a message already on its way, without throwing", async () => {
    const [k0, k1] = linked(2);
    const got = inbox(k1!);
    k0!.send(1, { t: "reap", pid: 1 });
    expect(() => k1!.close()).not.toThrow();
    await settle();
    expect(() => k0!.send(1, { t: "reap", pid: 2 }), "sending to a closed link").not.toThrow();
    await settle();
    expect(got).toEqual([]);
  });

  it("can be called twice, and a closed transport's own sends go nowhere without throwing", async () => {
    const [k0, k1] = linked(2);
    const got = inbox(k1!);
    k0!.close();
    expect(() => k0!.close()).not.toThrow();
    expect(() => k0!.send(1, { t: "reap", pid: 3 })).not.toThrow();
    await settle();
    expect(got).toEqual([]);
  });
});

describe("bad messages", () => {
  it("are dropped and reported, and the link goes on delivering", async () => {
    const [a, b] = linked(2);
    const got = inbox(b!);
    const errors: string[] = [];
    b!.onError((from, e) => errors.push(`${from}: ${e.message}`));
    a!.sendEncoded(1, Uint8Array.of(1, 2, 3)); // not a message
    a!.send(1, { t: "exit", pid: 7, status: 0 });
    await until("the good message", () => got.length === 1);
    expect(got[0]!.msg).toEqual({ t: "exit", pid: 7, status: 0 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^0: message from kernel 0 /);
  });

  it("a handler that throws is reported, not fatal", async () => {
    const [a, b] = linked(2);
    const errors: string[] = [];
    let n = 0;
    b!.onMessage(() => {
      if (n++ === 0) throw new Error("handler bug");
    });
    b!.onError((_from, e) => errors.push(e.message));
    a!.send(1, { t: "reap", pid: 1 });
    a!.send(1, { t: "reap", pid: 2 });
    await until("both messages", () => n === 2);
    expect(errors).toEqual(["handler bug"]);
  });
});
