// The TCP transport (host/msg/tcp.ts): kernels on loopback ports link every
// pair once, deliver messages in order with the sender's id, notice a peer
// leave and come back (and do not take their own process's stop for a silent peer), hand clients to onClient (with heartbeats for those
// that ask), refuse strangers with a logged reason, and shrug off a flood of
// malformed frames while still serving real peers.
import { encode } from "@msgpack/msgpack";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Address,
  clusterDigest,
  connectAuthenticated,
  encodeMessage,
  type FramedConnection,
  type Hello,
  type KernelMessage,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  MessageRing,
  TcpTransport,
  type TcpTransportOptions,
  TransportError,
} from "../../host/msg/index.js";
import { concat, frame, freePorts, Opened, rawClient, until } from "./net-helpers.js";

const opened = new Opened();
afterEach(() => opened.closeAll());

const KEY = new TextEncoder().encode("cluster-key-for-the-tcp-tests-0123456789");
const ISAS = ["x86-64", "aarch64", "x86-64"];

interface K {
  t: TcpTransport;
  log: string[];
  got: { from: number; msg: KernelMessage }[];
  errors: { from: number; error: Error }[];
  ups: number[];
  downs: { peer: number; reason: string }[];
  clients: { conn: FramedConnection; hello: Hello }[];
}

async function kernel(id: number, peers: Address[], extra: Partial<TcpTransportOptions> = {}): Promise<K> {
  const k: Omit<K, "t"> = { log: [], got: [], errors: [], ups: [], downs: [], clients: [] };
  const t = await TcpTransport.start({
    self: id,
    peers,
    key: KEY,
    isa: ISAS[id] ?? "x86-64",
    log: (line) => k.log.push(line),
    onPeerUp: (p) => k.ups.push(p),
    onPeerDown: (peer, reason) => k.downs.push({ peer, reason }),
    reconnectMaxMs: 200,
    ...extra,
  });
  opened.add(t);
  t.onMessage((from, msg) => k.got.push({ from, msg }));
  t.onError((from, error) => k.errors.push({ from, error }));
  return { ...k, t };
}

async function addresses(n: number): Promise<Address[]> {
  return (await freePorts(n)).map((port) => ({ host: "127.0.0.1", port }));
}

const allUp = (ks: K[]) => ks.every((k) => k.t.peers.filter((p) => ks.some((o) => o.t.self === p)).every((p) => k.t.up(p)));

const line = (from: number, i: number): KernelMessage => ({ t: "output", pid: from * 100_000 + i, stream: 1, line: `line ${i} from kernel ${from}` });
const page = (seed: number) => Uint8Array.from({ length: 4096 }, (_, i) => (i + seed) & 0xff);

/** A mixed stream from kernel `from`: small and page-carrying messages, numbered so order shows. */
function stream(from: number, n: number): KernelMessage[] {
  return Array.from({ length: n }, (_, i): KernelMessage =>
    i % 3 === 2 ? { t: "program", hash: String(from * 100_000 + i), name: "p.wasm", bytes: page(i) } : line(from, i),
  );
}

const numbered = (m: KernelMessage) => (m.t === "program" ? Number(m.hash) : "pid" in m ? m.pid : -1);

/** A fake kernel `id` of the cluster `peers` that dials `to` itself: what a fuzzer or a broken peer would be. */
async function impostor(peers: Address[], id: number, to: number): Promise<FramedConnection> {
  const { conn } = await connectAuthenticated(peers[to]!, KEY, { role: "kernel", id, isa: "x86-64", cluster: clusterDigest(peers) });
  opened.add(conn);
  conn.onFrame(() => {});
  return conn;
}

