// Frames on a TCP connection (host/msg/framing.ts): payloads of any size
// arrive whole, in order, each in a buffer of its own, however TCP cuts the
// stream; an oversized length or a peer that stops mid-frame closes the
// connection with the reason; a sender whose reader stalls stops writing
// into the socket and queues instead, then delivers everything.
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { FrameReader, FramedConnection, MAX_FRAME_BYTES } from "../../host/msg/index.js";
import { Opened, closedSocket, concat, frame, socketPair, until } from "./net-helpers.js";

const opened = new Opened();
afterEach(() => opened.closeAll());

const pattern = (n: number, seed: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
};

/** Byte equality without vitest's element-by-element diffing (slow on megabytes). */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

/** Cuts `bytes` at the given positions (any order, duplicates allowed). */
function cut(bytes: Uint8Array, at: number[]): Uint8Array[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    parts.push(bytes.subarray(from, p));
    from = p;
  }
  return parts;
}

async function framedPair(): Promise<{ a: FramedConnection; b: FramedConnection; sa: import("node:net").Socket; sb: import("node:net").Socket }> {
  const [sa, sb] = await socketPair(opened);
  const a = opened.add(new FramedConnection(sa));
  const b = opened.add(new FramedConnection(sb));
  return { a, b, sa, sb };
}

describe("the frame reader", () => {
  it("finds every frame whatever the chunk boundaries, each payload in a buffer of its own", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (payloads, cuts) => {
          const reader = new FrameReader();
          const got: Uint8Array[] = [];
          for (const part of cut(concat(payloads.map(frame)), cuts)) {
            reader.push(part);
            for (let f = reader.next(); f; f = reader.next()) got.push(f);
          }
          expect(got.map((g) => [...g])).toEqual(payloads.map((p) => [...p]));
          for (const g of got) expect(g.byteOffset === 0 && g.buffer.byteLength === g.length).toBe(true);
          expect(reader.partial()).toEqual({ have: 0, frame: undefined });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a length above the maximum as soon as the length is in", () => {
    const reader = new FrameReader();
    reader.push(Uint8Array.of(0x00, 0x5e, 0xd0)); // 3000000000 = 0xb2d05e00, little-endian, one byte short
    expect(reader.next()).toBeUndefined();
    reader.push(Uint8Array.of(0xb2));
    expect(() => reader.next()).toThrow(`frame of 3000000000 bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`);
  });
});

