/**
 * Process images: what `checkpoint()` captures and `restore()` consumes.
 *
 * Layout of a serialized image:
 *
 *   Offset | Size | Value
 *   -------|------|-------------------------------------------------------
 *   0      | 4    | magic "PCIM"
 *   4      | 4    | format version (u32 little-endian), IMAGE_VERSION
 *   8      | 4    | payload length (u32 little-endian)
 *   12     | 32   | sha-256 of the payload
 *   44     | n    | payload: MessagePack (BigInt as int64, -0.0 as extension 0x2d) of
 *                    [ moduleHash: bin(32), args: [str], memory, globals, threads ]
 *                    memory  = [ wasmPages, [[pageIndex, bytes(4096)], ...] ]
 *                              only pages that are not all zero
 *                    globals = [[exportName, value], ...]   mutable globals only
 *                    threads = [[ [site, [value, ...]], ... ]] frames innermost first
 *
 * A value is a number (i32, f32, f64), a BigInt (i64) or a pair of BigInts
 * (v128, low lane first). An image for another module, a truncated one, one
 * whose checksum does not match or whose payload is not of this shape (a
 * checksum guards against damage, not against a bug or another tool) is
 * refused with an ImageError; Process.restore checks the rest against the
 * program: sites, value types, globals, memory size.
 */
import { createHash } from "node:crypto";
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack";
import { protectNegativeZero, withNegativeZero } from "../msg/index.js";

/** -0.0 in globals and frame values survives the round trip (msg/negzero.ts) */
const codec = withNegativeZero(new ExtensionCodec());

export const IMAGE_VERSION = 1;
export const PAGE_SIZE = 4096;
const MAGIC = 0x4d494350; // "PCIM" little-endian
const HEADER = 44;

export type Value = number | bigint | [bigint, bigint];

export interface Frame {
  site: number;
  values: Value[];
}

export interface ThreadImage {
  /** innermost first */
  frames: Frame[];
}

export interface MemoryImage {
  wasmPages: number;
  pages: [number, Uint8Array][];
}

export interface ProcessImage {
  /** where it was read from (decodeImage's `where`), for errors that name it; not serialized */
  where?: string;
  moduleHash: Uint8Array;
  args: string[];
  memory: MemoryImage;
  globals: [string, number | bigint][];
  threads: ThreadImage[];
}

export class ImageError extends Error {}

/** The pages of `mem` that are not all zero. */
export function capturePages(mem: Uint8Array): MemoryImage {
  const pages: [number, Uint8Array][] = [];
  const words = new BigUint64Array(mem.buffer, mem.byteOffset, mem.byteLength >>> 3);
  const perPage = PAGE_SIZE >>> 3;
  for (let p = 0; p * PAGE_SIZE < mem.byteLength; p++) {
    for (let w = p * perPage, end = w + perPage; w < end; w++) {
      if (words[w] !== 0n) {
        pages.push([p, mem.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE)]);
        break;
      }
    }
  }
  return { wasmPages: mem.byteLength / 65536, pages };
}

export function encodeImage(img: ProcessImage): Uint8Array {
  const payload = encode(
    [
      img.moduleHash,
      img.args,
      [img.memory.wasmPages, img.memory.pages],
      img.globals.map(([n, v]) => [n, protectNegativeZero(v)]),
      img.threads.map((t) => t.frames.map((f) => [f.site, f.values.map(protectNegativeZero)])),
    ],
    { useBigInt64: true, extensionCodec: codec },
  );
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, IMAGE_VERSION, true);
  view.setUint32(8, payload.length, true);
  out.set(createHash("sha256").update(payload).digest(), 12);
  out.set(payload, HEADER);
  return out;
}