describe("links", () => {
  it("links three kernels pairwise and delivers what each sends in order, with the sender's id", async () => {
    const peers = await addresses(3);
    const ks = await Promise.all([0, 1, 2].map((id) => kernel(id, peers)));
    await until("all linked", () => allUp(ks));
    for (const k of ks) for (const to of k.t.peers) for (const m of stream(k.t.self, 300)) k.t.send(to, m);
    await until("all delivered", () => ks.every((k) => k.got.length === 600));
    for (const k of ks) {
      for (const from of k.t.peers) {
        const mine = k.got.filter((g) => g.from === from).map((g) => numbered(g.msg));
        expect(mine).toEqual(stream(from, 300).map(numbered));
      }
      const prog = k.got.find((g) => g.msg.t === "program")!.msg as { bytes: Uint8Array };
      expect(prog.bytes.length).toBe(4096);
      // one connection per pair: each link came up once
      expect(k.ups.sort()).toEqual(k.t.peers);
      expect(k.errors).toEqual([]);
    }
    expect(ks[0]!.t.peerHello(1)).toMatchObject({ role: "kernel", id: 1, isa: "aarch64", arch: process.arch });
    expect(ks[2]!.t.stats().sent.messages).toBe(600);
    expect(ks[2]!.t.stats().received.messages).toBe(600);
  });

  it("reconnects a peer that stops and restarts, and delivers later messages", async () => {
    const peers = await addresses(3);
    const ks = await Promise.all([0, 1, 2].map((id) => kernel(id, peers)));
    await until("all linked", () => allUp(ks));
    const [, k1, k2] = ks as [K, K, K];

    // the lowest id leaves: the others redial it until it is back
    ks[0]!.t.close();
    await until("kernel 0 seen down", () => k1.downs.length === 1 && k2.downs.length === 1);
    expect(k1.downs[0]!.peer).toBe(0);
    expect(k1.downs[0]!.reason).toMatch(/peer closed|ECONNRESET/);
    expect(k1.t.up(0)).toBe(false);
    await new Promise((r) => setTimeout(r, 150));
    const k0 = await kernel(0, peers);
    await until("kernel 0 back", () => k0.t.up(1) && k0.t.up(2) && k1.t.up(0) && k2.t.up(0));
    expect(k1.ups.filter((p) => p === 0)).toHaveLength(2);
    k1.t.send(0, line(1, 1));
    k0.t.send(2, line(0, 2));
    await until("delivered after the restart", () => k0.got.length === 1 && k2.got.some((g) => g.from === 0));
    expect(k0.got[0]).toMatchObject({ from: 1, msg: line(1, 1) });
    expect(k1.log.some((l) => /kernel 0 not reached: 127\.0\.0\.1:\d+: connection refused/.test(l))).toBe(true);

    // the highest id leaves: it dials the others itself when it is back
    k2.t.close();
    await until("kernel 2 seen down", () => k0.downs.some((d) => d.peer === 2) && k1.downs.some((d) => d.peer === 2));
    const k2b = await kernel(2, peers);
    await until("kernel 2 back", () => k2b.t.up(0) && k2b.t.up(1) && k0.t.up(2) && k1.t.up(2));
    k2b.t.send(1, line(2, 3));
    await until("delivered", () => k1.got.some((g) => g.from === 2));
  });

  it("throws, naming the peer and why, on a send to a kernel that is down — before it came up and after it left", async () => {
    const peers = await addresses(2);
    const k0 = await kernel(0, peers);
    expect(() => k0.t.send(1, line(0, 1))).toThrow(TransportError);
    expect(() => k0.t.send(1, line(0, 1))).toThrow(`kernel 1 (${peers[1]!.host}:${peers[1]!.port}) is down: not connected yet — not sent`);
    expect(() => k0.t.send(7, line(0, 1))).toThrow("kernel 0 has no link to kernel 7 (peers: 1)");
    const k1 = await kernel(1, peers);
    await until("linked", () => k0.t.up(1));
    k1.t.close();
    await until("down", () => !k0.t.up(1));
    expect(() => k0.t.send(1, line(0, 1))).toThrow(/kernel 1 \(.*\) is down: (peer closed|socket error ECONNRESET) — not sent/);
    k0.t.close();
    expect(() => k0.t.send(1, line(0, 1))).toThrow(/transport is closed/);
  });

  it("copies a message from a ring and releases its buffer", async () => {
    const peers = await addresses(2);
    const [k0, k1] = await Promise.all([kernel(0, peers), kernel(1, peers)]);
    await until("linked", () => k0.t.up(1));
    const ring = new MessageRing(1 << 16);
    const bytes = encodeMessage(line(0, 5), (n) => ring.reserve(n)!);
    expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    k0.t.sendEncoded(1, bytes);
    expect(new Int32Array(bytes.buffer, bytes.byteOffset - 8, 2)[1]).toBe(0); // released
    await until("delivered", () => k1.got.length === 1);
    expect(k1.got[0]!.msg).toEqual(line(0, 5));
  });

  it("hands a received message over in a buffer of its own (the kernel may transfer it)", async () => {
    const peers = await addresses(2);
    const [k0, k1] = await Promise.all([kernel(0, peers), kernel(1, peers)]);
    await until("linked", () => k0.t.up(1));
    const raws: Uint8Array[] = [];
    k1.t.onMessage((_, __, raw) => raws.push(raw));
    for (let i = 0; i < 20; i++) k0.t.send(1, line(0, i));
    await until("delivered", () => raws.length === 20);
    for (const r of raws) expect(r.byteOffset === 0 && r.buffer.byteLength === r.length).toBe(true);
  });

  it("says once which higher kernels never connected: two kernels with the same addresses in another --peers order wait for each other in silence", async () => {
    const [a, b] = await addresses(2);
    const fast = { heartbeatMs: 40, deadAfterMs: 300 };
    // each thinks it is kernel 0 and waits for the other to dial
    const [k0, k0b] = await Promise.all([kernel(0, [a!, b!], fast), kernel(0, [b!, a!], fast)]);
    await until("both said it", () => [k0, k0b].every((k) => k.log.some((l) => /has not connected/.test(l))), 3000);
    expect(k0.log.filter((l) => /has not connected/.test(l))).toEqual([
      `kernel 1 (${b!.host}:${b!.port}) has not connected in 0.3 s — it dials this kernel (0 of 2): is it running, with this same --peers list in this same order?`,
    ]);
    // kernels that did link say nothing of it
    const peers = await addresses(2);
    const linked = await Promise.all([kernel(0, peers, fast), kernel(1, peers, fast)]);
    await until("linked", () => allUp(linked));
    await new Promise((r) => setTimeout(r, 500));
    for (const k of linked) expect(k.log.filter((l) => /has not connected/.test(l))).toEqual([]);
  });

  it("declares a silent peer down after deadAfterMs, and keeps idle links up with heartbeats", async () => {
    const peers = await addresses(3);
    const fast = { heartbeatMs: 40, deadAfterMs: 600 };
    const [k0, k1] = await Promise.all([kernel(0, peers, fast), kernel(1, peers, fast)]);
    const silent = await impostor(peers, 2, 0);
    silent.pause(); // reads nothing, sends nothing
    await until("kernel 2 down", () => k0.downs.some((d) => d.peer === 2), 3000);
    expect(k0.downs.find((d) => d.peer === 2)!.reason).toMatch(/^no word from kernel 2 for 0\.\d s \(heartbeat\)$/);
    expect(k0.t.up(1) && k1.t.up(0)).toBe(true); // idle for as long, but heartbeats flowed
    expect(k0.downs.some((d) => d.peer === 1)).toBe(false);
  });

  it("does not declare its peers down when its own process did not run for deadAfterMs (stopped, then continued)", async () => {
    const peers = await addresses(2);
    const fast = { heartbeatMs: 40, deadAfterMs: 400 };
    const ks = await Promise.all([kernel(0, peers, fast), kernel(1, peers, fast)]);
    await until("linked", () => allUp(ks));
    for (let round = 0; round < 2; round++) {
      // block from the check phase: the heartbeat timers then run before the sockets are read, as in a process that was SIGSTOPped
      await new Promise((r) => setImmediate(r));
      const end = Date.now() + fast.deadAfterMs + 200;
      while (Date.now() < end) {
        // this thread — both kernels — does not run
      }
      await new Promise((r) => setTimeout(r, 3 * fast.heartbeatMs)); // their ticks after the wake-up, and heartbeats
    }
    for (const k of ks) expect(k.downs, k.log.join("\n")).toEqual([]);
    expect(allUp(ks)).toBe(true);
    expect(ks[0]!.log.some((l) => /heartbeat timer ran \d+\.\d s late/.test(l))).toBe(true);
  });

  it("replaces a peer's old link when it connects again", async () => {
    const peers = await addresses(3);
    const k0 = await kernel(0, peers);
    const first = await impostor(peers, 2, 0);
    await until("up", () => k0.t.up(2));
    const firstClosed = new Promise<string>((r) => first.onClose(r));
    await impostor(peers, 2, 0);
    expect(await firstClosed).toBe("peer closed");
    await until("down then up", () => k0.ups.length === 2);
    expect(k0.downs).toEqual([{ peer: 2, reason: "replaced by a new connection" }]);
    expect(k0.t.up(2)).toBe(true);
  });

  it("closes everything it opened: no socket, server or timer is left", async () => {
    const resources = () => process.getActiveResourcesInfo().filter((r) => r.startsWith("TCP") || r === "Timeout").sort();
    await until("the earlier tests' sockets closed", () => resources().length === 0);
    const before = resources();
    const peers = await addresses(3);
    const ks = await Promise.all([0, 1].map((id) => kernel(id, peers, { heartbeatMs: 20 })));
    await until("linked", () => allUp(ks));
    // kernel 1 keeps redialling the missing kernel 0… no: kernel 2 is missing, and nobody dials a higher id; make one redial:
    ks[0]!.t.close();
    await until("down", () => !ks[1]!.t.up(0));
    await new Promise((r) => setTimeout(r, 60)); // a redial timer is pending now
    ks[1]!.t.close();
    try {
      await until("all handles gone", () => JSON.stringify(resources()) === JSON.stringify(before), 2000);
    } catch (e) {
      throw new Error(`${(e as Error).message}: before ${before.join(",")}; after ${resources().join(",")}`);
    }
  });
});

