/**
 * The messages kernels exchange. Nothing else passes between kernels.
 *
 * Wire form of one message:
 *
 *   Offset | Size | Value
 *   -------|------|-------------------------------------------------------
 *   0      | 4    | n, the header's length (u32 little-endian)
 *   4      | n    | header: MessagePack (BigInt as int64, -0.0 as extension 0x2d) of an object whose
 *          |      | `t` field names its type
 *   4 + n  | 0–7  | zeros, up to b = the next multiple of 8 (none when there are no blobs)
 *   b      | …    | blobs: the bytes of every byte string of BLOB_MIN bytes
 *          |      | or more (memory pages, stacks, programs), back to back
 *
 * The blob area starts at a multiple of 8 of the message, and the buffers
 * messages are made in and received into start at one too (a ring's record,
 * a fresh buffer): a blob placed at a multiple of 8 in the area lands at one
 * in memory. V8 copies an unaligned blob into shared memory byte by byte
 * (a dense release of 74 KB: 28 µs into the ring, 11.5 µs into a plain
 * buffer), and reads the u32s of a diff's index in place only when aligned.
 *
 * In the header, such a byte string is MessagePack extension BLOB_EXT with
 * an 8-byte payload: its offset in the blob area and its length (u32 LE
 * each); a shorter one is a plain `bin`. So a page is copied once into the
 * message by memcpy, not through the MessagePack encoder, and decoded as a
 * view into the received buffer: copied once more, into the destination's
 * memory.
 *
 *   t            from → to                 fields
 *   -----------  ------------------------  ------------------------------------------
 *   migrate      source → destination      a stopped thread: see MigrateMessage
 *   migrate-ack  destination → source      pid, tid, ok; on !ok the reason, and the source
 *                                          resumes the thread where it was
 *   sys          kernel → origin           pid, tid, op, a, b, c, diff, now?: a thread's
 *                                          syscall (spawn, join, mutex, barrier, atomic add),
 *                                          made at the process's origin; diff is the caller's
 *                                          kernel's release (memory/replica.ts); now: the
 *                                          thread waits on its core (kernel/sys-now.ts), so a
 *                                          call that would block is not made but answered
 *                                          sys-park
 *   sys-done     origin → kernel           pid, tid, result, pages (the acquire), spawn?: the
 *                                          call is done; for a spawn, the child to start there
 *   sys-park     origin → kernel           pid, tid: a `now` call that would block was not
 *                                          made; the thread stops for it and sends it again
 *   thread-exit  kernel → origin           pid, tid, diff: a spawned thread returned
 *   release      kernel → origin           pid, diff: a kernel's release, ahead of a thread
 *                                          that migrates to the origin
 *   pages        origin → kernel           pid, origin, program, name, pages, us: the pages
 *                                          that kernel lacks, ahead of a thread that migrates
 *                                          there (its acquire; us: the collection's time)
 *
 * A diff (release, sys, thread-exit) travels packed: a run of a release is
 * often a few bytes (one word of eight written with a new value), and a
 * release of 64 KiB can hold 8192 of them — as [addr, bin] pairs in the
 * header that took milliseconds to encode and decode. In the header a diff
 * is {wasmPages, release, index, data, densePages?, denseMasks?,
 * denseBytes?}, each of the last five a blob:
 *
 *   field       blob
 *   ----------  -------------------------------------------------------------
 *   index       u32 LE triples (address, offset in data, length), one per run
 *   data        every run's bytes (a few bytes of padding between runs may be
 *               in it, which no run refers to)
 *   densePages  u32 LE page numbers of the pages that travel dense, ascending
 *   denseBytes  4096 bytes a dense page: its snapshot
 *   denseMasks  512 bytes a dense page: bit j & 7 of byte j >> 3 set when
 *               byte j of the page changed
 *
 * The three dense fields are there together or not at all: a diff without
 * dense pages leaves them out and costs what it did before they existed.
 * index, densePages and denseBytes start at multiples of 8 in the blob area
 * (zeros before them, which nothing refers to; the diff's blobs come first,
 * so the index never needs any), so that they land aligned in the received
 * buffer when the blob area does. That is the Diff of memory/replica.ts as
 * it is in memory: each goes in and comes out with one copy at most (index
 * and page numbers are views of the received buffer when they land 4-byte
 * aligned, else copies; data, masks and page bytes are views, which
 * applyDiff reads at any alignment).
 *
 * A migrate message carries no memory: the pages or the diff go ahead of it
 * on the same link (sent when its core reports the thread leaving; another
 * thread's memory or migrate message may come between, so pages and release
 * name the thread they go ahead of), made by the sending kernel's control
 * thread, which makes all of that kernel's releases and collections one at a
 * time — so they reach the other side in the order they were made.
 *   output       any → origin              pid, stream (1 stdout, 2 stderr), line
 *   exit         any → origin              pid, status, error?
 *   signal       any → any                 pid, tid?, signo, to?, hops — delivered where the
 *                                          thread runs, forwarded along the path it took
 *   program      source → destination      hash, name, bytes: sent before the first migrate
 *                                          that needs it (again after the peer restarted)
 *   reap         origin → all              pid: the process is gone, drop its replica
 *   spawn        origin → kernel           pid, tid, origin, name, args, program, entry,
 *                                          globals, stackTop: a thread the scheduler places on
 *                                          that kernel at its spawn (its pages went just before)
 *   speed        any → all                 speed: what the kernel measured of its own machine
 *                                          (a calibration loop's iterations per ms), at boot
 *                                          and to every peer that joins: --scheduler hetero
 *   ping, pong   any → any                 seq, payload: `popcorn ping`, and an origin making
 *                                          sure its reap was handled before it tells the
 *                                          client of the exit; a kernel answers every ping
 *                                          with a pong of the same payload
 *
 * Transports (local.ts, tcp.ts) carry these bytes unchanged; a kernel
 * never learns which transport a peer sits behind.
 */
