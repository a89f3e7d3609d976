/**
 * aarch64, modelled on AAPCS64 with frame records (Linux requires them) and
 * GCC's frame layout (the diagram above aarch64_layout_frame in GCC's
 * aarch64.cc): the frame record at the bottom of the frame, x29 = sp.
 *
 * Registers and DWARF numbers (DWARF for the Arm 64-bit Architecture):
 *
 *   x0–x30 0–30 (x29 frame pointer, x30 link register)   sp 31   v0–v31 64–95
 *
 * A register is named by the view its value uses, as an assembler writes
 * it: w19 for a 4-byte value (an i32 lives in the low 32 bits, AAPCS64),
 * x19 for 8 bytes or the whole register (save slots, x29); s8, d8, v8 for
 * 4, 8 and 16 bytes of v8. Only the text: a stackmap holds DWARF numbers.
 *
 * Callee-saved: x19–x28, x29, x30, and the low 64 bits of v8–v15 (d8–d15;
 * the upper halves are not preserved). x29 and x30 live in the frame record,
 * so the allocator has ten general-purpose registers (x19–x28) and eight
 * floating-point ones (d8–d15) for values live across a call; a v128 never
 * survives a call in a register and is always spilled.
 *
 * The return address is not pushed by the call: `bl` leaves it in x30, and
 * the prologue stores x30 with x29 into the frame record.
 *
 * Frame (stack grows down; offsets from x29, the frame base, are positive):
 *
 *   address          | contents
 *   -----------------|-------------------------------------------------
 *   CFA              | caller's frame (the caller's sp before `bl`)
 *   …                | padding to 16
 *   x29+16+8n+p …    | spill slots, largest first (natural alignment,
 *                    |   p = padding to the largest slot's alignment)
 *   x29+16 …         | callee-saved registers x19.., then d8.. (stp pairs)
 *   x29+8            | saved x30 (return address into the caller)
 *   x29+0 = sp       | saved caller x29
 *   frameSize = CFA - sp, a multiple of 16; x29 = sp = CFA - frameSize
 *
 * Worked example, the same function as in x86-64.ts (x19, x20 saved, slots
 * of 16, 8 and 4 bytes): saves at [x29+16], [x29+24]; slots from
 * alignUp(32, 16) = 32: the v128 at [x29+32], the 8-byte slot at [x29+48],
 * the 4-byte slot at [x29+56]; 60 → frameSize 64, CFA = x29+64.
 *
 * Code model: every instruction is 4 bytes. Text at 0x410000 (the first
 * 64 KiB-aligned executable segment after the headers), functions aligned to
 * 4 bytes (the instruction size); an entry stub `mov x29,#0; mov x30,#0;
 * bl main; bl exit; brk #0` (20 bytes, return address at +12); prologue
 * `stp x29,x30,[sp,#-N]!` (or `sub sp` + `stp` when N > 504), `mov x29,sp`,
 * one `stp`/`str` per pair of saved registers of a class; per site: its check
 * or argument set-up (3 instructions for entry/loop points: `adrp; ldr;
 * cbnz`, 2 for calls), one `mov`/`str` per live value, `bl` (4); epilogue:
 * the `ldp`s, `ldp x29,x30,[sp],#N` (+ `add sp` when large), `ret`.
 */
import type { SiteKind } from "../toolchain/index.js";
import { alignUp, type FrameLayout, type FrameRequest, type IsaProfile, type Register, registerTable } from "./profile.js";

const X29 = 29;
const X30 = 30;
const SP = 31;
const V0 = 64;

const registers: Register[] = [
  ...Array.from({ length: 31 }, (_, i) => ({ name: `x${i}`, dwarf: i, cls: "gpr" as const })),
  { name: "sp", dwarf: SP, cls: "gpr" },
  ...Array.from({ length: 32 }, (_, i) => ({ name: `v${i}`, dwarf: V0 + i, cls: "fpr" as const })),
];
const byDwarf = registerTable(registers);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function layoutFrame(f: FrameRequest): FrameLayout {
  const saveOffsets = f.saved.map((_, i) => 16 + 8 * i);
  const maxAlign = f.slots.reduce((a, s) => Math.max(a, s), 4);
  const order = f.slots.map((size, i) => ({ size, i })).sort((a, b) => b.size - a.size || a.i - b.i);
  const slotOffsets = new Array<number>(f.slots.length);
  let at = alignUp(16 + 8 * f.saved.length, maxAlign);
  for (const { size, i } of order) {
    slotOffsets[i] = at;
    at += size;
  }
  return { frameSize: alignUp(at, 16), saveOffsets, slotOffsets };
}

/** stp/str instructions to save (or ldp/ldr to restore) registers, paired within a class. */
function pairInstructions(saved: readonly number[]): number {
  const gpr = saved.filter((d) => d < V0).length;
  const fpr = saved.length - gpr;
  return Math.ceil(gpr / 2) + Math.ceil(fpr / 2);
}

const SITE_BODY: Record<SiteKind, number> = { entry: 3, loop: 3, call: 2, explicit: 2 };

export const aarch64: IsaProfile = {
  name: "aarch64",
  abi: "AAPCS64 with frame records, GCC's frame layout",
  dwarfRegisters: 96,
  registers,
  sp: SP,
  fp: X29,
  ra: X30,
  calleeSaved: { gpr: range(19, 28), fpr: range(V0 + 8, V0 + 15) },
  savedRegisterBytes: 8,
  stackAlign: 16,
  stackTop: 0xfffffffff000,
  savedFpOffset: 0,
  returnAddressOffset: 8,
  cfaOffset: (frameSize) => frameSize,
  layoutFrame,
  code: {
    textBase: 0x410000,
    functionAlign: 4,
    entryStub: { bytes: 20, returnOffset: 12 },
    prologueBytes: (f, l) => 4 * ((l.frameSize > 504 ? 2 : 1) + 1 + pairInstructions(f.saved)),
    siteBytes: (kind, values) => 4 * (SITE_BODY[kind] + values.filter((v) => v.kind !== "constant").length + 1),
    epilogueBytes: (f, l) => 4 * (pairInstructions(f.saved) + (l.frameSize > 504 ? 2 : 1) + 1),
  },
  perf: { speed: 1.0, cores: 1 },
  registerName(dwarf, size) {
    if (dwarf >= V0 && dwarf < V0 + 32) return `${size === 4 ? "s" : size === 8 ? "d" : "v"}${dwarf - V0}`;
    if (size === 4 && dwarf <= SP) return dwarf === SP ? "wsp" : `w${dwarf}`; // the 32-bit view an i32 lives in
    return byDwarf.get(dwarf)?.name ?? `dwarf${dwarf}`;
  },
};