describe("clients", () => {
  it("hands an authenticated client connection to onClient, frames both ways", async () => {
    const peers = await addresses(1);
    const clients: { conn: FramedConnection; hello: Hello }[] = [];
    const k0 = await kernel(0, peers, { onClient: (conn, hello) => clients.push({ conn, hello }) });
    const { conn, peer } = await connectAuthenticated(peers[0]!, KEY, { role: "client", id: 99 });
    opened.add(conn);
    expect(peer).toMatchObject({ role: "kernel", id: 0, isa: "x86-64" });
    await until("client handed over", () => clients.length === 1);
    expect(clients[0]!.hello).toEqual({ role: "client", id: 99 });
    const atKernel: string[] = [];
    const atClient: string[] = [];
    clients[0]!.conn.onFrame((p) => {
      atKernel.push(Buffer.from(p).toString());
      clients[0]!.conn.send(Buffer.from("pong"));
    });
    conn.onFrame((p) => atClient.push(Buffer.from(p).toString()));
    conn.send(Buffer.from("ping"));
    await until("round trip", () => atClient.length === 1);
    expect([atKernel, atClient]).toEqual([["ping"], ["pong"]]);
    expect(k0.t.peers).toEqual([]);
  });

  it("logs a client handler or onPeerUp that throws, and goes on serving", async () => {
    const peers = await addresses(2);
    const k0 = await kernel(0, peers, {
      onClient: () => {
        throw new Error("client handler bug");
      },
      onPeerUp: () => {
        throw new Error("peer-up bug");
      },
    });
    const k1 = await kernel(1, peers);
    const { conn } = await connectAuthenticated(peers[0]!, KEY, { role: "client", id: 1 });
    opened.add(conn);
    await until("both logged", () => k0.log.some((l) => l.includes("client handler bug")) && k0.log.some((l) => l.includes("peer-up bug")));
    expect(k0.log.find((l) => l.includes("client handler bug"))).toMatch(/^the client handler for 127\.0\.0\.1:\d+ failed: Error: client handler bug/);
    k1.t.send(0, line(1, 1));
    await until("still delivers", () => k0.got.length === 1);
  });

  it("sends heartbeats to a client that asks for them in its hello, and none to one that does not", async () => {
    const peers = await addresses(1);
    const clients: FramedConnection[] = [];
    await kernel(0, peers, { heartbeatMs: 40, onClient: (conn) => clients.push(conn) });
    const beats = [0, 0];
    for (const [i, hello] of [{ role: "client", id: 1, heartbeats: true }, { role: "client", id: 2 }].entries()) {
      const { conn, peer } = await connectAuthenticated(peers[0]!, KEY, hello as Hello);
      opened.add(conn);
      expect(peer.heartbeatMs).toBe(40); // the kernel says how often it beats: the client sizes its bound on it
      conn.onFrame((p) => {
        if (p.length === 0) beats[i]!++;
      });
    }
    await until("both clients handed over", () => clients.length === 2);
    for (const c of clients) c.onFrame(() => {});
    await until("4 beats to the client that asked", () => beats[0]! >= 4);
    expect(beats[1]).toBe(0); // a client from before heartbeats closed on an empty frame
  });

  it("queues no heartbeats behind bytes a client has not read (a stopped client would collect them for ever)", async () => {
    const peers = await addresses(1);
    const clients: FramedConnection[] = [];
    await kernel(0, peers, { heartbeatMs: 10, onClient: (conn) => clients.push(conn) });
    const { conn } = await connectAuthenticated(peers[0]!, KEY, { role: "client", id: 1, heartbeats: true });
    opened.add(conn); // and never reads: no onFrame, its socket stays paused
    await until("the client handed over", () => clients.length === 1);
    const k = clients[0]!;
    k.send(new Uint8Array(32 << 20)); // more than the sockets' buffers take
    await new Promise((r) => setTimeout(r, 100));
    const waiting = k.bufferedBytes();
    expect(waiting).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500)); // 50 heartbeat periods
    expect(k.bufferedBytes()).toBeLessThanOrEqual(waiting);
  });

  it("refuses clients when it has no onClient, telling the client why", async () => {
    const peers = await addresses(1);
    const k0 = await kernel(0, peers);
    await expect(connectAuthenticated(peers[0]!, KEY, { role: "client", id: 1 })).rejects.toThrow(/refused us: this kernel takes no client connections/);
    await until("logged", () => k0.log.some((l) => l.includes("refused") && l.includes("this kernel takes no client connections")));
  });
});

