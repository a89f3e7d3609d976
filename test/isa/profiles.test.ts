// The ISA profiles follow the real ABIs they are modelled on: System V
// AMD64 and AAPCS64 register numbers, callee-saved sets, frame layouts.
import { describe, expect, it } from "vitest";
import { aarch64, locationText, profile, PROFILES, x86_64 } from "../../host/isa/index.js";

const name = (p: typeof x86_64, d: number) => p.registerName(d);

describe("ISA profiles", () => {
  it("x86-64 numbers its registers as the psABI's DWARF table does", () => {
    const names = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"];
    names.forEach((n, d) => expect(name(x86_64, d)).toBe(n));
    expect(name(x86_64, 17)).toBe("xmm0");
    expect(name(x86_64, 32)).toBe("xmm15");
    expect([x86_64.sp, x86_64.fp, x86_64.ra, x86_64.dwarfRegisters]).toEqual([7, 6, 16, 33]);
  });

  it("aarch64 numbers x0–x30, sp and v0–v31 as DWARF for AArch64 does", () => {
    for (let i = 0; i <= 30; i++) expect(name(aarch64, i)).toBe(`x${i}`);
    expect(name(aarch64, 31)).toBe("sp");
    expect(name(aarch64, 64)).toBe("v0");
    expect(name(aarch64, 95)).toBe("v31");
    expect(aarch64.registerName(72, 8)).toBe("d8");
    expect(aarch64.registerName(72, 4)).toBe("s8");
    expect([aarch64.sp, aarch64.fp, aarch64.ra, aarch64.dwarfRegisters]).toEqual([31, 29, 30, 96]);
  });

  it("allocates only callee-saved registers: rbx r12–r15 on x86-64 (rbp is the frame pointer), x19–x28 and d8–d15 on aarch64", () => {
    expect(x86_64.calleeSaved.gpr.map((d) => name(x86_64, d))).toEqual(["rbx", "r12", "r13", "r14", "r15"]);
    expect(x86_64.calleeSaved.fpr).toEqual([]);
    expect(aarch64.calleeSaved.gpr.map((d) => name(aarch64, d))).toEqual(["x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28"]);
    expect(aarch64.calleeSaved.fpr.map((d) => aarch64.registerName(d, 8))).toEqual(["d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15"]);
    for (const p of PROFILES.values()) expect(p.savedRegisterBytes).toBe(8); // only the low 64 bits of d8–d15 survive
  });

  it("lays out the x86-64 frame below rbp: record at [rbp], [rbp+8], pushes then spills at negative offsets", () => {
    const l = x86_64.layoutFrame({ saved: [3, 12], slots: [4, 16, 8] });
    expect(l).toEqual({ frameSize: 64, saveOffsets: [-8, -16], slotOffsets: [-24, -48, -32] });
    expect(x86_64.cfaOffset(64)).toBe(16);
    expect([x86_64.savedFpOffset, x86_64.returnAddressOffset]).toEqual([0, 8]);
  });

  it("lays out the aarch64 frame above x29 = sp: record at [x29], saves then spills at positive offsets", () => {
    const l = aarch64.layoutFrame({ saved: [19, 20], slots: [4, 16, 8] });
    expect(l).toEqual({ frameSize: 64, saveOffsets: [16, 24], slotOffsets: [56, 32, 48] });
    expect(aarch64.cfaOffset(64)).toBe(64);
  });

  it("keeps frames 16-aligned and slots naturally aligned for any request", () => {
    for (const p of PROFILES.values()) {
      for (let saved = 0; saved <= 5; saved++) {
        for (const slots of [[], [4], [8, 4, 4], [16, 4], [4, 4, 4, 16, 8]]) {
          const l = p.layoutFrame({ saved: p.calleeSaved.gpr.slice(0, saved), slots });
          expect(l.frameSize % 16).toBe(0);
          l.slotOffsets.forEach((o, i) => expect(((o % slots[i]!) + slots[i]!) % slots[i]!).toBe(0));
        }
      }
    }
  });

  it("models a code-address space per ISA below 2^53, and a stack top aligned to 16", () => {
    expect(x86_64.code.textBase).not.toBe(aarch64.code.textBase);
    for (const p of PROFILES.values()) {
      expect(p.stackTop % 16).toBe(0);
      expect(p.stackTop).toBeLessThan(2 ** 53);
      expect(p.perf).toEqual({ speed: 1.0, cores: 1 });
    }
    expect(aarch64.code.siteBytes("call", [{ kind: "stack", offset: 1000, size: 8 }]) % 4).toBe(0);
  });

  // an i32 (or f32 bits in a general register) is in the 32-bit view of the
  // register, and an assembler names that view: mov ebx, … / mov w19, …;
  // before, the name was the 64-bit one whatever the value's size
  it("names a general-purpose register by the view a value of its size uses: ebx r12d w19 for 4 bytes, rbx r12 x19 for 8", () => {
    const x86 = (size?: number) => [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 15].map((d) => x86_64.registerName(d, size));
    expect(x86(4)).toEqual(["eax", "edx", "ecx", "ebx", "esi", "edi", "ebp", "esp", "r8d", "r12d", "r15d"]);
    expect(x86(8)).toEqual(["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r12", "r15"]);
    expect(x86()).toEqual(x86(8)); // no size: the whole register (save slots, the frame pointer)
    expect([4, 8, 16].map((size) => x86_64.registerName(17 + 8, size))).toEqual(["xmm8", "xmm8", "xmm8"]);
    for (let i = 0; i <= 30; i++) {
      expect(aarch64.registerName(i, 4)).toBe(`w${i}`);
      expect(aarch64.registerName(i, 8)).toBe(`x${i}`);
    }
    expect([aarch64.registerName(31, 4), aarch64.registerName(31, 8)]).toEqual(["wsp", "sp"]);
    expect([4, 8, 16].map((size) => aarch64.registerName(64 + 8, size))).toEqual(["s8", "d8", "v8"]);
  });

  it("writes locations as an assembler does", () => {
    expect(locationText(x86_64, { kind: "register", dwarf: 3, size: 4 })).toBe("ebx");
    expect(locationText(x86_64, { kind: "register", dwarf: 3, size: 8 })).toBe("rbx");
    expect(locationText(aarch64, { kind: "register", dwarf: 21, size: 4 })).toBe("w21");
    expect(locationText(x86_64, { kind: "stack", offset: -24, size: 4 })).toBe("[rbp-24]");
    expect(locationText(aarch64, { kind: "stack", offset: 32, size: 8 })).toBe("[x29+32]");
    expect(locationText(aarch64, { kind: "register", dwarf: 21, size: 8 })).toBe("x21");
    expect(locationText(aarch64, { kind: "constant", value: 7, size: 4 })).toBe("const 7");
  });

  it("profile(name) finds a profile and names the known ones for an unknown name", () => {
    expect(profile("aarch64")).toBe(aarch64);
    expect(() => profile("riscv64")).toThrow('unknown ISA "riscv64" — known ISAs: x86-64, aarch64');
  });
});
