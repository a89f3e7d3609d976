// The handshake (host/msg/auth.ts): both ends prove the cluster key without
// showing it; a wrong key, another protocol version, something that is not
// popcorn at all, or silence, is refused on each side with the reason.
import { createHmac } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { connect, type Socket } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  acceptAuthenticated,
  AuthError,
  connectAuthenticated,
  type FramedConnection,
  type HandshakeOptions,
  type Hello,
  PROTOCOL_VERSION,
} from "../../host/msg/index.js";
import { concat, freePorts, listening, Opened, rawClient, until } from "./net-helpers.js";

const opened = new Opened();
afterEach(() => opened.closeAll());

const KEY = new TextEncoder().encode("0123456789abcdef0123456789abcdef");
const OTHER_KEY = new TextEncoder().encode("fedcba9876543210fedcba9876543210");
const K0: Hello = { role: "kernel", id: 0, isa: "x86-64" };
const K1: Hello = { role: "kernel", id: 1, isa: "aarch64" };

type Outcome = { conn: FramedConnection; peer: Hello } | AuthError;

/** A server that authenticates every connection with `key`; its outcomes, in order. */
async function acceptor(key: Uint8Array, self: Hello, timeoutMs = 2000, opts: HandshakeOptions = {}) {
  const outcomes: Outcome[] = [];
  const { port } = await listening(opened, (s) => {
    opened.add(s);
    acceptAuthenticated(s, key, self, timeoutMs, opts).then(
      (r) => outcomes.push(opened.add(r.conn) && r),
      (e: AuthError) => outcomes.push(e),
    );
  });
  return { port, outcomes };
}

async function connector(port: number, key: Uint8Array, self: Hello, timeoutMs = 2000, opts: HandshakeOptions = {}): Promise<Outcome> {
  try {
    const r = await connectAuthenticated({ host: "127.0.0.1", port }, key, self, timeoutMs, opts);
    opened.add(r.conn);
    return r;
  } catch (e) {
    return e as AuthError;
  }
}

function authError(o: Outcome | undefined): AuthError {
  expect(o).toBeInstanceOf(AuthError);
  return o as AuthError;
}

/** A hello record of any version, as a foreign implementation would write it. */
function helloBytes(version: number, hello: object = K1): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(hello));
  const b = new Uint8Array(40 + text.length);
  b.set([0x50, 0x43, 0x52, 0x4e]);
  new DataView(b.buffer).setUint16(4, version, true);
  new DataView(b.buffer).setUint16(6, text.length, true);
  b.set(text, 40);
  return b;
}

/** Everything `s` receives until it closes. */
function collect(s: Socket): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  s.on("data", (c: Buffer) => parts.push(c));
  return new Promise((r) => s.once("close", () => r(concat(parts))));
}

describe("the right key", () => {
  it("authenticates both ends, tells each the other's hello, and hands over a framed connection", async () => {
    const a = await acceptor(KEY, K0);
    const c = await connector(a.port, KEY, K1);
    await until("acceptor done", () => a.outcomes.length === 1);
    const atA = a.outcomes[0] as { conn: FramedConnection; peer: Hello };
    const atC = c as { conn: FramedConnection; peer: Hello };
    expect(atA.peer).toEqual(K1);
    expect(atC.peer).toEqual(K0);
    const gotA: number[] = [];
    const gotC: number[] = [];
    atA.conn.onFrame((p) => gotA.push(p[0]!));
    atC.conn.onFrame((p) => gotC.push(p[0]!));
    atC.conn.send(Uint8Array.of(1));
    atA.conn.send(Uint8Array.of(2));
    await until("frames both ways", () => gotA.length === 1 && gotC.length === 1);
    expect([gotA, gotC]).toEqual([[1], [2]]);
  });

  it("keeps frames the connector sends right after its last handshake step", async () => {
    const a = await acceptor(KEY, K0);
    const c = (await connector(a.port, KEY, K1)) as { conn: FramedConnection };
    for (let i = 0; i < 100; i++) c.conn.send(Uint8Array.of(i));
    await until("acceptor done", () => a.outcomes.length === 1);
    const got: number[] = [];
    (a.outcomes[0] as { conn: FramedConnection }).conn.onFrame((p) => got.push(p[0]!));
    await until("frames", () => got.length === 100);
    expect(got).toEqual([...Array(100).keys()]);
  });

  it("lets a client in with any id", async () => {
    const a = await acceptor(KEY, K0);
    const c = await connector(a.port, KEY, { role: "client", id: 4242 });
    expect(c).not.toBeInstanceOf(AuthError);
    await until("acceptor done", () => a.outcomes.length === 1);
    expect((a.outcomes[0] as { peer: Hello }).peer).toEqual({ role: "client", id: 4242 });
  });
});

