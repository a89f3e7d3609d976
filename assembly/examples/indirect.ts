// indirect — calls through the function table (call_indirect): first an
// array of first-class `(x: i32) => i32` functions applied in a rotating
// pattern, then a tiny register-machine interpreter whose opcode handlers
// are dispatched through a table of function references.
//
// args: [rounds=2000] [loops=200]
//   rounds   number of calls made through the function array
//   loops    iteration count fed to the bytecode program (a loop in bytecode)
// Prints `funcs(<rounds>) = <v>`, `vm(<loops>) = <r0> after <steps> steps`,
// and a final `indirect checksum = <c>`.

import { print, args } from "popcorn";

// ---- part 1: an array of function references ----------------------------

type IntFn = (x: i32) => i32;

function double(x: i32): i32 { return x << 1; }
function inc7(x: i32): i32 { return x + 7; }
function rotl5(x: i32): i32 { return rotl<i32>(x, 5); }
// rounds of xor-shift in a loop: a migration point in a function that only
// call_indirect reaches (from applyAll, and from the machine's APPLY handler)
function mix(x: i32): i32 {
  for (let r = 0; r < 3; r++) x = x ^ (x >>> 11) ^ 0x5bd1e995;
  return x;
}

function applyAll(fns: IntFn[], rounds: i32): i32 {
  let v = 1;
  for (let i = 0; i < rounds; i++) {
    // the callee is chosen from data, so this cannot become a direct call
    const f = fns[(v >>> 3) % fns.length];
    v = f(v) + i;
  }
  return v;
}

// ---- part 2: a register machine, dispatched through a handler table ----
//
// An instruction is four i32 words: op, a, b, c. Registers r0..r7.
// Each handler executes one instruction and returns the next pc.

const OP_LOADI = 0; // r[a] = b
const OP_ADD   = 1; // r[a] = r[b] + r[c]
const OP_MUL   = 2; // r[a] = r[b] * r[c]
const OP_XOR   = 3; // r[a] = r[b] ^ r[c]
const OP_ADDI  = 4; // r[a] = r[b] + c
const OP_JNZ   = 5; // if (r[a] != 0) pc = b
const OP_APPLY = 6; // r[a] = FNS[b](r[c])   (a nested indirect call)
const OP_HALT  = 7;

type Handler = (pc: i32) => i32;

const REGS = new StaticArray<i32>(8);
let CODE = new StaticArray<i32>(0);
let FNS: IntFn[] = [];

// @ts-ignore: decorator
@inline function opnd(pc: i32, k: i32): i32 { return unchecked(CODE[pc * 4 + k]); }

function hLoadi(pc: i32): i32 { REGS[opnd(pc, 1)] = opnd(pc, 2); return pc + 1; }
function hAdd(pc: i32): i32 { REGS[opnd(pc, 1)] = REGS[opnd(pc, 2)] + REGS[opnd(pc, 3)]; return pc + 1; }
function hMul(pc: i32): i32 { REGS[opnd(pc, 1)] = REGS[opnd(pc, 2)] * REGS[opnd(pc, 3)]; return pc + 1; }
function hXor(pc: i32): i32 { REGS[opnd(pc, 1)] = REGS[opnd(pc, 2)] ^ REGS[opnd(pc, 3)]; return pc + 1; }
function hAddi(pc: i32): i32 { REGS[opnd(pc, 1)] = REGS[opnd(pc, 2)] + opnd(pc, 3); return pc + 1; }
function hJnz(pc: i32): i32 { return REGS[opnd(pc, 1)] != 0 ? opnd(pc, 2) : pc + 1; }
function hApply(pc: i32): i32 { REGS[opnd(pc, 1)] = FNS[opnd(pc, 2)](REGS[opnd(pc, 3)]); return pc + 1; }
function hHalt(pc: i32): i32 { return -1; }

const HANDLERS: Handler[] = [hLoadi, hAdd, hMul, hXor, hAddi, hJnz, hApply, hHalt];

let steps = 0;
function run(): i32 {
  let pc = 0;
  steps = 0;
  while (pc >= 0) {
    pc = HANDLERS[unchecked(CODE[pc * 4])](pc);
    steps++;
  }
  return REGS[0];
}

// r0 = acc, r1 = loop counter, r2 = i, r3 = temp, r4 = 3
function program(loops: i32): StaticArray<i32> {
  return StaticArray.fromArray<i32>([
    OP_LOADI, 0, 17, 0,     // 0: r0 = 17
    OP_LOADI, 1, loops, 0,  // 1: r1 = loops
    OP_LOADI, 2, 0, 0,      // 2: r2 = 0
    OP_LOADI, 4, 3, 0,      // 3: r4 = 3
    OP_JNZ, 1, 6, 0,        // 4: if r1 goto 6
    OP_HALT, 0, 0, 0,       // 5: halt (loops == 0)
    OP_MUL, 3, 2, 4,        // 6: r3 = r2 * 3
    OP_XOR, 0, 0, 3,        // 7: r0 ^= r3
    OP_APPLY, 0, 3, 0,      // 8: r0 = mix(r0)
    OP_ADD, 0, 0, 2,        // 9: r0 += r2
    OP_ADDI, 2, 2, 1,       // 10: r2++
    OP_ADDI, 1, 1, -1,      // 11: r1--
    OP_JNZ, 1, 6, 0,        // 12: if r1 goto 6
    OP_HALT, 0, 0, 0,       // 13: halt
  ]);
}

export function main(): i32 {
  const a = args();
  const rounds = a.length > 0 ? I32.parseInt(a[0]) : 2000;
  const loops = a.length > 1 ? I32.parseInt(a[1]) : 200;

  // an array of function references: named functions and arrow functions
  const fns: IntFn[] = [
    double,
    inc7,
    rotl5,
    mix,
    (x: i32): i32 => x * 3 + 1,
    (x: i32): i32 => ~x,
    (x: i32): i32 => x - (x >> 2),
    (x: i32): i32 => x * x,
  ];
  const v = applyAll(fns, rounds);
  print("funcs(" + rounds.toString() + ") = " + v.toString());

  FNS = fns;
  CODE = program(loops);
  const r = run();
  print("vm(" + loops.toString() + ") = " + r.toString() + " after " + steps.toString() + " steps");

  print("indirect checksum = " + (<u32>(v ^ r)).toString());
  return 0;
}