import { Decoder, Encoder, ExtensionCodec } from "@msgpack/msgpack";
import { protectNegativeZero, withNegativeZero } from "./negzero.js";
import type { Diff, PageSet } from "../memory/index.js";
import type { NativeImage } from "../transform/index.js";

/** Which thread of which process a message brings to a kernel. */
export interface ThreadIdentity {
  pid: number;
  /** 0: the main thread */
  tid: number;
  origin: number;
  name: string;
  args: string[];
  /** sha-256 of the program bytes, hex: a kernel caches programs by it */
  program: string;
  /** a spawned thread's function (table index) and argument: where it starts, and is rewound into */
  entry?: { fn: number; arg: number };
}

/** The identity part of a message or record, and nothing else. */
export function threadIdentity(m: ThreadIdentity): ThreadIdentity {
  return { pid: m.pid, tid: m.tid, origin: m.origin, name: m.name, args: m.args, program: m.program, entry: m.entry };
}

/** A stopped thread on its way to another kernel. */
export interface MigrateMessage extends ThreadIdentity {
  t: "migrate";
  /** the program itself, when the destination is not known to have it */
  programBytes?: Uint8Array;
  /** the thread's migrations before this one */
  epoch: number;
  /** what is left of the process's migration schedule (points between migrations) */
  schedule?: number[];
  /** the native image, already in the destination's ISA */
  image: NativeImage;
  globals: [string, number | bigint][];
  /** the result of the syscall the thread stopped for, when it left before it was resumed with it (kernel/core.ts) */
  sysResult?: number;

  /** when the migration was asked for and how long each phase took (µs), for dmesg and benchmarks */
  requestedAt: number;
  phases: Record<string, number>;
  from: number;
  /** frames in the image */
  frames: number;
}

export interface MigrateAck {
  t: "migrate-ack";
  pid: number;
  tid: number;
  ok: boolean;
  reason?: string;
}

export interface OutputMessage {
  t: "output";
  pid: number;
  stream: 1 | 2;
  line: string;
}

export interface ExitMessage {
  t: "exit";
  pid: number;
  status: number;
  error?: string;
}

export interface SignalMessage {
  t: "signal";
  pid: number;
  /** the thread (default 0, main); stop signals end the whole process wherever they are delivered */
  tid?: number;
  signo: number;
  /** for migration signals: the destination kernel (default: the next one) */
  to?: number;
  hops: number;
}

export interface ReapMessage {
  t: "reap";
  pid: number;
}

export interface ProgramMessage {
  t: "program";
  hash: string;
  name: string;
  bytes: Uint8Array;
}