describe("refusals", () => {
  it("refuses a wrong key on both sides, saying so", async () => {
    const a = await acceptor(KEY, K0);
    const c = authError(await connector(a.port, OTHER_KEY, K1));
    await until("acceptor done", () => a.outcomes.length === 1);
    const atA = authError(a.outcomes[0]);
    expect(atA.code).toBe("wrong-key");
    expect(atA.message).toMatch(/^127\.0\.0\.1:\d+ \(kernel 1, aarch64\) has the wrong key: its proof does not match our key — give every kernel and client the same key file$/);
    expect(c.code).toBe("wrong-key");
    expect(c.message).toBe(`127.0.0.1:${a.port} refused us: wrong key: your proof does not match our key — give every kernel and client the same key file`);
  });

  it("refuses a connector of another protocol version, naming both versions on both sides", async () => {
    const a = await acceptor(KEY, K0);
    const s = await rawClient(opened, a.port);
    const reply = collect(s);
    s.write(helloBytes(PROTOCOL_VERSION + 1));
    await until("acceptor done", () => a.outcomes.length === 1);
    const e = authError(a.outcomes[0]);
    expect(e.code).toBe("version");
    expect(e.message).toMatch(new RegExp(`speaks popcorn protocol version ${PROTOCOL_VERSION + 1}, this side speaks version ${PROTOCOL_VERSION} — run the same popcorn version`));
    // what the other side got: our hello (so it can see our version) and a REFUSE naming both
    const got = Buffer.from(await reply);
    expect(got.subarray(0, 6)).toEqual(Buffer.from([0x50, 0x43, 0x52, 0x4e, PROTOCOL_VERSION, 0]));
    expect(got.toString("latin1")).toContain(`this side speaks popcorn protocol version ${PROTOCOL_VERSION}, you speak version ${PROTOCOL_VERSION + 1}`);
  });

  it("refuses an acceptor of another protocol version, naming both versions", async () => {
    const { port } = await listening(opened, (s) => {
      opened.add(s).on("error", () => {});
      s.write(helloBytes(7, K0));
    });
    const e = authError(await connector(port, KEY, K1));
    expect(e.code).toBe("version");
    expect(e.message).toBe(`127.0.0.1:${port} speaks popcorn protocol version 7, this side speaks version ${PROTOCOL_VERSION} — run the same popcorn version on every kernel and client`);
  });

  it("refuses an HTTP request as not popcorn, showing what came", async () => {
    const a = await acceptor(KEY, K0);
    const s = await rawClient(opened, a.port);
    const reply = collect(s);
    s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await until("acceptor done", () => a.outcomes.length === 1);
    const e = authError(a.outcomes[0]);
    expect(e.code).toBe("not-popcorn");
    expect(e.message).toMatch(/is not popcorn: it sent 47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a \("GET \/ HTTP\/1\.1\.\."\) where "PCRN" was due/);
    expect((await reply).length).toBe(0); // nothing said to a stranger, not even our hello
  });

  it("refuses random bytes as not popcorn as soon as a byte is wrong", async () => {
    const a = await acceptor(KEY, K0);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }).filter((b) => b[0] !== 0x50), async (bytes) => {
        const before = a.outcomes.length;
        const s = await rawClient(opened, a.port);
        s.write(bytes);
        await until("refused", () => a.outcomes.length === before + 1);
        expect(authError(a.outcomes[before]).code).toBe("not-popcorn");
        s.destroy();
      }),
      { numRuns: 30 },
    );
  });

  it("finds an HTTP server is not popcorn", async () => {
    const http = opened.add(createHttpServer((_, res) => res.end("hello")));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const port = (http.address() as { port: number }).port;
    const e = authError(await connector(port, KEY, K1));
    expect(e.code).toBe("not-popcorn");
    expect(e.message).toContain(`127.0.0.1:${port} is not popcorn: it sent 48 54 54 50`);
    http.closeAllConnections();
  });

  it("times out a client that says nothing, and a server that says nothing", async () => {
    const a = await acceptor(KEY, K0, 150);
    const s = await rawClient(opened, a.port);
    const t0 = Date.now();
    await until("acceptor done", () => a.outcomes.length === 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    const e = authError(a.outcomes[0]);
    expect(e.code).toBe("timeout");
    expect(e.message).toMatch(/^127\.0\.0\.1:\d+: no handshake within 150 ms \(it sent nothing\)$/);
    await new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

    const { port } = await listening(opened, (sock) => opened.add(sock).on("error", () => {}));
    const c = authError(await connector(port, KEY, K1, 150));
    expect(c.code).toBe("timeout");
    // the connecting side names the address and what a silent one usually is, in one line
    expect(c.message).toBe(
      `127.0.0.1:${port}: no handshake within 150 ms (it sent nothing) — the kernel there is frozen (stopped) or overloaded, or it is not a popcorn kernel`,
    );
  });

  it("says the connection was refused when nothing listens", async () => {
    const [port] = await freePorts(1);
    const e = authError(await connector(port!, KEY, K1));
    expect(e.code).toBe("refused");
    expect(e.message).toBe(`127.0.0.1:${port}: connection refused (no kernel listens there?)`);
  });

  it("refuses a peer its check does not welcome, and tells the peer why", async () => {
    const a = await acceptor(KEY, K0, 2000, { check: (p) => (p.role === "client" ? "no clients here" : undefined) });
    const c = authError(await connector(a.port, KEY, { role: "client", id: 1 }));
    expect(c.code).toBe("not-welcome");
    expect(c.message).toBe(`127.0.0.1:${a.port} refused us: no clients here`);
    await until("acceptor done", () => a.outcomes.length === 1);
    expect(authError(a.outcomes[0]).message).toMatch(/\(client 1\) refused: no clients here$/);
  });

  it("refuses a kernel that claims this kernel's own id", async () => {
    const a = await acceptor(KEY, K0);
    const c = authError(await connector(a.port, KEY, { ...K0 }));
    expect(c.code).toBe("not-welcome");
    expect(c.message).toMatch(/claims to be kernel 0, which is this kernel's own id/);
  });

  it("refuses a malformed hello", async () => {
    const a = await acceptor(KEY, K0);
    const s = await rawClient(opened, a.port);
    s.write(helloBytes(PROTOCOL_VERSION, { role: "boss", id: 1 }));
    await until("acceptor done", () => a.outcomes.length === 1);
    const e = authError(a.outcomes[0]);
    expect(e.code).toBe("bad-hello");
    expect(e.message).toMatch(/sent a malformed hello: role "boss" \(kernel or client expected\)/);
  });

  it("can be abandoned", async () => {
    const { port } = await listening(opened, (sock) => opened.add(sock).on("error", () => {}));
    const abort = new AbortController();
    const p = connector(port, KEY, K1, 5000, { signal: abort.signal });
    setTimeout(() => abort.abort(), 20);
    expect(authError(await p).code).toBe("aborted");
  });
});