describe("refusals, logged with the reason", () => {
  it("refuses a wrong key, garbage, another version, an oversized length before the handshake, and kernels that do not fit the list", async () => {
    const peers = await addresses(3);
    const k0 = await kernel(0, peers);
    const logged = (re: RegExp) => until(`a log line matching ${re}`, () => k0.log.some((l) => re.test(l)));

    await expect(connectAuthenticated(peers[0]!, new Uint8Array(32).fill(7), { role: "kernel", id: 1, cluster: clusterDigest(peers) })).rejects.toThrow(/wrong key/);
    await logged(/^refused 127\.0\.0\.1:\d+: .*\(kernel 1\) has the wrong key/);

    const s1 = await rawClient(opened, peers[0]!.port);
    s1.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3)); // a frame length, where a hello belongs
    await logged(/^refused .*: .* is not popcorn: it sent ff ff ff ff 01 02 03/);

    const s2 = await rawClient(opened, peers[0]!.port);
    s2.write(Uint8Array.of(0x50, 0x43, 0x52, 0x4e, 9, 0));
    await logged(new RegExp(`^refused .*speaks popcorn protocol version 9, this side speaks version ${PROTOCOL_VERSION}`));

    await expect(connectAuthenticated(peers[0]!, KEY, { role: "kernel", id: 5, cluster: clusterDigest(peers) })).rejects.toThrow(/kernel 5 is not in this kernel's peer list/);
    await expect(connectAuthenticated(peers[0]!, KEY, { role: "kernel", id: 1, cluster: "0123456789abcdef" })).rejects.toThrow(/kernel 1 has a different peer list .* give every kernel the same --peers list/);
    await logged(/refused .*has a different peer list/);

    // kernel 1 is listening, and kernel 0 dials it as "kernel 0": the lower id must not dial
    const k1 = await kernel(1, peers);
    await expect(connectAuthenticated(peers[1]!, KEY, { role: "kernel", id: 0, cluster: clusterDigest(peers) })).rejects.toThrow(/kernel 0 dialled kernel 1, but the higher id dials the lower/);
    await until("the real pair linked", () => k0.t.up(1) && k1.t.up(0));
  });

  it("refuses a kernel started with another key, and keeps trying (logging once) until it is fixed", async () => {
    const peers = await addresses(2);
    const k0 = await kernel(0, peers);
    const k1 = await kernel(1, peers, { key: new Uint8Array(32).fill(1) });
    await until("refused", () => k1.log.some((l) => /kernel 0 not reached: .*refused us: wrong key/.test(l)));
    await new Promise((r) => setTimeout(r, 300));
    expect(k1.log.filter((l) => l.includes("not reached"))).toHaveLength(1);
    expect(k0.t.up(1)).toBe(false);
  });
});