/** `popcorn ping`: a kernel answers a ping with a pong carrying the same payload. */
export interface PingMessage {
  t: "ping" | "pong";
  seq: number;
  payload: Uint8Array;
}

/** A thread's syscall, made at the process's origin (toolchain/abi.ts SYS_*). */
export interface SysMessage {
  t: "sys";
  pid: number;
  tid: number;
  op: number;
  a: number;
  b: number;
  c: number;
  /** the caller's kernel's release */
  diff: Diff;
  /** for a spawn: the kernel the child starts on */
  from: number;
  /** the thread waits on its core for the answer (kernel/sys-now.ts): a call that would block is answered sys-park, not made */
  now?: boolean;
}

/** A `now` syscall that would block was not made: its thread stops for it, and sends it again. */
export interface SysParkMessage {
  t: "sys-park";
  pid: number;
  tid: number;
}

/** A spawned thread's start: on the kernel of its parent, with its parent's globals. */
export interface SpawnInfo {
  tid: number;
  /** table index of the thread function, its argument, the top of its shadow stack */
  fn: number;
  arg: number;
  stackTop: number;
}

export interface SysDoneMessage {
  t: "sys-done";
  pid: number;
  tid: number;
  result: number;
  /** the acquire: what the caller's kernel lacks */
  pages: PageSet;
  spawn?: SpawnInfo;
}

export interface ThreadExitMessage {
  t: "thread-exit";
  pid: number;
  tid: number;
  diff: Diff;
}

/** A spawned thread started on another kernel than its parent's (--scheduler): its parent's globals, its own stack. */
export interface SpawnMessage extends ThreadIdentity {
  t: "spawn";
  entry: { fn: number; arg: number };
  globals: [string, number | bigint][];
  stackTop: number;
}

/** A kernel's measured speed (calibration iterations per ms), for the hetero scheduler. */
export interface SpeedMessage {
  t: "speed";
  speed: number;
}

/** A kernel's release (memory/replica.ts), sent to the origin ahead of a thread that migrates there. */
export interface ReleaseMessage {
  t: "release";
  pid: number;
  /** the thread it goes ahead of */
  tid: number;
  diff: Diff;
}

/** The pages a kernel lacks, from the origin, ahead of a thread that migrates there. */
export interface PagesMessage {
  t: "pages";
  pid: number;
  /** the thread they go ahead of (several threads of a process can be on their way at once) */
  tid: number;
  origin: number;
  name: string;
  program: string;
  pages: PageSet;
  /** µs the origin took to collect them */
  us: number;
}

export type KernelMessage =
  | MigrateMessage | MigrateAck | OutputMessage | ExitMessage | SignalMessage | ReapMessage | ProgramMessage | PingMessage
  | SysMessage | SysDoneMessage | SysParkMessage | ThreadExitMessage | ReleaseMessage | PagesMessage | SpeedMessage | SpawnMessage;

export class MessageError extends Error {}

/** Byte strings at least this long travel after the header. */
export const BLOB_MIN = 512;
const BLOB_EXT = 0x42;


interface EncodeContext {
  blobs: Uint8Array[];
  size: number;
}

/** A range of the blob area that is already placed (a packed diff's index and data): the header refers to it. */
class BlobRange {
  constructor(readonly at: number, readonly length: number) {}
}

function blobRef(at: number, length: number): Uint8Array {
  const ref = new Uint8Array(8);
  const view = new DataView(ref.buffer);
  view.setUint32(0, at, true);
  view.setUint32(4, length, true);
  return ref;
}

const encodeCodec = withNegativeZero(new ExtensionCodec<EncodeContext>());
encodeCodec.register({
  type: BLOB_EXT,
  encode: (v: unknown, ctx: EncodeContext) => {
    if (v instanceof BlobRange) return blobRef(v.at, v.length);
    if (!(v instanceof Uint8Array) || v.length < BLOB_MIN) return null;
    const ref = blobRef(ctx.size, v.length);
    ctx.blobs.push(v);
    ctx.size += v.length;
    return ref;
  },
  decode: () => null,
});

/** A diff as its header holds it (see the header of this file). */
interface PackedDiff {
  wasmPages: number;
  release: number;
  index: BlobRange | Uint8Array;
  data: BlobRange | Uint8Array;
  densePages?: BlobRange | Uint8Array;
  denseBytes?: BlobRange | Uint8Array;
  denseMasks?: BlobRange | Uint8Array;
}