describe("frames over TCP", () => {
  it("delivers frames of 0 B, 1 B and 1 MiB whole and in order, both ways", async () => {
    const { a, b } = await framedPair();
    const sizes = [0, 1, 1 << 20, 0, 7, 1 << 20, 1];
    const atB: Uint8Array[] = [];
    const atA: Uint8Array[] = [];
    b.onFrame((p) => atB.push(p));
    a.onFrame((p) => atA.push(p));
    sizes.forEach((n, i) => a.send(pattern(n, i)));
    sizes.forEach((n, i) => b.send(pattern(n, i + 100)));
    await until("all frames", () => atA.length === sizes.length && atB.length === sizes.length);
    sizes.forEach((n, i) => {
      expect(same(atB[i]!, pattern(n, i))).toBe(true);
      expect(same(atA[i]!, pattern(n, i + 100))).toBe(true);
    });
    expect(a.bufferedBytes()).toBe(0);
  });

  it("reassembles frames a writer cut at arbitrary places", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 70_000 }).map((n) => pattern(n, n))), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        async (payloads, cuts) => {
          const [raw, sb] = await socketPair(opened);
          const b = opened.add(new FramedConnection(sb));
          const got: Uint8Array[] = [];
          b.onFrame((p) => got.push(p));
          for (const part of cut(concat(payloads.map(frame)), cuts)) {
            raw.write(part);
            await new Promise((r) => setImmediate(r)); // separate segments, most of the time
          }
          await until("frames", () => got.length === payloads.length);
          expect(got.map((g) => Buffer.from(g).toString("hex"))).toEqual(payloads.map((p) => Buffer.from(p).toString("hex")));
          b.destroy();
          raw.destroy();
        },
      ),
      { numRuns: 25 },
    );
  });

  it("closes on a length above MAX_FRAME_BYTES, saying so", async () => {
    const [raw, sb] = await socketPair(opened);
    const b = opened.add(new FramedConnection(sb));
    const got: Uint8Array[] = [];
    const reasons: string[] = [];
    b.onFrame((p) => got.push(p));
    b.onClose((r) => reasons.push(r));
    const big = new Uint8Array(4);
    new DataView(big.buffer).setUint32(0, 3_000_000_000, true);
    raw.write(concat([frame(Uint8Array.of(1, 2, 3)), big, new Uint8Array(100)]));
    await closedSocket(raw);
    await until("close reason", () => reasons.length > 0);
    expect(got).toEqual([Uint8Array.of(1, 2, 3)]);
    expect(reasons).toEqual([`frame of 3000000000 bytes exceeds MAX_FRAME_BYTES (${MAX_FRAME_BYTES})`]);
  });

  it("says so when the peer closes in the middle of a frame", async () => {
    const [raw, sb] = await socketPair(opened);
    const b = opened.add(new FramedConnection(sb));
    const reasons: string[] = [];
    b.onFrame(() => {});
    b.onClose((r) => reasons.push(r));
    raw.end(frame(new Uint8Array(100)).subarray(0, 54));
    await until("close reason", () => reasons.length > 0);
    expect(reasons).toEqual(["peer closed mid-frame (50 of 100 bytes)"]);
  });

  it("reports an orderly close once, also to a handler that comes late, and ignores sends after it", async () => {
    const { a, b } = await framedPair();
    const atA: string[] = [];
    const atB: string[] = [];
    a.onFrame(() => {});
    b.onFrame(() => {});
    a.onClose((r) => atA.push(r));
    b.onClose((r) => atB.push(r));
    a.close("done here");
    expect(() => a.send(Uint8Array.of(1))).not.toThrow();
    await until("both closed", () => atA.length === 1 && atB.length === 1);
    expect(atA).toEqual(["done here"]);
    expect(atB).toEqual(["peer closed"]);
    const late: string[] = [];
    a.onClose((r) => late.push(r));
    await until("late handler", () => late.length === 1);
    expect(late).toEqual(["done here"]);
    a.destroy();
    a.close();
    expect(atA).toHaveLength(1);
  });

  it("writes what is queued before an orderly close ends the connection", async () => {
    const { a, b } = await framedPair();
    const got: Uint8Array[] = [];
    b.onFrame((p) => got.push(p));
    for (let i = 0; i < 8; i++) a.send(pattern(1 << 20, i));
    a.close("sent everything");
    const reason = await new Promise<string>((r) => b.onClose(r));
    expect(reason).toBe("peer closed");
    expect(got).toHaveLength(8);
    got.forEach((g, i) => expect(same(g, pattern(1 << 20, i))).toBe(true));
  });

  it("closes, with the reason, when a frame handler throws", async () => {
    const { a, b } = await framedPair();
    b.onFrame(() => {
      throw new Error("cannot digest this");
    });
    a.onFrame(() => {});
    const reason = new Promise<string>((r) => b.onClose(r));
    a.send(Uint8Array.of(9));
    expect(await reason).toBe("frame handler failed: cannot digest this");
  });

  it("holds back frames that arrive before a handler is set", async () => {
    const { a, b } = await framedPair();
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    await new Promise((r) => setTimeout(r, 30));
    const got: number[] = [];
    b.onFrame((p) => got.push(p[0]!));
    await until("frames", () => got.length === 2);
    expect(got).toEqual([1, 2]);
  });

  it("refuses to send a payload above MAX_FRAME_BYTES", async () => {
    const { a } = await framedPair();
    const huge = { length: MAX_FRAME_BYTES + 1 } as Uint8Array; // only its length is looked at
    expect(() => a.send(huge)).toThrow(RangeError);
  });
});

describe("back-pressure", () => {
  it("queues 64 MiB for a reader that pauses, keeps the socket's buffer small, and delivers everything in order once it resumes", async () => {
    const { a, b, sa } = await framedPair();
    const FRAME = 1 << 20;
    const COUNT = 64;
    const got: Uint8Array[] = [];
    b.onFrame((p) => got.push(p));
    b.pause();
    let maxSocketBuffer = 0;
    let drains = 0;
    a.onDrain(() => drains++);
    for (let i = 0; i < COUNT; i++) {
      const p = pattern(FRAME, i);
      a.send(p);
      maxSocketBuffer = Math.max(maxSocketBuffer, sa.writableLength);
    }
    // let TCP fill the kernel's buffers on both sides, then look again
    await new Promise((r) => setTimeout(r, 200));
    maxSocketBuffer = Math.max(maxSocketBuffer, sa.writableLength);
    const total = COUNT * (FRAME + 4);
    // the socket was given at most one frame beyond its high-water mark; the rest waits in the queue
    expect(maxSocketBuffer).toBeLessThanOrEqual(sa.writableHighWaterMark + FRAME + 4);
    expect(a.bufferedBytes()).toBeLessThanOrEqual(total);
    expect(a.bufferedBytes()).toBeGreaterThan(total - 32 * FRAME); // what the kernels' socket buffers can hold is far less
    expect(got).toHaveLength(0);
    b.resume();
    await until("64 MiB delivered", () => got.length === COUNT, 20_000);
    for (let i = 0; i < COUNT; i++) {
      const g = got[i]!;
      expect(g.length).toBe(FRAME);
      expect(same(g, pattern(FRAME, i))).toBe(true);
    }
    await until("queue empty", () => a.bufferedBytes() === 0);
    expect(drains).toBeGreaterThan(0);
  });
});