describe("what crosses the wire", () => {
  /** A recording proxy in front of `port`: every byte in either direction. */
  async function recorder(port: number): Promise<{ port: number; bytes: () => Uint8Array }> {
    const chunks: Uint8Array[] = [];
    const p = await listening(opened, (inbound) => {
      opened.add(inbound).on("error", () => {});
      const outbound = opened.add(connect(port, "127.0.0.1"));
      outbound.on("error", () => inbound.destroy());
      inbound.on("data", (c: Buffer) => (chunks.push(c), outbound.write(c)));
      outbound.on("data", (c: Buffer) => (chunks.push(c), inbound.write(c)));
      inbound.on("close", () => outbound.destroy());
      outbound.on("close", () => inbound.destroy());
    });
    return { port: p.port, bytes: () => concat(chunks) };
  }

  const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

  it("never shows the key, its hex, or a MAC of the key over anything fixed", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 64 }), fc.nat({ max: 1000 }), fc.boolean(), async (key, id, sameKey) => {
        const a = await acceptor(key, { role: "kernel", id: id + 1, isa: "x86-64" });
        const rec = await recorder(a.port);
        const peerKey = sameKey ? key : key.map((b) => b ^ 0xff);
        await connector(rec.port, peerKey, { role: "kernel", id, isa: "aarch64" });
        await until("acceptor done", () => a.outcomes.length === 1);
        const wire = rec.bytes();
        expect(wire.length).toBeGreaterThan(80);
        for (const k of [key, peerKey]) {
          expect(contains(wire, k)).toBe(false);
          expect(contains(wire, k.subarray(0, 8))).toBe(false);
          expect(contains(wire, Buffer.from(Buffer.from(k).toString("hex")))).toBe(false);
          for (const fixed of ["", "popcorn", "popcorn handshake\0", "popcorn handshake\0A", "popcorn handshake\0C", "A", "C"]) {
            expect(contains(wire, createHmac("sha256", k).update(fixed).digest().subarray(0, 8))).toBe(false);
          }
        }
      }),
      { numRuns: 25 },
    );
  });
});