/** A diff's dense page: its mask and its bytes (Diff in memory/replica.ts; msg does not load the memory layer). */
const MASK_BYTES = 512;
const PAGE_BYTES = 4096;

/** The platform stores u32 little-endian (every platform Wasm runs on; checked anyway): a diff's index is its own wire form. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Places a diff in the blob area: its index of u32 (address, offset,
 * length) triples, little-endian, its data, and its dense pages if it has
 * any, each copied once (see Diff in memory/replica.ts: no object per run
 * on either side).
 */
function packDiff(d: Diff, ctx: EncodeContext): PackedDiff {
  const packed: PackedDiff = { wasmPages: d.wasmPages, release: d.release, index: placeBlob(u32Bytes(d.index), ctx, 8), data: placeBlob(d.data, ctx, 1) };
  if (d.densePages.length === 0) return packed;
  packed.densePages = placeBlob(u32Bytes(d.densePages), ctx, 8);
  packed.denseBytes = placeBlob(d.denseBytes, ctx, 8);
  packed.denseMasks = placeBlob(d.denseMasks, ctx, 1);
  return packed;
}

/** u32s as their little-endian bytes: a view of them on a little-endian platform, else a copy. */
function u32Bytes(words: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const bytes = new Uint8Array(words.byteLength);
  const v = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) v.setUint32(4 * i, words[i]!, true);
  return bytes;
}

/** Puts `bytes` into the blob area at the next multiple of `align` (padding of zeros before it); returns where. */
function placeBlob(bytes: Uint8Array, ctx: EncodeContext, align: number): BlobRange {
  const pad = -ctx.size & (align - 1);
  if (pad > 0) {
    ctx.blobs.push(new Uint8Array(pad));
    ctx.size += pad;
  }
  const at = ctx.size;
  ctx.blobs.push(bytes);
  ctx.size += bytes.length;
  return new BlobRange(at, bytes.length);
}

/** Little-endian u32s back: a view of the received buffer when aligned, else a copy. */
function u32sOf(bytes: Uint8Array): Uint32Array {
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  if (LITTLE_ENDIAN) return new Uint32Array(bytes.slice().buffer);
  const words = new Uint32Array(bytes.length / 4);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < words.length; i++) words[i] = v.getUint32(4 * i, true);
  return words;
}

/**
 * A packed diff back: its index and page numbers as u32s, its data, masks
 * and page bytes views of the received buffer. Checks the form (runs inside
 * the data, a mask and a page for each dense page, pages ascending);
 * whether they fit the memory is applyDiff's to check.
 */
function unpackDiff(p: unknown): Diff {
  const d = p as Partial<PackedDiff> | null;
  const { index, data } = d ?? {};
  if (!(index instanceof Uint8Array) || !(data instanceof Uint8Array) || index.length % 12 !== 0) {
    throw new MessageError("its diff is not packed as {wasmPages, release, index, data} (a sender older than the packed diff?)");
  }
  const words = u32sOf(index);
  for (let j = 0; j < words.length; j += 3) {
    const at = words[j + 1]!;
    const len = words[j + 2]!;
    if (at + len > data.length) throw new MessageError(`run ${j / 3} of its diff points outside the diff's bytes (${at}+${len} of ${data.length})`);
  }
  const diff: Diff = { wasmPages: d!.wasmPages!, release: d!.release!, index: words, data, densePages: NO_PAGES, denseMasks: NO_BYTES, denseBytes: NO_BYTES };
  if (d!.densePages !== undefined || d!.denseMasks !== undefined || d!.denseBytes !== undefined) unpackDense(d!, diff);
  return diff;
}

/** The dense part of a diff without one (empty: nothing can be written into them). */
const NO_PAGES = new Uint32Array(0);
const NO_BYTES = new Uint8Array(0);

