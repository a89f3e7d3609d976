/**
 * Copy plans: a stackmap compiled, once, into flat typed arrays that the
 * hot loops of lower, lift and rewrite index without allocating.
 *
 *   per site s       siteFunc[s]  siteRA[s]  siteBytes[s] (sum of its value sizes)
 *                    locations siteLoc[s] .. siteLoc[s+1]−1 of:
 *   per location     locKind (0 register, 1 stack slot, 2 constant)
 *                    locArg  (DWARF number | offset from the frame base | constant)
 *                    locSize (4, 8, 16)
 *   per function f   fnFrameSize[f]  fnCfaOffset[f] (CFA − frame base)
 *                    saves fnSave[f] .. fnSave[f+1]−1 of saveDwarf/saveOffset
 *   byAddress        return address → site id
 *
 * Building the plan checks everything about the stackmap that the loops
 * then take for granted: every register is in the register file, every
 * slot, save slot and the frame record lie inside their frame [CFA −
 * frameSize, CFA), no two of them share a byte and no two values of a site
 * share a register (frameOverlaps, host/isa/overlap.ts), every number fits
 * the typed array it goes into (frame sizes and offsets i32, constants i32,
 * sizes 4, 8 or 16), every location is of a known kind, and no site
 * returns where the entry stub's call does.
 * A stackmap decoded from a Wasm file (decodeStackmap) passes all of that;
 * one made by hand or by another tool may not, and a value read from the
 * wrong place would otherwise be moved silently. A plan is cached per
 * Stackmap object (WeakMap), so a kernel pays for it once per program and
 * ISA.
 */
import type { SiteTable, Stackmap } from "../toolchain/index.js";
import { checkStackmap, frameOverlaps, type IsaProfile } from "../isa/index.js";
import { hexAddress, TransformError } from "./image.js";

export const LOC_REGISTER = 0;
export const LOC_STACK = 1;
export const LOC_CONSTANT = 2;

export interface Plan {
  sm: Stackmap;
  profile: IsaProfile;
  entryRA: number;
  siteFunc: Int32Array;
  siteRA: Float64Array;
  siteLoc: Int32Array;
  siteBytes: Int32Array;
  locKind: Uint8Array;
  locArg: Int32Array;
  locSize: Uint8Array;
  fnFrameSize: Int32Array;
  fnCfaOffset: Int32Array;
  fnSave: Int32Array;
  saveDwarf: Int32Array;
  saveOffset: Int32Array;
  byAddress: Map<number, number>;
  regFileBytes: number;
}

const cache = new WeakMap<Stackmap, Plan>();

export function planOf(sm: Stackmap, p: IsaProfile): Plan {
  const hit = cache.get(sm);
  if (hit && hit.profile === p) return hit;
  const plan = buildPlan(sm, p);
  cache.set(sm, plan);
  return plan;
}

