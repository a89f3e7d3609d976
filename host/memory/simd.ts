/**
 * A page's change mask with Wasm SIMD, 16 bytes at a time: diff() runs it on
 * every dirty page (replica.ts). 0.33 µs a page, where the JavaScript it
 * replaced (32-bit words, bit tricks) took 2.4–3.0 µs on a page rewritten
 * word by word.
 *
 * Wasm code can only read its own memory, so the module imports the
 * replica's twin (a shared WebAssembly.Memory) and works inside it: diff()
 * copies the page's snapshot into the twin's reserved bytes (below the
 * first program page, which no release or page set ever covers), and the
 * function compares it with the twin's copy of the page, writes the change
 * mask (spans.ts's format) into the reserved bytes too, and copies the
 * snapshot over the twin's page — the twin becomes what was compared.
 *
 *   twin memory   0 .. 4095     SNAPSHOT: the page as diff() copied it
 *                 4096 .. 4607  MASK: 512 bytes, bit j & 7 of byte j >> 3
 *                               set when byte j of the page changed
 *                 8192 ..       the twin proper (RESERVED_END: the program's
 *                               first page)
 *
 *   pageMask(snapshot, page, mask) → bytes | runs << RUNS_SHIFT  (spans.ts changedBytes, changedRuns)
 *
 * Per step of 32 bytes: i8x16.ne of the two pages' vectors, i8x16.bitmask
 * of each (lane k is byte k: little-endian, as the mask), the two 16-bit
 * masks one i32 stored at mask + step·4; its popcount is the changed bytes,
 * and the popcount of its bits whose lower neighbour (the carry from the
 * last step for bit 0) is clear is the runs that start there.
 *
 * The module is written out byte by byte below (the Wasm binary format,
 * https://webassembly.github.io/spec/core/binary/):
 *
 *   "\0asm" 1
 *   type    (func (param i32 i32 i32) (result i32))
 *   import  "m" "twin" (memory 0 65536 shared)
 *   func    type 0; export "pageMask"
 *   code    locals i, bits, bytes, runs, carry: i32
 *
 * On a runtime without SIMD or threads the module does not validate, and
 * for a twin it cannot import (not shared) instantiation fails with a
 * LinkError: pageMaskSimd returns undefined, and diff() compares with
 * spans.ts addChanged instead — runs only, never a dense page, and slower.
 */
import { MASK_BYTES, RUNS_SHIFT } from "./spans.js";

/** Where the module works in the twin memory (see the header). */
export const SIMD_SNAPSHOT = 0;
export const SIMD_MASK = 4096;
/** The reserved bytes it needs below the program's first page. */
export const SIMD_SCRATCH_END = SIMD_MASK + MASK_BYTES;

export type PageMaskFn = (snapshot: number, page: number, mask: number) => number;

// opcodes
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I32_STORE = 0x36;
const I32_ADD = 0x6a;
const I32_AND = 0x71;
const I32_OR = 0x72;
const I32_XOR = 0x73;
const I32_SHL = 0x74;
const I32_SHR_U = 0x76;
const I32_POPCNT = 0x69;
const I32_LT_U = 0x49;
const LOOP = 0x03;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const I8X16_NE = 0x24;
const I8X16_BITMASK = 0x64;
const MISC = 0xfc;
const MEMORY_COPY = 10;

// parameters and locals
const SNAP = 0;
const PAGE = 1;
const MASK = 2;
const I = 3;
const BITS = 4;
const BYTES = 5;
const RUNS = 6;
const CARRY = 7;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const name = (s: string) => [s.length, ...Buffer.from(s, "latin1")];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** bitmask(ne(v128 at snapshot+i+offset, v128 at page+i+offset)): 16 bits */
function laneBits(offset: number): number[] {
  const load = (base: number) => [LOCAL_GET, base, LOCAL_GET, I, I32_ADD, SIMD, V128_LOAD, 0 /* align 1 */, ...uleb(offset)];
  return [...load(SNAP), ...load(PAGE), SIMD, I8X16_NE, SIMD, I8X16_BITMASK];
}

function body(): number[] {
  const code = [
    LOOP, VOID,
    // bits = lanes 0..15 | lanes 16..31 << 16
    ...laneBits(0), ...laneBits(16), I32_CONST, 16, I32_SHL, I32_OR, LOCAL_SET, BITS,
    // i32 at mask + i / 8
    LOCAL_GET, MASK, LOCAL_GET, I, I32_CONST, 3, I32_SHR_U, I32_ADD, LOCAL_GET, BITS, I32_STORE, 2, 0,
    // bytes += popcnt(bits)
    LOCAL_GET, BYTES, LOCAL_GET, BITS, I32_POPCNT, I32_ADD, LOCAL_SET, BYTES,
    // runs += popcnt(bits & ~(bits << 1 | carry))
    LOCAL_GET, RUNS,
    LOCAL_GET, BITS, LOCAL_GET, BITS, I32_CONST, 1, I32_SHL, LOCAL_GET, CARRY, I32_OR, I32_CONST, ...sleb(-1), I32_XOR, I32_AND,
    I32_POPCNT, I32_ADD, LOCAL_SET, RUNS,
    // carry = bits >>> 31
    LOCAL_GET, BITS, I32_CONST, 31, I32_SHR_U, LOCAL_SET, CARRY,
    // i += 32; while i < 4096
    LOCAL_GET, I, I32_CONST, 32, I32_ADD, LOCAL_SET, I,
    LOCAL_GET, I, I32_CONST, ...sleb(4096), I32_LT_U, BR_IF, 0,
    END,
    // the twin's page := the snapshot
    LOCAL_GET, PAGE, LOCAL_GET, SNAP, I32_CONST, ...sleb(4096), MISC, MEMORY_COPY, 0, 0,
    // bytes | runs << RUNS_SHIFT
    LOCAL_GET, BYTES, LOCAL_GET, RUNS, I32_CONST, RUNS_SHIFT, I32_SHL, I32_OR,
    END,
  ];
  const fn = [1, 5, I32, ...code]; // one group of 5 i32 locals
  return [...uleb(fn.length), ...fn];
}

/** The module's bytes (see the header). */
export function pageMaskModule(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, I32, I32, I32, 1, I32]),
    ...section(2, [1, ...name("m"), ...name("twin"), 0x02, 0x03, ...uleb(0), ...uleb(65536)]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("pageMask"), 0x00, 0]),
    ...section(10, [1, ...body()]),
  ]);
}

let compiled: WebAssembly.Module | null | undefined;

/** pageMask working in `twin` (see the header); undefined where this runtime has no Wasm SIMD or `twin` is not a shared memory. */
export function pageMaskSimd(twin: WebAssembly.Memory): PageMaskFn | undefined {
  if (compiled === undefined) {
    const bytes = pageMaskModule();
    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  if (compiled === null) return undefined;
  try {
    return new WebAssembly.Instance(compiled, { m: { twin } }).exports.pageMask as PageMaskFn;
  } catch (e) {
    if (e instanceof WebAssembly.LinkError) return undefined; // a twin this module cannot import
    throw e;
  }
}
