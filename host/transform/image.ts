/**
 * Native images and portable frames: the two forms of a thread's stack.
 *
 * A portable frame is the Wasm-level frame a capture yields: a site id and
 * the values of the site's live locals, in popcorn.sites' order. A native
 * image is the same stack as one ISA would hold it: a register file and the
 * bytes of the stack, laid out by that ISA's stackmap (frame records,
 * callee-saved spill slots, values in registers and stack slots). lower
 * turns frames into an image, lift turns an image back into frames, and
 * rewrite turns an image of one ISA into an image of another.
 *
 * NativeImage — plain numbers and Uint8Arrays, so the message layer can
 * MessagePack it as it is:
 *
 *   field     | contents
 *   ----------|---------------------------------------------------------------
 *   isa       | the profile's name
 *   pc        | the innermost frame's return address (right after its site's call)
 *   sp, fp    | the innermost frame's stack pointer and frame base
 *   stackTop  | the first address above the stack (the outermost frame's CFA)
 *   regs      | register file: 16 bytes per DWARF number (0 .. profile.dwarfRegisters−1),
 *             | little-endian, value in the low bytes, the rest zero; regs[sp],
 *             | regs[fp] and regs[ra] hold sp, fp and pc as u64
 *   stack     | the bytes of addresses sp .. stackTop−1: byte i is address sp+i
 *
 * Addresses in the stack (saved frame pointers, return addresses) are u64
 * little-endian; all addresses are below 2^53 and handled as JS numbers.
 * Bytes no frame writes are zero, so lowering is deterministic.
 *
 * regs and stack of a small image built here are views into a slab shared
 * with other images (frames.ts, imageBytes): encode or copy them, never
 * transfer their `.buffer`. Images read by lift and rewrite may be any
 * Uint8Array views (e.g. straight out of a MessagePack decoder).
 *
 * Worked example: the compiled fib example stopped in fib(1) at fib's entry
 * point, called from fib(2) at its first recursive call, called from main;
 * frames innermost first [{site 4, [1]}, {site 5, [2]}, {site 22, [1, 4]}]
 * (site 22 is in main, whose `$1` = 1 and `$211` = 4 are live there). Each
 * row is 8 bytes; addresses are 0x7fffffffe… and 0xffffffffe…:
 *
 *   x86-64: sp …f80, rbp …f90, pc 0x4010dc     | aarch64: sp = x29 = …f70, pc 0x4100e0
 *   addr | contents                            | addr | contents
 *   ff8  | 0x401007 main returns to the stub   | ff8  | 0 (padding)               main
 *   ff0  | 0        saved rbp (stub's)          | fc0… | 0 x19…x25 saved (stub's)
 *   fe8… | 0        rbx r12 r13 r14 r15 saved   | fb8  | 0x41000c saved x30: to the stub
 *   fc0  | 0        spill slots [rbp-48], [-44] | fb0  | 0 saved x29          ← main's x29
 *   fb8  | 0x4012fb fib(2) returns into main    | fa8  | 0 saved x20               fib(2)
 *   fb0  | …eff0    saved rbp  ← fib(2)'s rbp   | fa0  | 1 saved x19 = main's $1
 *   fa8  | 1        saved rbx = main's $1       | f98  | 0x410304 saved x30: into main
 *   fa0  | 0        saved r12                   | f90  | …efb0 saved x29     ← fib(2)'s x29
 *   f98  | 0x4010ee fib(1) returns into fib(2)  | f88  | 0 saved x20               fib(1)
 *   f90  | …efb0    saved rbp  ← fib(1)'s rbp   | f80  | 2 saved x19 = fib(2)'s $0
 *   f88  | 2        saved rbx = fib(2)'s $0     | f78  | 0x4100f0 saved x30: into fib(2)
 *   f80  | 0        saved r12            ← sp   | f70  | …ef90 saved x29   ← fib(1)'s x29 = sp
 *   registers: rbx = 1 (fib(1)'s $0),           | x19 = 1 (fib(1)'s $0), x23 = 4 (main's
 *   r15 = 4 (main's $211: no callee reused r15) | $211), sp, x29, x30 = pc
 *   rsp, rbp, rip = pc                          |
 *
 * main's `$1` is in rbx / x19 on both, and fib reuses that register, so it
 * is read from fib(2)'s save slot; `$211` is in a register no callee uses,
 * so it is read from the register file.
 */
import type { ValueType } from "../toolchain/index.js";

/** i32/f32/f64 as numbers, i64 as a signed BigInt, v128 as two signed i64 lanes, low first. */
export type Value = number | bigint | [bigint, bigint];

export interface PortableFrame {
  site: number;
  values: Value[];
}

export interface NativeImage {
  isa: string;
  pc: number;
  sp: number;
  fp: number;
  stackTop: number;
  regs: Uint8Array;
  stack: Uint8Array;
}

export class TransformError extends Error {}

export const hexAddress = (a: number): string => `0x${a.toString(16)}`;

/** "frame 3 (fib/fib, site 5)" */
export function frameText(depth: number, func?: string, site?: number): string {
  return func === undefined ? `frame ${depth}` : `frame ${depth} (${func}, site ${site})`;
}

export type { ValueType };
