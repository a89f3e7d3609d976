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
 * (v128, low lane first). An image for another module, a truncated one or
 * one whose checksum does not match is refused with an ImageError.
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

export function decodeImage(bytes: Uint8Array, where = "image"): ProcessImage {
  if (bytes.length < HEADER) throw new ImageError(`${where}: truncated (${bytes.length} bytes, header needs ${HEADER})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new ImageError(`${where}: not a popcorn process image (bad magic)`);
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
  try {
    const [moduleHash, args, [wasmPages, pages], globals, threads] = decode(payload, { useBigInt64: true, extensionCodec: codec }) as [
      Uint8Array, string[], [number, [number, Uint8Array][]], [string, number | bigint][], [number, Value[]][][],
    ];
    return {
      moduleHash,
      args,
      memory: { wasmPages, pages },
      globals,
      threads: threads.map((t) => ({ frames: t.map(([site, values]) => ({ site, values })) })),
    };
  } catch (e) {
    throw new ImageError(`${where}: malformed payload (${(e as Error).message})`);
  }
}
