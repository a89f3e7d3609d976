/**
 * The backend allocator: where one ISA keeps every live value of every site.
 *
 * Popcorn runs the same IR through two LLVM backends; the live values at an
 * equivalence point are the same on both ISAs, their locations are not.
 * This is that backend, reduced to what decides locations, and
 * deterministic: the same site table and profile give the same stackmap,
 * byte for byte.
 *
 * Every site is a call (into the migration runtime, or the program's own
 * call), so every value live at a site is live across a call. A real
 * register allocator keeps such a value in a callee-saved register or spills
 * it; it never leaves it in a caller-saved one. So, per function:
 *
 *   1. values are identified by (name, type) — and by occurrence, should one
 *      site list the same name and type twice — and keep one location for
 *      all the function's sites (no live-range splitting);
 *   2. ranked by the number of the function's sites they are live at, ties
 *      by first appearance (site order, then value order);
 *   3. in rank order each takes the next free callee-saved register of its
 *      class (i32/i64: general-purpose; f32/f64: floating-point, if the ABI
 *      preserves any — AAPCS64's d8–d15, none on x86-64); v128 never fits a
 *      preserved register and, like every value left over, gets a spill slot
 *      of its natural size and alignment;
 *   4. the prologue saves exactly the callee-saved registers used, and the
 *      profile lays out the frame (frame record, save slots, spill slots,
 *      alignment to 16).
 *
 *   sites of f          ranks           x86-64 (5 GPRs)   aarch64 (10 GPRs)
 *   s0: a b             a 3, b 2, c 2   a rbx  b r12      a x19  b x20
 *   s1: a c d e f g     d..g 1 each     c r13  d r14      c x21  d x22 ...
 *   s2: a b c x:f64                     e r15  f,g spill  g x25
 *                                       x spill           x d8
 *
 * Then the code model places the entry stub and the functions in the text
 * and gives every site the address right after its call: its return address.
 */
import type { Location, Site, SiteTable, Stackmap, StackmapFunction, StackmapSite, ValueType } from "../toolchain/index.js";
import { STACKMAP_VERSION } from "../toolchain/index.js";
import { alignUp, type FrameLayout, type FrameRequest, type IsaProfile } from "./profile.js";

export const VALUE_BYTES: Record<ValueType, number> = { i32: 4, f32: 4, i64: 8, f64: 8, v128: 16 };

export class AllocationError extends Error {}

interface Candidate {
  key: string;
  type: ValueType;
  count: number;
  first: number;
}

/** "name:type#k": the identity of the k-th (name, type) at one site. */
function valueKeys(site: Site): string[] {
  const seen = new Map<string, number>();
  return site.values.map((v) => {
    const base = `${v.name}:${v.type}`;
    const k = seen.get(base) ?? 0;
    seen.set(base, k + 1);
    return `${base}#${k}`;
  });
}

/** The register class a value can live in across a call; a v128 has none (no ABI preserves 128 bits). */
function classOf(type: ValueType): "gpr" | "fpr" | undefined {
  if (type === "i32" || type === "i64") return "gpr";
  if (type === "f32" || type === "f64") return "fpr";
  return undefined;
}

interface FunctionFrame {
  fn: Omit<StackmapFunction, "address" | "codeSize">;
  /** per site of the function: its value locations */
  sites: Location[][];
  request: FrameRequest;
  layout: FrameLayout;
}

function allocateFunction(name: string, sites: Site[], p: IsaProfile): FunctionFrame {
  const keysPerSite = sites.map(valueKeys);
  const cands = new Map<string, Candidate>();
  let order = 0;
  sites.forEach((s, i) =>
    s.values.forEach((v, j) => {
      const key = keysPerSite[i]![j]!;
      const c = cands.get(key);
      if (c) c.count++;
      else cands.set(key, { key, type: v.type, count: 1, first: order });
      order++;
    }),
  );
  const ranked = [...cands.values()].sort((a, b) => b.count - a.count || a.first - b.first);

  const used = { gpr: 0, fpr: 0 };
  const where = new Map<string, { reg: number } | { slot: number }>();
  const slots: number[] = [];
  for (const c of ranked) {
    const cls = classOf(c.type);
    const reg = cls ? p.calleeSaved[cls][used[cls]] : undefined;
    if (cls && reg !== undefined) {
      used[cls]++;
      where.set(c.key, { reg });
    } else {
      where.set(c.key, { slot: slots.length });
      slots.push(VALUE_BYTES[c.type]);
    }
  }
  // registers are handed out in order, so the used ones are a prefix of each class;
  // GPRs before FPRs in the save area (as the stp pairs go)
  const saved = [...p.calleeSaved.gpr.slice(0, used.gpr), ...p.calleeSaved.fpr.slice(0, used.fpr)];
  const layout = p.layoutFrame({ saved, slots });
  const locations = sites.map((s, i) =>
    s.values.map((v, j): Location => {
      const w = where.get(keysPerSite[i]![j]!)!;
      const size = VALUE_BYTES[v.type];
      return "reg" in w ? { kind: "register", dwarf: w.reg, size } : { kind: "stack", offset: layout.slotOffsets[w.slot]!, size };
    }),
  );
  return {
    fn: { name, frameSize: layout.frameSize, savedRegs: saved.map((dwarf, i) => ({ dwarf, offset: layout.saveOffsets[i]! })) },
    sites: locations,
    request: { saved, slots },
    layout,
  };
}

/** Lays out every function and site of `table` for profile `p`. */
export function allocate(table: SiteTable, p: IsaProfile): Stackmap {
  const code = p.code;
  const functions: StackmapFunction[] = [];
  const sites: StackmapSite[] = new Array(table.sites.length);
  const funcIndex = new Map(table.functions.map((f, i) => [f.name, i]));
  let pc = code.textBase + code.entryStub.bytes;
  table.functions.forEach((f, fi) => {
    const own = table.sites.slice(f.firstSite, f.firstSite + f.siteCount);
    own.forEach((s, i) => {
      if (s.id !== f.firstSite + i || s.func !== f.name) {
        throw new AllocationError(
          `site table: site ${f.firstSite + i} should belong to ${f.name} (sites ${f.firstSite}..${f.firstSite + f.siteCount - 1}) but is ${s.id} of ${s.func} — recompile with \`popcorn compile\``,
        );
      }
    });
    const frame = allocateFunction(f.name, own, p);
    const { request, layout } = frame;
    const address = alignUp(pc, code.functionAlign);
    let at = address + code.prologueBytes(request, layout);
    own.forEach((s, i) => {
      const values = frame.sites[i]!;
      at += code.siteBytes(s.kind, values);
      sites[s.id] = { id: s.id, func: fi, returnAddress: at, values };
    });
    at += code.epilogueBytes(request, layout);
    functions.push({ ...frame.fn, address, codeSize: at - address });
    pc = at;
  });
  table.sites.forEach((s, i) => {
    if (!sites[i] || !funcIndex.has(s.func)) {
      throw new AllocationError(`site table: site ${i} (${s.func}) is in no function's site range — recompile with \`popcorn compile\``);
    }
  });
  const byAddress = new Map(sites.map((s) => [s.returnAddress, s]));
  return {
    version: STACKMAP_VERSION,
    isa: p.name,
    moduleHash: table.moduleHash,
    entryReturnAddress: code.textBase + code.entryStub.returnOffset,
    functions,
    sites,
    byAddress,
  };
}