/** A packed diff's dense part back into `diff` (see unpackDiff). */
function unpackDense(d: Partial<PackedDiff>, diff: Diff): void {
  const { densePages, denseMasks, denseBytes } = d;
  if (!(densePages instanceof Uint8Array) || !(denseMasks instanceof Uint8Array) || !(denseBytes instanceof Uint8Array) || densePages.length % 4 !== 0) {
    throw new MessageError("its diff's dense part is not {densePages, denseMasks, denseBytes} of u32 page numbers and bytes");
  }
  const pages = u32sOf(densePages);
  if (denseMasks.length !== pages.length * MASK_BYTES || denseBytes.length !== pages.length * PAGE_BYTES) {
    throw new MessageError(
      `its diff has ${pages.length} dense pages with ${denseMasks.length} bytes of masks and ${denseBytes.length} bytes of pages ` +
        `(${MASK_BYTES} and ${PAGE_BYTES} a page)`,
    );
  }
  for (let k = 1; k < pages.length; k++) {
    if (pages[k]! <= pages[k - 1]!) throw new MessageError(`its diff has dense page ${pages[k]} after page ${pages[k - 1]}: dense pages must be ascending, each once`);
  }
  diff.densePages = pages;
  diff.denseMasks = denseMasks;
  diff.denseBytes = denseBytes;
}

/** Messages that carry a diff (packed on the wire). */
const WITH_DIFF = new Set(["release", "sys", "thread-exit"]);

/** The blob area of the message being decoded (decoding is synchronous: one message at a time per thread). */
interface DecodeContext {
  blobs: Uint8Array;
}

const decodeCodec = withNegativeZero(new ExtensionCodec<DecodeContext>());
decodeCodec.register({
  type: BLOB_EXT,
  encode: () => null,
  decode: (ref: Uint8Array, _type: number, { blobs }: DecodeContext) => {
    const view = new DataView(ref.buffer, ref.byteOffset, ref.byteLength);
    const at = view.getUint32(0, true);
    const len = view.getUint32(4, true);
    if (ref.length !== 8 || at + len > blobs.length) throw new MessageError(`a byte string points outside the message (${at}+${len} of ${blobs.length})`);
    return blobs.subarray(at, at + len);
  },
});

// One encoder and one decoder per thread, their contexts refilled per message: making them per
// message (as msgpack's encode()/decode() do) allocated their buffers and key caches every time.
// Both are synchronous and the codecs above never encode or decode a message of their own.
const encodeContext: EncodeContext = { blobs: [], size: 0 };
const encoder = new Encoder<EncodeContext>({ useBigInt64: true, ignoreUndefined: true, extensionCodec: encodeCodec, context: encodeContext });
const decodeContext: DecodeContext = { blobs: new Uint8Array(0) };
const decoder = new Decoder<DecodeContext>({ useBigInt64: true, extensionCodec: decodeCodec, context: decodeContext });

/** Where the blob area of a message whose header ends at `end` starts: the next multiple of 8. */
const blobArea = (end: number) => (end + 7) & ~7;

/**
 * `alloc`: where to put the bytes (a transport's ring buffer; by default a
 * fresh buffer). It runs while the header is a view of this thread's one
 * encoder: it must not encode a message itself.
 */
export function encodeMessage(m: KernelMessage, alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  try {
    return encodeWith(encodeContext, m, alloc);
  } finally {
    encodeContext.blobs = []; // nothing of the message stays reachable from the encoder, even if alloc threw
  }
}

