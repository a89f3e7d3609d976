/**
 * The ISA profile: everything about one simulated instruction-set
 * architecture that the backend allocator (allocate.ts) and the state
 * transformation (host/transform) need, and nothing else. As Popcorn's
 * stack transformer fills one table of register operations and one of
 * properties per architecture, the layers above talk only to this interface;
 * a new ISA is one new file that exports an IsaProfile.
 *
 * What a profile fixes, and who uses it:
 *
 *   register file   names and DWARF numbers (the register file of a native
 *                   image has 16 bytes per DWARF number), sp / fp / ra
 *                                                         transform, traces
 *   callee-saved    the registers a callee preserves, per class, in the
 *                   order the allocator hands them out     allocate
 *   frame layout    where the frame record (saved caller frame pointer and
 *                   return address) sits relative to the frame pointer, how
 *                   the frame pointer relates to the CFA, where the prologue
 *                   saves registers and where spill slots go     both
 *   code model      text base, function alignment, bytes of prologue, site
 *                   and epilogue code: gives every function an address and a
 *                   size and every site a return address          allocate
 *   stack           alignment (16 on both ABIs) and the top of the stack
 *   performance     relative speed and default cores, for the scheduler
 *
 * Terms. The CFA (canonical frame address, as in DWARF call-frame
 * information) of a frame is the caller's stack pointer just before the
 * call instruction; the frame occupies [CFA − frameSize, CFA). The frame
 * base of a frame is the value of its frame pointer register; stack-slot
 * locations and save slots are offsets from it.
 */
import type { Location, SiteKind } from "../toolchain/index.js";

export type RegisterClass = "gpr" | "fpr";

export interface Register {
  name: string;
  dwarf: number;
  /** "fpr" for floating-point/vector registers */
  cls: RegisterClass;
}

/** The shape of a frame the allocator hands to the profile's layout. */
export interface FrameRequest {
  /** callee-saved registers to save, DWARF numbers, in allocation order */
  saved: number[];
  /** spill slots: bytes per slot (4, 8, 16), each naturally aligned */
  slots: number[];
}

export interface FrameLayout {
  /** CFA − sp, a multiple of the stack alignment */
  frameSize: number;
  /** per saved register: its offset from the frame base */
  saveOffsets: number[];
  /** per slot: its offset from the frame base */
  slotOffsets: number[];
}

/** Byte counts of the code the model "emits", for addresses and sizes. */
export interface CodeModel {
  textBase: number;
  functionAlign: number;
  /** the host's entry stub at textBase: its size and the offset of the return address of its call to main */
  entryStub: { bytes: number; returnOffset: number };
  prologueBytes(frame: FrameRequest, layout: FrameLayout): number;
  /** bytes from the end of the previous site (or the prologue) up to and including this site's call */
  siteBytes(kind: SiteKind, values: readonly Location[]): number;
  epilogueBytes(frame: FrameRequest, layout: FrameLayout): number;
}

export interface IsaProfile {
  /** "x86-64", "aarch64": the name in section names, images and messages */
  name: string;
  /** one line: the ABI it is modelled on */
  abi: string;
  /** the register file has this many DWARF numbers (0 .. count−1), 16 bytes each */
  dwarfRegisters: number;
  registers: readonly Register[];
  /** DWARF numbers of the stack pointer, the frame pointer and the return-address column */
  sp: number;
  fp: number;
  ra: number;
  /** allocatable callee-saved registers per class, in the order the allocator uses them */
  calleeSaved: { gpr: readonly number[]; fpr: readonly number[] };
  /** bytes of a register a callee preserves, and the size of its save slot */
  savedRegisterBytes: number;
  stackAlign: number;
  /** address of the first byte above the stack; the outermost frame's CFA */
  stackTop: number;
  /** frame record, from the frame base: saved caller frame pointer, return address */
  savedFpOffset: number;
  returnAddressOffset: number;
  /** CFA − frame base of a frame of this size */
  cfaOffset(frameSize: number): number;
  /** places the save slots and spill slots of a frame */
  layoutFrame(frame: FrameRequest): FrameLayout;
  code: CodeModel;
  perf: { speed: number; cores: number };
  /** the register's name as an assembler writes it for a value of `size` bytes (ebx and w21 for 4, rbx and x21 for 8, d8); without a size, the whole register */
  registerName(dwarf: number, size?: number): string;
}

export const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;

/** "ebx" | "[rbp-24]" | "x21" | "[x29+32]" | "const 7": a location as an assembler would write it. */
export function locationText(p: IsaProfile, l: Location): string {
  switch (l.kind) {
    case "register":
      return p.registerName(l.dwarf, l.size);
    case "stack":
      return `[${p.registerName(p.fp)}${l.offset < 0 ? "-" : "+"}${Math.abs(l.offset)}]`;
    case "constant":
      return `const ${l.value}`;
  }
}

/** Looks a register up by DWARF number in a profile's list (for registerName implementations). */
export function registerTable(regs: readonly Register[]): Map<number, Register> {
  return new Map(regs.map((r) => [r.dwarf, r]));
}