/** The image in `bytes`; `name`, the file it was read from, is named by every error (also those of Process.restore). */
export function decodeImage(bytes: Uint8Array, name?: string): ProcessImage {
  const where = name ?? "image";
  // the magic first, as far as the file goes: a short file of something else is no image, not a truncated one
  const magicOk = bytes.subarray(0, 4).every((b, i) => b === ((MAGIC >>> (8 * i)) & 0xff));
  if (!bytes.length || !magicOk) throw new ImageError(`${where}: not a popcorn process image (${bytes.length ? "bad magic" : "an empty file"})`);
  if (bytes.length < HEADER) throw new ImageError(`${where}: truncated (${bytes.length} bytes, header needs ${HEADER})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== IMAGE_VERSION) {
    throw new ImageError(`${where}: image format version ${version}, this popcorn reads ${IMAGE_VERSION}`);
  }
  const len = view.getUint32(8, true);
  if (bytes.length !== HEADER + len) {
    throw new ImageError(`${where}: truncated or padded (payload ${bytes.length - HEADER} bytes, header says ${len})`);
  }
  const payload = bytes.subarray(HEADER);
  const sum = createHash("sha256").update(payload).digest();
  if (!sum.equals(bytes.subarray(12, HEADER))) throw new ImageError(`${where}: checksum mismatch — the image is corrupted`);
  let raw: unknown;
  try {
    raw = decode(payload, { useBigInt64: true, extensionCodec: codec });
  } catch (e) {
    throw new ImageError(`${where}: malformed payload (${(e as Error).message})`);
  }
  return { ...(name === undefined ? {} : { where: name }), ...payloadOf(raw, (why) => new ImageError(`${where}: malformed payload (${why}) — take the image again with \`popcorn run --stop-at\``)) };
}

/** wasm pages a 32-bit memory can have */
const MAX_WASM_PAGES = 65536;

const isList = (v: unknown, n?: number): v is unknown[] => Array.isArray(v) && (n === undefined || v.length === n);
const isIndex = (v: unknown, end: number): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < end;
const isValue = (v: unknown): v is Value =>
  typeof v === "number" || typeof v === "bigint" || (isList(v, 2) && typeof v[0] === "bigint" && typeof v[1] === "bigint");

/** The decoded payload checked against the layout above, field by field. */
function payloadOf(raw: unknown, bad: (why: string) => ImageError): Omit<ProcessImage, "where"> {
  if (!isList(raw, 5)) throw bad("not a 5-element list");
  const [moduleHash, args, memory, globals, threads] = raw;
  if (!(moduleHash instanceof Uint8Array) || moduleHash.length !== 32) throw bad("the module hash is not 32 bytes");
  if (!isList(args) || !args.every((a) => typeof a === "string")) throw bad("the arguments are not a list of strings");
  if (!isList(memory, 2) || !isIndex(memory[0], MAX_WASM_PAGES + 1) || !isList(memory[1])) throw bad("the memory is not [wasm pages, pages]");
  const wasmPages = memory[0];
  const pages = memory[1].map((p, i) => {
    if (!isList(p, 2) || !isIndex(p[0], (wasmPages * 65536) / PAGE_SIZE) || !(p[1] instanceof Uint8Array) || p[1].length !== PAGE_SIZE) {
      throw bad(`memory page ${i} is not [index below ${(wasmPages * 65536) / PAGE_SIZE}, ${PAGE_SIZE} bytes]`);
    }
    return p as [number, Uint8Array];
  });
  if (!isList(globals)) throw bad("the globals are not a list");
  for (const [i, g] of globals.entries()) {
    if (!isList(g, 2) || typeof g[0] !== "string" || (typeof g[1] !== "number" && typeof g[1] !== "bigint")) throw bad(`global ${i} is not [name, number]`);
  }
  if (!isList(threads)) throw bad("the threads are not a list");
  const threadImages = threads.map((t, ti) => {
    if (!isList(t)) throw bad(`thread ${ti} is not a list of frames`);
    return {
      frames: t.map((f, fi): Frame => {
        if (!isList(f, 2) || !Number.isInteger(f[0]) || !isList(f[1]) || !f[1].every(isValue)) {
          throw bad(`thread ${ti} frame ${fi} is not [site, values]`);
        }
        return { site: f[0] as number, values: f[1] };
      }),
    };
  });
  return { moduleHash, args: args as string[], memory: { wasmPages, pages }, globals: globals as [string, number | bigint][], threads: threadImages };
}