function encodeWith(ctx: EncodeContext, m: KernelMessage, alloc: (n: number) => Uint8Array): Uint8Array {
  ctx.blobs = [];
  ctx.size = 0;
  if (m.t === "migrate" || m.t === "spawn") m = { ...m, globals: m.globals.map(([n, v]) => [n, protectNegativeZero(v)]) };
  if ((m.t === "release" || m.t === "sys" || m.t === "thread-exit") && m.diff) m = { ...m, diff: packDiff(m.diff, ctx) as unknown as Diff };
  // a view of the encoder's buffer, copied once into the message below
  const header = encoder.encodeSharedRef(m);
  const end = 4 + header.length;
  let at = ctx.size > 0 ? blobArea(end) : end;
  const out = alloc(at + ctx.size);
  new DataView(out.buffer, out.byteOffset, 4).setUint32(0, header.length, true);
  out.set(header, 4);
  out.fill(0, end, at); // a ring's buffer holds an older message's bytes
  for (const b of ctx.blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

const TYPES = new Set(["migrate", "migrate-ack", "output", "exit", "signal", "reap", "program", "ping", "pong", "sys", "sys-done", "sys-park", "thread-exit", "release", "pages", "speed", "spawn"]);

export function decodeMessage(bytes: Uint8Array, from: string): KernelMessage {
  let m: unknown;
  try {
    if (bytes.length < 4) throw new MessageError(`${bytes.length} bytes`);
    const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
    if (4 + n > bytes.length) throw new MessageError(`header of ${n} bytes in a message of ${bytes.length}`);
    // the header is copied out first: it may sit in shared memory, which TextDecoder refuses
    decodeContext.blobs = bytes.subarray(Math.min(blobArea(4 + n), bytes.length));
    try {
      m = decoder.decode(bytes.slice(4, 4 + n));
    } finally {
      decodeContext.blobs = new Uint8Array(0);
    }
  } catch (e) {
    throw new MessageError(`message from ${from} is not valid MessagePack (${(e as Error).message})`);
  }
  const t = (m as { t?: unknown } | null)?.t;
  if (typeof t !== "string" || !TYPES.has(t)) throw new MessageError(`message from ${from} has unknown type ${JSON.stringify(t)}`);
  if (t === "migrate") {
    try {
      checkMigrate(m as Record<string, unknown>);
    } catch (e) {
      throw new MessageError(`message from ${from} (migrate): ${(e as Error).message}`);
    }
  }
  if (WITH_DIFF.has(t)) {
    const withDiff = m as { diff: unknown };
    try {
      withDiff.diff = unpackDiff(withDiff.diff);
    } catch (e) {
      throw new MessageError(`message from ${from} (${t}): ${(e as Error).message}`);
    }
  }
  return m as KernelMessage;
}

/**
 * A migrate message's fields, as the destination reads them: a peer's
 * message that passes is one a core can take in (or refuse, for a reason
 * of its own: a program it lacks, an image for another ISA).
 */
function checkMigrate(m: Record<string, unknown>): void {
  const uint = (v: unknown, what: string) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new Error(`${what} is ${show(v)}, not a non-negative integer`);
  };
  const num = (v: unknown, what: string) => {
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`${what} is ${show(v)}, not a number`);
  };
  const str = (v: unknown, what: string) => {
    if (typeof v !== "string") throw new Error(`${what} is ${show(v)}, not a string`);
  };
  const obj = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} is ${show(v)}, not an object`);
    return v as Record<string, unknown>;
  };
  for (const k of ["pid", "tid", "origin", "epoch", "from", "frames"]) uint(m[k], k);
  str(m.name, "name");
  str(m.program, "program");
  if (!Array.isArray(m.args) || !m.args.every((a) => typeof a === "string")) throw new Error(`args is ${show(m.args)}, not a list of strings`);
  if (m.entry !== undefined) {
    const e = obj(m.entry, "entry");
    uint(e.fn, "entry.fn");
    num(e.arg, "entry.arg");
  }
  if (m.schedule !== undefined && (!Array.isArray(m.schedule) || !m.schedule.every((n) => Number.isSafeInteger(n) && n >= 0))) {
    throw new Error(`schedule is ${show(m.schedule)}, not a list of non-negative integers`);
  }
  if (m.sysResult !== undefined && !Number.isInteger(m.sysResult)) throw new Error(`sysResult is ${show(m.sysResult)}, not an integer`);
  num(m.requestedAt, "requestedAt");
  for (const [k, v] of Object.entries(obj(m.phases, "phases"))) num(v, `phases.${k}`);
  if (!Array.isArray(m.globals)) throw new Error(`globals is ${show(m.globals)}, not a list`);
  m.globals.forEach((g, i) => {
    if (!Array.isArray(g) || g.length !== 2 || typeof g[0] !== "string" || !(typeof g[1] === "number" || typeof g[1] === "bigint")) {
      throw new Error(`globals[${i}] is ${show(g)}, not a [name, value] pair`);
    }
  });
  const image = obj(m.image, "image");
  str(image.isa, "image.isa");
  for (const k of ["pc", "sp", "fp", "stackTop"]) uint(image[k], `image.${k}`);
  for (const k of ["regs", "stack"]) if (!(image[k] instanceof Uint8Array)) throw new Error(`image.${k} is ${show(image[k])}, not bytes`);
}

/** A value as an error message shows it: short. */
function show(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  const text = typeof v === "bigint" ? `${v}n` : JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
