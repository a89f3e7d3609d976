/**
 * x86-64, modelled on the System V AMD64 ABI with frame pointers
 * (gcc/clang -fno-omit-frame-pointer).
 *
 * Registers and DWARF numbers (the psABI's table):
 *
 *   rax 0  rdx 1  rcx 2  rbx 3  rsi 4  rdi 5  rbp 6  rsp 7  r8–r15 8–15
 *   16 = return-address column (rip)      xmm0–xmm15 17–32
 *
 * A register is named by the view its value uses, as an assembler writes
 * it: ebx, r12d for a 4-byte value (an i32 lives in the low 32 bits),
 * rbx, r12 for 8 bytes or the whole register (save slots, rbp); xmm8 for
 * any size. Only the text: a stackmap holds DWARF numbers.
 *
 * Callee-saved: rbx, rbp, r12–r15. rbp is the frame pointer, so the
 * allocator has five registers for values live across a call: rbx, r12, r13,
 * r14, r15. No xmm register survives a call, so every f32/f64/v128 value
 * live across one is spilled.
 *
 * Frame (stack grows down; offsets from rbp, the frame base):
 *
 *   address          | contents
 *   -----------------|-------------------------------------------------
 *   CFA              | caller's frame (the caller's sp before `call`)
 *   CFA-8  = rbp+8   | return address, pushed by `call`
 *   CFA-16 = rbp+0   | saved caller rbp (`push rbp; mov rbp, rsp`)
 *   rbp-8, rbp-16 …  | callee-saved registers, `push`ed in allocation order
 *   …                | padding to 16
 *   sp .. sp+S       | spill slots, largest first from sp (natural alignment)
 *   sp = CFA - frameSize, frameSize a multiple of 16
 *
 * The CFA is 16-aligned (the ABI aligns sp before every call), so rbp is too.
 *
 * Worked example: a function saving rbx and r12 with spill slots of 16, 8
 * and 4 bytes: 16 + 2*8 + 28 = 60 → frameSize 64; rbx at [rbp-8], r12 at
 * [rbp-16], the v128 at [rbp-48], the 8-byte slot at [rbp-32], the 4-byte
 * slot at [rbp-24], 4 bytes of padding at [rbp-20].
 *
 * Code model (byte counts of real encodings; the bodies between sites are
 * nominal): text at 0x401000 (ld's default after the headers page), functions
 * aligned to 16; an entry stub `xor ebp,ebp; call main; mov edi,eax; call
 * exit; hlt` (16 bytes, return address at +7); prologue `push rbp` (1), `mov
 * rbp,rsp` (3), `push rbx` (1) / `push r12..r15` (2 each), `sub rsp,imm`
 * (4 for imm8, 7 for imm32); per site: its check or argument set-up (13 for
 * entry/loop points: `cmp dword [rip+ctrl],0; jne`; 10 for calls), one move
 * per live value (3 register-register, 5 or 8 to a stack slot with an 8- or
 * 32-bit displacement) and `call rel32` (5); epilogue `lea rsp,[rbp-8n]` (4),
 * pops, `pop rbp` (1), `ret` (1).
 */
import type { Location, SiteKind } from "../toolchain/index.js";
import { alignUp, type FrameLayout, type FrameRequest, type IsaProfile, type Register, registerTable } from "./profile.js";

const GPR_NAMES = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
/** the 32-bit views: where an i32 lives (a write to one zeroes the upper half) */
const GPR32_NAMES = ["eax", "edx", "ecx", "ebx", "esi", "edi", "ebp", "esp", ...GPR_NAMES.slice(8).map((r) => `${r}d`)];
const RBX = 3;
const RBP = 6;
const RSP = 7;
const RA = 16;

const registers: Register[] = [
  ...GPR_NAMES.map((name, dwarf) => ({ name, dwarf, cls: "gpr" as const })),
  { name: "rip", dwarf: RA, cls: "gpr" },
  ...Array.from({ length: 16 }, (_, i) => ({ name: `xmm${i}`, dwarf: 17 + i, cls: "fpr" as const })),
];
const byDwarf = registerTable(registers);

/** Slots largest first from the bottom of the frame keep every slot naturally aligned. */
function placeSlotsUpward(slots: readonly number[], start: number): number[] {
  const order = slots.map((size, i) => ({ size, i })).sort((a, b) => b.size - a.size || a.i - b.i);
  const offsets = new Array<number>(slots.length);
  let at = start;
  for (const { size, i } of order) {
    offsets[i] = at;
    at += size;
  }
  return offsets;
}

function layoutFrame(f: FrameRequest): FrameLayout {
  const saves = f.saved.length * 8;
  const spill = f.slots.reduce((a, b) => a + b, 0);
  const frameSize = alignUp(16 + saves + spill, 16);
  return {
    frameSize,
    saveOffsets: f.saved.map((_, i) => -8 * (i + 1)),
    slotOffsets: placeSlotsUpward(f.slots, 16 - frameSize), // sp − rbp
  };
}

const pushBytes = (dwarf: number) => (dwarf >= 8 ? 2 : 1);
const SITE_BODY: Record<SiteKind, number> = { entry: 13, loop: 13, call: 10, explicit: 10 };

function moveBytes(l: Location): number {
  if (l.kind === "register") return 3;
  if (l.kind === "stack") return l.offset >= -128 && l.offset <= 127 ? 5 : 8;
  return 0;
}

export const x86_64: IsaProfile = {
  name: "x86-64",
  abi: "System V AMD64 psABI, frame pointers on",
  dwarfRegisters: 33,
  registers,
  sp: RSP,
  fp: RBP,
  ra: RA,
  calleeSaved: { gpr: [RBX, 12, 13, 14, 15], fpr: [] },
  savedRegisterBytes: 8,
  stackAlign: 16,
  stackTop: 0x7ffffffff000,
  savedFpOffset: 0,
  returnAddressOffset: 8,
  cfaOffset: () => 16,
  layoutFrame,
  code: {
    textBase: 0x401000,
    functionAlign: 16,
    entryStub: { bytes: 16, returnOffset: 7 },
    prologueBytes(f, l) {
      const sub = l.frameSize - 16 - f.saved.length * 8;
      return 4 + f.saved.reduce((a, d) => a + pushBytes(d), 0) + (sub === 0 ? 0 : sub <= 127 ? 4 : 7);
    },
    siteBytes: (kind, values) => SITE_BODY[kind] + values.reduce((a, l) => a + moveBytes(l), 0) + 5,
    epilogueBytes(f, l) {
      const restoreSp = f.saved.length ? 4 : l.frameSize > 16 ? 3 : 0;
      return restoreSp + f.saved.reduce((a, d) => a + pushBytes(d), 0) + 2;
    },
  },
  perf: { speed: 1.0, cores: 1 },
  registerName: (dwarf, size) => (size === 4 && GPR32_NAMES[dwarf]) || (byDwarf.get(dwarf)?.name ?? `dwarf${dwarf}`),
};