describe("fuzz", () => {
  /** xorshift32: reproducible garbage (the seed is in the test name). */
  function prng(seed: number) {
    let x = seed >>> 0 || 1;
    const next = () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x;
    };
    return {
      int: (n: number) => next() % n,
      bytes: (n: number) => {
        const b = new Uint8Array(n);
        for (let i = 0; i < n; i++) b[i] = next() & 0xff;
        return b;
      },
    };
  }

  const SEED = 20240611;
  const real = encodeMessage({ t: "program", hash: "h", name: "p.wasm", bytes: new Uint8Array(2000).fill(3) });

  /** One malformed payload (never empty: an empty frame is a heartbeat). */
  function malformed(r: ReturnType<typeof prng>): Uint8Array {
    switch (r.int(8)) {
      case 0:
        return r.bytes(1 + r.int(64)); // random bytes
      case 1: {
        const b = r.bytes(4 + r.int(32)); // a header length that points past the end
        new DataView(b.buffer).setUint32(0, 1000 + r.int(1 << 30), true);
        return b;
      }
      case 2: {
        const h = encode({ t: `nope${r.int(5)}`, pid: r.int(100) }); // well-formed, unknown type
        return concat([Uint8Array.of(h.length, 0, 0, 0), h]);
      }
      case 3: {
        const h = encode([r.int(9), "not an object"]);
        return concat([Uint8Array.of(h.length, 0, 0, 0), h]);
      }
      case 4:
        return real.subarray(0, 5 + r.int(real.length - 1000)); // a real message cut short: the blob points outside
      case 5: {
        const b = real.slice(); // a real message with its header scribbled on
        for (let i = 0; i < 4; i++) b[4 + r.int(40)] = r.int(256);
        return b.subarray(0, 4 + r.int(60));
      }
      case 6:
        return r.int(16) === 0 ? r.bytes(1000 + r.int(60_000)) : r.bytes(64 + r.int(1000)); // bigger random payloads
      default: {
        const b = new Uint8Array(4 + r.int(8)); // header length 0..n, then nothing or junk
        b[0] = r.int(b.length);
        return b;
      }
    }
  }

  it(`survives 100,000 malformed frames on authenticated links and garbage on its port, and still serves its peers (seed ${SEED})`, async () => {
    const r = prng(SEED);
    const peers = await addresses(3);
    const [k0, k1] = await Promise.all([kernel(0, peers, { maxPendingHandshakes: 1000 }), kernel(1, peers)]);
    await until("linked", () => k0.t.up(1) && k1.t.up(0));

    // authenticated as kernel 2, ten links in turn, 10,000 bad frames each, then one good message
    const FRAMES = 100_000;
    const PER_LINK = 10_000;
    for (let c = 0; c < FRAMES / PER_LINK; c++) {
      const conn = await impostor(peers, 2, 0);
      conn.onFrame(() => {});
      const batch: Uint8Array[] = [];
      for (let i = 0; i < PER_LINK; i++) batch.push(malformed(r));
      for (const p of batch) conn.send(p);
      conn.send(encodeMessage(line(2, c)));
      await until(`good message ${c} after the garbage`, () => k0.got.some((g) => g.from === 2 && numbered(g.msg) === 200_000 + c), 20_000);
      // end the link in one of three bad ways: mid-frame, a length above the maximum, or garbage then a reset
      const sock = (conn as unknown as { socket: import("node:net").Socket }).socket;
      const how = c % 3;
      if (how === 0) {
        const head = new Uint8Array(4); // any length up to the maximum, then a little of it and the end
        new DataView(head.buffer).setUint32(0, 1001 + r.int(MAX_FRAME_BYTES - 1000), true);
        sock.end(concat([head, r.bytes(r.int(1000))]));
      }
      else if (how === 1) sock.write(Uint8Array.of(0xff, 0xff, 0xff, 0xf0));
      else sock.write(concat([Uint8Array.of(0x10, 0, 0, 0), r.bytes(7)]));
      if (how !== 0) await new Promise((res) => setTimeout(res, 5));
      if (how === 2) sock.resetAndDestroy?.() ?? sock.destroy();
      await until("kernel 2 down", () => !k0.t.up(2) || k0.downs.length > c);
    }
    const bad = k0.errors.filter((e) => e.from === 2).length;
    const good = (g: { msg: KernelMessage }) => g.msg.t === "output" && /^line \d+ from kernel 2$/.test(g.msg.line);
    const odd = k0.got.filter((g) => g.from === 2 && !good(g)).length; // garbage that happened to decode
    expect(bad + odd).toBe(FRAMES);
    expect(bad).toBeGreaterThan(FRAMES * 0.99);
    expect(k0.log.some((l) => /link to kernel 2 down: peer closed mid-frame/.test(l))).toBe(true);
    expect(k0.log.some((l) => l.includes(`link to kernel 2 down: frame of 4043309055 bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`))).toBe(true);

    // garbage on the raw port, before any handshake: 600 connections, 20 at a time
    const hello1 = () => {
      const text = Buffer.from(JSON.stringify({ role: "kernel", id: 2, cluster: clusterDigest(peers) }));
      return concat([Uint8Array.of(0x50, 0x43, 0x52, 0x4e, PROTOCOL_VERSION, 0, text.length, 0), r.bytes(32), text]);
    };
    const garbage = (): Uint8Array => {
      switch (r.int(5)) {
        case 0:
          return r.bytes(1 + r.int(2000));
        case 1:
          return concat([Uint8Array.of(0x50, 0x43, 0x52, 0x4e), r.bytes(r.int(200))]);
        case 2:
          return concat([Uint8Array.of(0x50, 0x43, 0x52, 0x4e, PROTOCOL_VERSION, 0), r.bytes(r.int(1200))]);
        case 3:
          return concat([hello1(), r.bytes(r.int(100))]); // a hello, then no proof worth the name
        default:
          return frame(r.bytes(r.int(100))); // a frame where a hello belongs
      }
    };
    let closedByKernel = 0;
    const RAW = 600;
    for (let c = 0; c < RAW; c += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const s = await rawClient(opened, peers[0]!.port);
          s.resume();
          const done = new Promise<void>((res) => s.once("close", () => res()));
          s.write(garbage());
          const t = setTimeout(() => s.destroy(), 50); // a partial hello would wait for the handshake timeout: hang up instead
          await done;
          clearTimeout(t);
          closedByKernel++;
        }),
      );
    }
    expect(closedByKernel).toBe(RAW);
    await until("refusal summary", () => k0.log.some((l) => /^… and \d+ more connections refused$/.test(l)), 3000);
    expect(k0.log.some((l) => /^refused 127\.0\.0\.1:\d+: .*is not popcorn/.test(l))).toBe(true);

    // still up, still serving the real peer, both ways
    expect(k0.t.up(1) && k1.t.up(0)).toBe(true);
    expect(k0.downs.some((d) => d.peer === 1) || k1.downs.length > 0).toBe(false);
    k1.t.send(0, line(1, 1));
    k0.t.send(1, line(0, 1));
    await until("real messages after the fuzz", () => k0.got.some((g) => g.from === 1) && k1.got.some((g) => g.from === 0));
    expect(k1.errors).toEqual([]);
  });
});