function buildPlan(sm: Stackmap, p: IsaProfile): Plan {
  if (sm.isa !== p.name) {
    throw new TransformError(`stackmap is for ${sm.isa}, the profile is ${p.name} — pass the profile of the stackmap's ISA`);
  }
  const bad = (what: string) => new TransformError(`${p.name} stackmap: ${what} — recompile with \`popcorn compile\``);
  const isI32 = (x: unknown): x is number => typeof x === "number" && (x | 0) === x;
  const isRegister = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 0 && (d as number) < p.dwarfRegisters;
  const nF = sm.functions.length;
  const fnFrameSize = new Int32Array(nF);
  const fnCfaOffset = new Int32Array(nF);
  const fnSave = new Int32Array(nF + 1);
  const nSaves = sm.functions.reduce((a, f) => a + f.savedRegs.length, 0);
  const saveDwarf = new Int32Array(nSaves);
  const saveOffset = new Int32Array(nSaves);
  const slot = p.savedRegisterBytes;
  let k = 0;
  sm.functions.forEach((f, i) => {
    if (!isI32(f.frameSize) || f.frameSize <= 0) throw bad(`function ${f.name} has frame size ${f.frameSize}, not a positive 32-bit integer`);
    const cfa = p.cfaOffset(f.frameSize);
    const low = cfa - f.frameSize;
    const inFrame = (off: number, size: number) => isI32(off) && off >= low && off + size <= cfa;
    if (f.frameSize % p.stackAlign !== 0) throw bad(`function ${f.name} has frame size ${f.frameSize}, not a multiple of ${p.stackAlign}`);
    if (!inFrame(p.savedFpOffset, 8) || !inFrame(p.returnAddressOffset, 8)) throw bad(`function ${f.name}'s frame of ${f.frameSize} bytes cannot hold the frame record`);
    fnFrameSize[i] = f.frameSize;
    fnCfaOffset[i] = cfa;
    fnSave[i] = k;
    for (const r of f.savedRegs) {
      if (!isRegister(r.dwarf)) throw bad(`function ${f.name} saves register ${r.dwarf}, ${p.name} has ${p.dwarfRegisters} (0 … ${p.dwarfRegisters - 1})`);
      if (!inFrame(r.offset, slot)) throw bad(`function ${f.name} saves ${p.registerName(r.dwarf)} outside its frame`);
      saveDwarf[k] = r.dwarf;
      saveOffset[k++] = r.offset;
    }
  });
  fnSave[nF] = k;

  const nS = sm.sites.length;
  const siteFunc = new Int32Array(nS);
  const siteRA = new Float64Array(nS);
  const siteLoc = new Int32Array(nS + 1);
  const siteBytes = new Int32Array(nS);
  const nLocs = sm.sites.reduce((a, s) => a + s.values.length, 0);
  const locKind = new Uint8Array(nLocs);
  const locArg = new Int32Array(nLocs);
  const locSize = new Uint8Array(nLocs);
  const byAddress = new Map<number, number>();
  let l = 0;
  sm.sites.forEach((s, i) => {
    const f = sm.functions[s.func];
    if (!f || s.id !== i) throw bad(`site ${i} is out of order or names no function`);
    const cfa = fnCfaOffset[s.func]!;
    siteFunc[i] = s.func;
    siteRA[i] = s.returnAddress;
    siteLoc[i] = l;
    if (!Number.isSafeInteger(s.returnAddress) || s.returnAddress < 0) throw bad(`site ${i} returns to ${s.returnAddress}, not an address`);
    if (byAddress.has(s.returnAddress)) throw bad(`two sites return to ${hexAddress(s.returnAddress)}`);
    byAddress.set(s.returnAddress, i);
    let bytes = 0;
    for (const [j, v] of s.values.entries()) {
      if (v.size !== 4 && v.size !== 8 && v.size !== 16) throw bad(`site ${i} value ${j} is ${v.size} bytes wide, not 4, 8 or 16`);
      locSize[l] = v.size;
      bytes += v.size;
      if (v.kind === "register") {
        if (!isRegister(v.dwarf)) throw bad(`site ${i} keeps a value in register ${v.dwarf}, ${p.name} has ${p.dwarfRegisters} (0 … ${p.dwarfRegisters - 1})`);
        locKind[l] = LOC_REGISTER;
        locArg[l] = v.dwarf;
      } else if (v.kind === "stack") {
        if (!isI32(v.offset) || v.offset < cfa - f.frameSize || v.offset + v.size > cfa) throw bad(`site ${i} has a stack slot at ${v.offset} outside ${f.name}'s frame`);
        locKind[l] = LOC_STACK;
        locArg[l] = v.offset;
      } else if (v.kind === "constant") {
        if (!isI32(v.value)) throw bad(`site ${i} value ${j} is the constant ${v.value}, not a signed 32-bit integer`);
        locKind[l] = LOC_CONSTANT;
        locArg[l] = v.value;
      } else {
        throw bad(`site ${i} value ${j} has location kind ${String((v as { kind: unknown }).kind)} (register, stack or constant)`);
      }
      l++;
    }
    siteBytes[i] = bytes;
  });
  siteLoc[nS] = l;
  if (byAddress.has(sm.entryReturnAddress)) {
    throw bad(`site ${byAddress.get(sm.entryReturnAddress)} returns to ${hexAddress(sm.entryReturnAddress)}, where the entry stub's call to main returns`);
  }
  // laid out, one of two things in the same bytes would be read back as the other
  const overlap = frameOverlaps(sm, p, undefined, 1)[0];
  if (overlap) throw bad(overlap);
  return {
    sm,
    profile: p,
    entryRA: sm.entryReturnAddress,
    siteFunc,
    siteRA,
    siteLoc,
    siteBytes,
    locKind,
    locArg,
    locSize,
    fnFrameSize,
    fnCfaOffset,
    fnSave,
    saveDwarf,
    saveOffset,
    byAddress,
    regFileBytes: p.dwarfRegisters * 16,
  };
}

const pairs = new WeakMap<Plan, WeakSet<Plan>>();

/** Checks, once per pair, that two stackmaps describe the same program: same module, sites and value sizes. */
export function checkPair(a: Plan, b: Plan): void {
  if (pairs.get(a)?.has(b)) return;
  const A = a.sm;
  const B = b.sm;
  const hash = (h: Uint8Array) => Array.from(h, (x) => x.toString(16).padStart(2, "0")).join("");
  if (hash(A.moduleHash) !== hash(B.moduleHash)) {
    throw new TransformError(
      `the ${A.isa} stackmap is of module ${hash(A.moduleHash).slice(0, 12)}…, the ${B.isa} one of ${hash(B.moduleHash).slice(0, 12)}… — both must come from the same compiled program`,
    );
  }
  if (A.sites.length !== B.sites.length) {
    throw new TransformError(`${A.isa} has ${A.sites.length} sites, ${B.isa} has ${B.sites.length} — rebuild with the same popcorn version`);
  }
  for (let s = 0; s < A.sites.length; s++) {
    const n = a.siteLoc[s + 1]! - a.siteLoc[s]!;
    const m = b.siteLoc[s + 1]! - b.siteLoc[s]!;
    const fn = A.functions[A.sites[s]!.func]!.name;
    if (n !== m) throw new TransformError(`site ${s} (${fn}) has ${n} live values on ${A.isa} but ${m} on ${B.isa} — rebuild with the same popcorn version`);
    for (let j = 0; j < n; j++) {
      if (a.locSize[a.siteLoc[s]! + j] !== b.locSize[b.siteLoc[s]! + j]) {
        throw new TransformError(`site ${s} (${fn}) value ${j} is ${a.locSize[a.siteLoc[s]! + j]} bytes on ${A.isa} but ${b.locSize[b.siteLoc[s]! + j]} on ${B.isa} — rebuild with the same popcorn version`);
      }
    }
  }
  let set = pairs.get(a);
  if (!set) pairs.set(a, (set = new WeakSet()));
  set.add(b);
}

const tables = new WeakMap<Plan, WeakSet<SiteTable>>();

/** Checks, once per pair, that the site table is the one the stackmap was laid out from. */
export function checkSites(plan: Plan, sites: SiteTable, what: string): void {
  if (tables.get(plan)?.has(sites)) return;
  try {
    checkStackmap(plan.sm, sites, what);
  } catch (e) {
    throw new TransformError((e as Error).message);
  }
  let set = tables.get(plan);
  if (!set) tables.set(plan, (set = new WeakSet()));
  set.add(sites);
}
