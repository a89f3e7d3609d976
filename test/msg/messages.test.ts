// The wire form of kernel messages (host/msg/messages.ts): every type comes
// back as it went, big byte strings travel after the header and decode as
// views of the received bytes, and malformed input is refused by name.
import { decode, encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { BLOB_MIN, MessageError, PROTOCOL_VERSION, decodeMessage, encodeMessage, type KernelMessage, type MigrateMessage, type PagesMessage } from "../../host/msg/index.js";
import { diffOf, diffRuns, type Diff } from "../../host/memory/index.js";

// byte strings compare by content, with one memcmp (element by element, big page runs make the property slow)
expect.addEqualityTesters([
  (a: unknown, b: unknown) =>
    a instanceof Uint8Array && b instanceof Uint8Array
      ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
      : undefined,
]);

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** The pages that go ahead of a migrating thread (what a migrate message carried before threads). */
function pagesMsg(over: Partial<PagesMessage> = {}): PagesMessage {
  return {
    t: "pages",
    pid: 4242,
    tid: 3,
    origin: 0,
    name: "count.wasm",
    program: "ab".repeat(32),
    pages: {
      wasmPages: 3,
      clock: 2,
      released: 0,
      runs: [
        [2, bytes(4096 * 2, 4)],
        [40, bytes(4096, 5)],
      ],
    },
    us: 12.5,
    ...over,
  };
}
const runsOf = (m: PagesMessage) => m.pages.runs;

/** What decodeMessage throws for `raw` (undefined if it decodes). */
function decodeError(raw: Uint8Array, from: string): unknown {
  try {
    decodeMessage(raw, from);
  } catch (e) {
    return e;
  }
  return undefined;
}

function migrate(over: Partial<MigrateMessage> = {}): MigrateMessage {
  return {
    t: "migrate",
    pid: 4242,
    tid: 0,
    origin: 0,
    name: "count.wasm",
    args: ["2000000000", "ünïcode ✓"],
    program: "ab".repeat(32),
    programBytes: bytes(3000, 7),
    epoch: 3,
    schedule: [5, 10],
    image: {
      isa: "aarch64",
      pc: 0x4000_1234,
      sp: 0x7fff_f000,
      fp: 0x7fff_f010,
      stackTop: 0x8000_0000,
      regs: bytes(BLOB_MIN - 1, 2), // a plain bin in the header
      stack: bytes(BLOB_MIN + 100, 3), // a blob after it
    },
    globals: [
      ["acc", 2003337445333910512n],
      ["neg", -(2n ** 63n)],
      ["max", 2n ** 63n - 1n],
      ["zero64", 0n],
      ["i", 123],
      ["f", 1.5],
      ["big", 2 ** 40 + 0.5],
    ],
    requestedAt: 1234567.891,
    phases: { capture: 12.5, lower: 3, rewrite: 7.25 },
    from: 1,
    frames: 4,
    ...over,
  };
}

const EVERY_TYPE: [label: string, KernelMessage][] = [
  ["migrate with its program, page runs, a short regs and a long stack, i64 globals", migrate()],
  ["migrate without program or schedule, short regs and a 3-page stack", migrate({ programBytes: undefined, schedule: undefined, image: { ...migrate().image, regs: bytes(8), stack: bytes(4096 * 3) } })],
  ["migrate of a spawned thread", migrate({ tid: 3, entry: { fn: 2, arg: 7 } })],
  ["pages: two runs", pagesMsg()],
  ["pages: none at all", pagesMsg({ pages: { wasmPages: 1, clock: 0, released: 0, runs: [] } })],
  ["spawn, with a -0.0 global", { t: "spawn", pid: 7, tid: 3, origin: 0, name: "count.wasm", args: ["4"], program: "ab".repeat(32), entry: { fn: 1, arg: 2 }, globals: [["g", -0], ["i", 5n]], stackTop: 70000 }],
  ["release", { t: "release", pid: 7, tid: 1, diff: diffOf(2, 1, [[8200, bytes(3, 1)], [70000, bytes(BLOB_MIN + 8, 2)]]) }],
  ["migrate-ack ok", { t: "migrate-ack", pid: 7, tid: 0, ok: true }],
  ["migrate-ack refused, with its reason", { t: "migrate-ack", pid: 7, tid: 2, ok: false, reason: "kernel 1: count.wasm has no stackmap for aarch64" }],
  ["sys with a diff", { t: "sys", pid: 7, tid: 2, op: 3, a: 9000, b: 0, c: 0, from: 1, diff: diffOf(2, 1, [[9000, bytes(4, 3)]]) }],
  ["sys-done with pages and a spawn", { t: "sys-done", pid: 7, tid: 0, result: 4, pages: { wasmPages: 2, clock: 9, released: 1, runs: [[3, bytes(4096, 6)]] }, spawn: { tid: 4, fn: 2, arg: 1, stackTop: 70000 } }],
  ["thread-exit", { t: "thread-exit", pid: 7, tid: 4, diff: diffOf(2, 1, []) }],
  ["output on stdout", { t: "output", pid: 7, stream: 1, line: "count(3000) = 42" }],
  ["output on stderr, a long non-ASCII line", { t: "output", pid: 7, stream: 2, line: "x".repeat(300) + " ✓" }],
  ["exit", { t: "exit", pid: 7, status: 0 }],
  ["exit with an error", { t: "exit", pid: 7, status: 137, error: "killed by signal 9" }],
  ["signal with a destination", { t: "signal", pid: 7, signo: 35, to: 1, hops: 0 }],
  ["signal without one", { t: "signal", pid: 7, signo: 9, hops: 3 }],
  ["reap", { t: "reap", pid: 7 }],
  ["program (a blob)", { t: "program", hash: "cd".repeat(32), name: "fib.wasm", bytes: bytes(10_000) }],
  ["program (a tiny one, in the header)", { t: "program", hash: "ef".repeat(32), name: "tiny.wasm", bytes: bytes(8) }],
];

/** The message's bytes copied into a SharedArrayBuffer (as a shared ring would hold them), at an offset. */
function inSharedMemory(raw: Uint8Array, offset = 24): Uint8Array {
  const sab = new SharedArrayBuffer(offset + raw.length + 16);
  const shared = new Uint8Array(sab, offset, raw.length);
  shared.set(raw);
  return shared;
}

/** A well-formed frame around any header bytes. */
function frame(header: Uint8Array, blobs = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(4 + header.length + blobs.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(blobs, 4 + header.length);
  return out;
}

/** A blob reference as the header holds it: MessagePack ext 0x42 with an 8-byte payload (offset, length; u32 LE). */
function blobRef(at: number, len: number): Uint8Array {
  const ref = new Uint8Array(10);
  ref[0] = 0xd7; // fixext 8
  ref[1] = 0x42;
  new DataView(ref.buffer).setUint32(2, at, true);
  new DataView(ref.buffer).setUint32(6, len, true);
  return ref;
}

describe("round trip", () => {
  it.each(EVERY_TYPE)("%s comes back as it went", (_, m) => {
    expect(decodeMessage(encodeMessage(m), "kernel 1")).toEqual(m);
  });

  it("keeps i64 globals as BigInt and other numbers as numbers", () => {
    const back = decodeMessage(encodeMessage(migrate()), "kernel 1") as MigrateMessage;
    const types = Object.fromEntries(back.globals.map(([name, v]) => [name, typeof v]));
    expect(types).toEqual({ acc: "bigint", neg: "bigint", max: "bigint", zero64: "bigint", i: "number", f: "number", big: "number" });
  });

  it("keeps the sign of a float global holding -0 (1/x must stay -Infinity after a migration)", () => {
    const back = decodeMessage(encodeMessage(migrate({ globals: [["f64", -0]] })), "kernel 1") as MigrateMessage;
    expect(Object.is(back.globals[0]![1], -0)).toBe(true);
  });

  it("decodes a message that sits in a SharedArrayBuffer, long strings and blobs included", () => {
    for (const [, m] of EVERY_TYPE) {
      const shared = inSharedMemory(encodeMessage(m));
      expect(decodeMessage(shared, "kernel 1")).toEqual(m);
    }
    const m = migrate({ name: "a-name-long-enough-for-TextDecoder/".repeat(10) + "ünïcode" });
    const back = decodeMessage(inSharedMemory(encodeMessage(m)), "kernel 1") as MigrateMessage;
    expect(back.name).toBe(m.name);
    expect(back.image.stack.buffer, "a blob is a view of the shared bytes").toBeInstanceOf(SharedArrayBuffer);
  });

  it("encodes byte strings that are views of shared memory (pages collected from a shared WebAssembly.Memory)", () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const all = new Uint8Array(mem.buffer);
    all.set(bytes(4096 * 2, 9), 8192);
    const m = pagesMsg({ pages: { wasmPages: 1, clock: 0, released: 0, runs: [[2, all.subarray(8192, 8192 + 4096 * 2)]] } });
    const back = decodeMessage(encodeMessage(m), "kernel 0") as PagesMessage;
    expect(Buffer.from(runsOf(back)[0]![1]).equals(Buffer.from(bytes(4096 * 2, 9)))).toBe(true);
  });

  const value = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double().filter((x) => !Object.is(x, -0)), // -0: its own test above
  );
  const blob = fc.integer({ min: 0, max: 3 * BLOB_MIN }).map((n) => bytes(n, n));
  const text = fc.string({ unit: "grapheme", maxLength: 300 });
  const arbitraryMigrate = fc
    .record({
      pid: fc.nat(),
      name: text,
      args: fc.array(text, { maxLength: 4 }),
      programBytes: fc.option(blob, { nil: undefined }),
      epoch: fc.nat(),
      regs: blob,
      stack: blob,
      sp: fc.maxSafeNat(), // an address
      globals: fc.array(fc.tuple(text, value), { maxLength: 8 }),
      phases: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== "__proto__"), fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1e9 })),
    })
    .map(
      (r): KernelMessage =>
        migrate({
          pid: r.pid,
          tid: 0,
          name: r.name,
          args: r.args,
          programBytes: r.programBytes,
          epoch: r.epoch,
          image: { ...migrate().image, regs: r.regs, stack: r.stack, sp: r.sp },
          globals: r.globals,
          phases: r.phases,
        }),
    );
  const arbitraryPages = fc
    .record({
      pid: fc.nat(),
      name: text,
      runs: fc.array(fc.tuple(fc.nat(100), fc.integer({ min: 0, max: 3 }).map((n) => bytes(n * 4096, n))), { maxLength: 4 }),
      released: fc.nat(),
    })
    .map((r): KernelMessage => pagesMsg({ pid: r.pid, name: r.name, pages: { wasmPages: 4, clock: 1, released: r.released, runs: r.runs } }));
  const arbitraryMessage: fc.Arbitrary<KernelMessage> = fc.oneof(
    arbitraryMigrate,
    arbitraryPages,
    fc.record({ t: fc.constant("migrate-ack" as const), pid: fc.nat(), tid: fc.nat(), ok: fc.boolean(), reason: fc.option(text, { nil: undefined }) }),
    fc.record({ t: fc.constant("output" as const), pid: fc.nat(), stream: fc.constantFrom(1 as const, 2 as const), line: text }),
    fc.record({ t: fc.constant("exit" as const), pid: fc.nat(), status: fc.integer({ min: 0, max: 255 }), error: fc.option(text, { nil: undefined }) }),
    fc.record({ t: fc.constant("signal" as const), pid: fc.nat(), signo: fc.integer({ min: 1, max: 64 }), to: fc.option(fc.nat(8), { nil: undefined }), hops: fc.nat(16) }),
    fc.record({ t: fc.constant("reap" as const), pid: fc.nat() }),
    fc.record({ t: fc.constant("program" as const), hash: fc.string({ minLength: 64, maxLength: 64 }), name: text, bytes: blob }),
  );

  it("any message comes back as it went, from a plain or a shared buffer", () => {
    fc.assert(
      fc.property(arbitraryMessage, (m) => {
        const raw = encodeMessage(m);
        expect(decodeMessage(inSharedMemory(raw), "kernel 1")).toEqual(m);
        expect(decodeMessage(raw, "kernel 1")).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });
});

describe("wire layout", () => {
  it("starts with the header's length (u32 LE), then a MessagePack header, then every blob back to back from the next multiple of 8", () => {
    const m = migrate({ image: { ...migrate().image, regs: bytes(16) } });
    const p = pagesMsg();
    const raw = encodeMessage({ ...m, pages: p.pages } as KernelMessage); // a migrate with pages riding along: blobs of both
    const n = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
    const at = (4 + n + 7) & ~7;
    const blobs = [m.programBytes!, m.image.stack, ...runsOf(p).map(([, b]) => b)];
    expect(raw.length).toBe(at + blobs.reduce((s, b) => s + b.length, 0));
    expect([...raw.subarray(4 + n, at)].every((b) => b === 0), "zeros up to the blob area").toBe(true);
    const tail = Buffer.from(raw.subarray(at));
    expect(tail.equals(Buffer.concat(blobs))).toBe(true);
    expect(n, "the header holds no blob's bytes").toBeLessThan(1024);
  });

  it("pads to the blob area with zeros even in a ring's buffer that held another message, and not at all without blobs", () => {
    const used = new Uint8Array(1 << 16).fill(0xee);
    for (let len = 0; len < 8; len++) {
      const m = migrate({ name: "x".repeat(len), image: { ...migrate().image, regs: bytes(16) } });
      const raw = encodeMessage(m, (k) => used.subarray(0, k));
      const n = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
      expect([...raw.subarray(4 + n, (4 + n + 7) & ~7)].every((b) => b === 0)).toBe(true);
      expect(decodeMessage(raw, "kernel 1")).toEqual(m);
    }
    const small = encodeMessage({ t: "migrate-ack", pid: 1, tid: 0, ok: true });
    expect(small.length).toBe(4 + new DataView(small.buffer, small.byteOffset).getUint32(0, true));
  });

  it(`byte strings of ${BLOB_MIN} bytes or more decode as views of the received buffer, not copies`, () => {
    const m = migrate({ image: { ...migrate().image, regs: bytes(BLOB_MIN), stack: bytes(BLOB_MIN + 1) } });
    const raw = encodeMessage({ ...m, pages: pagesMsg().pages } as KernelMessage);
    const back = decodeMessage(raw, "kernel 1") as MigrateMessage & Pick<PagesMessage, "pages">;
    const n = new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
    const views = [back.programBytes!, back.image.regs, back.image.stack, ...back.pages.runs.map(([, b]) => b)];
    for (const v of views) {
      expect(v.buffer).toBe(raw.buffer);
      expect(v.byteOffset).toBeGreaterThanOrEqual(raw.byteOffset + 4 + n);
    }
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 0xff; // the last page's last byte
    expect(back.pages.runs[1]![1][4095]).toBe(raw[raw.length - 1]);
  });

  it("encodes into a buffer the caller allocates, at any offset inside a bigger (shared) buffer", () => {
    const m = migrate();
    const sab = new SharedArrayBuffer(1 << 16);
    const out = encodeMessage(m, (n) => new Uint8Array(sab, 1001, n));
    expect(out.buffer).toBe(sab);
    expect(out.byteOffset).toBe(1001);
    expect(new Uint8Array(sab, 0, 1001).every((x) => x === 0), "nothing written before the slot").toBe(true);
    expect(Buffer.from(out).equals(Buffer.from(encodeMessage(m)))).toBe(true);
    expect(decodeMessage(out, "kernel 1")).toEqual(m);
  });

  it(`a byte string shorter than ${BLOB_MIN} bytes travels inside the header`, () => {
    const small = encodeMessage(migrate({ image: { ...migrate().image, regs: bytes(BLOB_MIN - 1), stack: bytes(0) } }));
    const n = new DataView(small.buffer, small.byteOffset).getUint32(0, true);
    expect(n).toBeGreaterThan(BLOB_MIN - 1);
  });
});

describe("a diff travels packed", () => {
  /** A release as Replica.diff makes one when every word of 64 KiB got a new value in 5 of its 8 bytes: 8192 runs, views of one buffer. */
  function wordRelease(words = 8192) {
    const buf = new Uint8Array(words * 8);
    const runs: [number, Uint8Array][] = [];
    for (let i = 0; i < words; i++) {
      buf.set(bytes(5, i), i * 8);
      runs.push([70_000 + i * 8, buf.subarray(i * 8, i * 8 + 5)]);
    }
    return { t: "release" as const, pid: 7, tid: 1, diff: diffOf(4, 9, runs) };
  }
  const headerLength = (raw: Uint8Array) => new DataView(raw.buffer, raw.byteOffset).getUint32(0, true);
  /** Where the blob area starts: the next multiple of 8 after the header. */
  const blobArea = (raw: Uint8Array) => (4 + headerLength(raw) + 7) & ~7;

  it("a release of 8192 runs of 5 bytes: a small header, an index of 12 bytes per run, the bytes once — and it comes back as it went", () => {
    // (as [addr, bin] pairs in the header it took milliseconds to encode: a migration's tail)
    const m = wordRelease();
    const raw = encodeMessage(m);
    expect(headerLength(raw)).toBeLessThan(256);
    expect(raw.length).toBe(blobArea(raw) + 12 * 8192 + 5 * 8192);
    expect(decodeMessage(raw, "kernel 1")).toEqual(m);
    expect(decodeMessage(inSharedMemory(raw), "kernel 1")).toEqual(m);
  });

  it("its data decodes as a view of the received buffer, its index too when it lands 4-byte aligned (else a copy)", () => {
    const m = wordRelease(3);
    for (let shift = 0; shift < 4; shift++) {
      const raw = encodeMessage(m, (n) => new Uint8Array(n + shift).subarray(shift));
      const back = decodeMessage(raw, "kernel 1") as Extract<KernelMessage, { t: "release" }>;
      expect(back.diff.data.buffer).toBe(raw.buffer);
      for (const [, b] of diffRuns(back.diff)) expect(b.buffer).toBe(raw.buffer);
      expect(back.diff.index).toBeInstanceOf(Uint32Array);
      expect(back.diff.index.buffer === raw.buffer).toBe((raw.byteOffset + blobArea(raw)) % 4 === 0);
      expect(diffRuns(back.diff)).toEqual(diffRuns(m.diff));
    }
  });

  it("a sys and a thread-exit carry their diff the same way", () => {
    const { diff } = wordRelease(100);
    for (const m of [
      { t: "sys", pid: 7, tid: 2, op: 3, a: 9000, b: 0, c: 0, from: 1, diff },
      { t: "thread-exit", pid: 7, tid: 4, diff },
    ] as KernelMessage[]) {
      const raw = encodeMessage(m);
      expect(headerLength(raw)).toBeLessThan(256);
      expect(decodeMessage(raw, "kernel 1")).toEqual(m);
    }
  });

  it("a run that points outside the diff's bytes is a MessageError that names the sender and the run", () => {
    const raw = encodeMessage({ t: "release", pid: 7, tid: 1, diff: diffOf(2, 1, [[8200, bytes(3)], [9000, bytes(4)]]) });
    // the index is the first blob: run 1's length (its third u32) grows past the 7 bytes of data
    new DataView(raw.buffer, raw.byteOffset + blobArea(raw)).setUint32(12 + 8, 5, true);
    expect(() => decodeMessage(raw, "kernel 3")).toThrow(MessageError);
    expect(() => decodeMessage(raw, "kernel 3")).toThrow(/^message from kernel 3 \(release\): run 1 of its diff points outside the diff's bytes \(3\+5 of 7\)/);
  });

  /** A release with runs (3 and 5 bytes) and dense pages: each a mask and a page, made by hand. */
  function denseRelease(pages = [9, 12], over: Partial<Diff> = {}) {
    const masks = new Uint8Array(512 * pages.length).map((_, i) => (i * 37) & 0xff);
    const diff: Diff = { ...diffOf(4, 9, [[8200, bytes(3, 1)], [70_000, bytes(5, 2)]]), densePages: Uint32Array.from(pages), denseMasks: masks, denseBytes: bytes(4096 * pages.length, 3), ...over };
    return { t: "release" as const, pid: 7, tid: 1, diff };
  }
  /** The diff as the header holds it (blob references left as extension objects). */
  const headerDiff = (raw: Uint8Array) => (decode(raw.subarray(4, 4 + headerLength(raw))) as { diff: Record<string, unknown> }).diff;

  it("dense pages travel as blobs of page numbers, page bytes and masks — views of the received buffer — and come back as they went", () => {
    const m = denseRelease();
    for (let shift = 0; shift < 4; shift++) {
      const raw = encodeMessage(m, (n) => new Uint8Array(n + shift).subarray(shift));
      // index (2 runs) and data (8 bytes), then the page numbers at the next multiple of 8, then pages and masks
      expect(raw.length).toBe(blobArea(raw) + 24 + 8 + 8 + 2 * 4096 + 2 * 512);
      expect(Object.keys(headerDiff(raw)).sort()).toEqual(["data", "denseBytes", "denseMasks", "densePages", "index", "release", "wasmPages"]);
      const back = decodeMessage(raw, "kernel 1") as Extract<KernelMessage, { t: "release" }>;
      expect(back).toEqual(m);
      expect(back.diff.densePages).toBeInstanceOf(Uint32Array);
      expect(back.diff.densePages.buffer === raw.buffer).toBe((raw.byteOffset + blobArea(raw)) % 4 === 0);
      expect(back.diff.denseBytes.buffer).toBe(raw.buffer);
      expect(back.diff.denseMasks.buffer).toBe(raw.buffer);
    }
    expect(decodeMessage(inSharedMemory(encodeMessage(m)), "kernel 1")).toEqual(m);
  });

  it("a diff without dense pages leaves them out: the header holds what it held before they existed, and the message is no longer", () => {
    const m = { t: "release" as const, pid: 7, tid: 1, diff: diffOf(4, 9, [[8200, bytes(3, 1)], [70_000, bytes(5, 2)]]) };
    const raw = encodeMessage(m);
    expect(Object.keys(headerDiff(raw)).sort()).toEqual(["data", "index", "release", "wasmPages"]);
    expect(raw.length).toBe(blobArea(raw) + 24 + 8);
    const back = decodeMessage(raw, "kernel 1") as Extract<KernelMessage, { t: "release" }>;
    expect(back).toEqual(m);
    expect([back.diff.densePages.length, back.diff.denseMasks.length, back.diff.denseBytes.length]).toEqual([0, 0, 0]);
  });

  it("a malformed dense part is a MessageError that names the sender and the flaw", () => {
    const refused: [Diff | Record<string, unknown>, RegExp][] = [
      [denseRelease([9, 9]).diff, /dense page 9 after page 9: dense pages must be ascending, each once/],
      [denseRelease([12, 9]).diff, /dense page 9 after page 12/],
      [denseRelease([9], { denseMasks: new Uint8Array(513) }).diff, /1 dense pages with 513 bytes of masks and 4096 bytes of pages \(512 and 4096 a page\)/],
      [denseRelease([9], { denseBytes: new Uint8Array(4096 * 2) }).diff, /1 dense pages with 512 bytes of masks and 8192 bytes of pages/],
      [denseRelease([9, 10], { denseMasks: new Uint8Array(0), denseBytes: new Uint8Array(0) }).diff, /2 dense pages with 0 bytes of masks and 0 bytes/],
    ];
    // dense fields the sender's encoder would never write: given in the header as MessagePack
    const { index, data } = denseRelease().diff;
    const packed = { wasmPages: 4, release: 9, index: new Uint8Array(index.buffer), data };
    const raw = (diff: Record<string, unknown>) => frame(encode({ t: "release", pid: 7, tid: 1, diff }));
    const inHeader: [Uint8Array, RegExp][] = [
      [raw({ ...packed, densePages: Uint8Array.of(9, 0, 0, 0) }), /its diff's dense part is not \{densePages, denseMasks, denseBytes\}/],
      [raw({ ...packed, densePages: Uint8Array.of(9, 0, 0), denseMasks: new Uint8Array(512), denseBytes: new Uint8Array(4096) }), /dense part is not/],
      [raw({ ...packed, densePages: [9], denseMasks: new Uint8Array(512), denseBytes: new Uint8Array(4096) }), /dense part is not/],
      [raw({ ...packed, densePages: Uint8Array.of(9, 0, 0, 0), denseMasks: "masks", denseBytes: new Uint8Array(4096) }), /dense part is not/],
      [raw({ ...packed, denseBytes: new Uint8Array(0) }), /dense part is not/],
    ];
    const cases: [Uint8Array, RegExp][] = [...refused.map(([diff, re]): [Uint8Array, RegExp] => [encodeMessage({ t: "release", pid: 7, tid: 1, diff: diff as Diff }), re]), ...inHeader];
    for (const [bytes, re] of cases) {
      const thrown = decodeError(bytes, "kernel 3");
      expect(thrown).toBeInstanceOf(MessageError);
      expect((thrown as Error).message).toMatch(/^message from kernel 3 \(release\): /);
      expect((thrown as Error).message).toMatch(re);
    }
  });

  it("a diff sent as runs in the header (an older sender) is refused by name", () => {
    const raw = frame(encode({ t: "release", pid: 7, diff: { wasmPages: 2, release: 1, runs: [[8200, Uint8Array.of(1, 2, 3)]] } }));
    expect(() => decodeMessage(raw, "kernel 3")).toThrow(/^message from kernel 3 \(release\): its diff is not packed/);
  });
});

describe("the wire form is the protocol version's", () => {
  // If this fails, the bytes of a message changed: a kernel of the previous build would read
  // them wrong without an error. Bump PROTOCOL_VERSION (host/msg/auth.ts), so that the
  // handshake refuses mixed clusters, and put the new digest here with the new version.
  it("a migrate, a pages and a release with runs and dense pages encode to the bytes of version 3", () => {
    const dense: Diff = { ...diffOf(4, 9, [[8200, bytes(3, 1)], [70_000, bytes(5, 2)]]), densePages: Uint32Array.of(9, 12), denseMasks: bytes(1024, 4), denseBytes: bytes(8192, 5) };
    const h = createHash("sha256");
    for (const m of [migrate(), pagesMsg(), { t: "release", pid: 7, tid: 1, diff: dense }] as KernelMessage[]) h.update(encodeMessage(m));
    expect({ version: PROTOCOL_VERSION, digest: h.digest("hex") }).toEqual({ version: 3, digest: "21c4cc90008b7f9628161b4c4469fb8d235027001f2a18ae5423eddb2baa121c" });
  });
});

describe("a migrate message is checked field by field: what a core would read wrong is a MessageError", () => {
  const good = () => migrate();
  const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
    ["phases null", (m) => (m.phases = null), /phases/],
    ["a phase that is not a number", (m) => (m.phases = { capture: "12" }), /phases\.capture/],
    ["requestedAt a string", (m) => (m.requestedAt = "now"), /requestedAt/],
    ["a negative pid", (m) => (m.pid = -1), /pid/],
    ["a fractional tid", (m) => (m.tid = 1.5), /tid/],
    ["frames missing", (m) => delete m.frames, /frames/],
    ["args not strings", (m) => (m.args = [1, 2]), /args/],
    ["a global that is not a [name, value] pair", (m) => (m.globals = [["g"]]), /globals\[0\]/],
    ["a schedule of strings", (m) => (m.schedule = ["5"]), /schedule/],
    ["no image", (m) => delete m.image, /image/],
    ["an image stack that is not bytes", (m) => ((m.image as Record<string, unknown>).stack = [1, 2, 3]), /image\.stack/],
    ["an image sp that is not an integer", (m) => ((m.image as Record<string, unknown>).sp = 0.5), /image\.sp/],
    ["an entry without fn", (m) => (m.entry = { arg: 1 }), /entry/],
  ];
  it.each(cases)("%s", (_, spoil, names) => {
    const m = good() as unknown as Record<string, unknown>;
    spoil(m);
    const raw = encodeMessage(m as unknown as KernelMessage);
    const thrown = decodeError(raw, "kernel 2");
    expect(thrown).toBeInstanceOf(MessageError);
    expect((thrown as Error).message).toMatch(/^message from kernel 2 \(migrate\): /);
    expect((thrown as Error).message).toMatch(names);
  });

  it("the good one passes (each case above fails for its flaw alone)", () => {
    expect(decodeMessage(encodeMessage(good()), "kernel 2")).toEqual(good());
  });
});

describe("malformed input is a MessageError that names the sender", () => {
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["a truncated length", new Uint8Array([5, 0])],
    ["a header longer than the message", frame(encode({ t: "reap", pid: 1 })).subarray(0, 6)],
    ["a header length near 2^32", Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x80])],
    ["a blob reference past the end", frame(Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, ...Buffer.from("reap"), 0xa5, ...Buffer.from("bytes"), ...blobRef(0, 600)]), new Uint8Array(100))],
    ["a blob reference that starts past the end", frame(Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, ...Buffer.from("reap"), 0xa1, 0x62, ...blobRef(0xffff_fff0, 0x20)]), new Uint8Array(8))],
    ["a blob reference of the wrong size", frame(Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, ...Buffer.from("reap"), 0xa1, 0x62, 0xd6, 0x42, 0, 0, 0, 0]))],
    ["an unknown type", frame(encode({ t: "teleport", pid: 1 }))],
    ["no type at all", frame(encode({ pid: 1 }))],
    ["a header that is not an object", frame(encode(42))],
    ["not MessagePack (0xc1 is never used)", frame(Uint8Array.from([0xc1]))],
    ["a header with trailing bytes", frame(Uint8Array.from([...encode({ t: "reap", pid: 1 }), 0x00]))],
    ["a truncated header", frame(encode({ t: "output", pid: 1, stream: 1, line: "hello" }).subarray(0, 10))],
    ["JSON", frame(Buffer.from(JSON.stringify({ t: "reap", pid: 1 })))],
  ];

  it.each(cases)("%s", (_, raw) => {
    const thrown = decodeError(raw, "kernel 3");
    expect(thrown).toBeInstanceOf(MessageError);
    expect((thrown as Error).message).toMatch(/^message from kernel 3\b/);
  });

  it("a well-formed frame around a known type is accepted (the cases above fail for their flaw alone)", () => {
    expect(decodeMessage(frame(encode({ t: "reap", pid: 1 })), "kernel 3")).toEqual({ t: "reap", pid: 1 });
    expect(decodeMessage(frame(Uint8Array.from([0x82, 0xa1, 0x74, 0xa4, ...Buffer.from("reap"), 0xa1, 0x62, ...blobRef(0, 600)]), new Uint8Array(600)), "kernel 3")).toMatchObject({ t: "reap" });
  });
});
