/**
 * Overlaps in a frame: two things a stackmap puts in the same bytes.
 *
 * A frame holds, at offsets from its frame base, the frame record (the
 * saved caller frame pointer and the return address, 8 bytes each, where
 * the profile puts them), one save slot per callee-saved register the
 * prologue saves (savedRegisterBytes each), and at each site the stack
 * slots of the values live there. Laying a frame out writes all of them;
 * if two share a byte, the one written last wins and the other is read
 * back as garbage — a value as another value, or a return address that is
 * a value. The same goes for two values of one site in one register.
 * allocate never does this (test/isa/allocate.test.ts); a stackmap made by
 * hand or by another tool may, so the copy plan (host/transform/plan.ts)
 * and `popcorn check` (check.ts) both refuse it with these messages:
 *
 *   function f: the save slot of rbx at [rbp+8] (8 bytes) overlaps the return address at [rbp+8] (8 bytes)
 *   site 5 (f): value 2 at [x29+16] (4 bytes) overlaps the save slot of x19 at [x29+16] (8 bytes)
 *   site 5 (f): value 1 and value 3 are both in w19
 *
 * Per function the frame record and save slots are checked once; per site
 * only its stack slots are added to them. Each set is sorted by offset and
 * scanned once, keeping the span that reaches highest so far: a span that
 * starts below it overlaps it. Registers and constants take no frame bytes.
 */
import type { Stackmap } from "../toolchain/index.js";
import { type IsaProfile, locationText } from "./profile.js";

/** Bytes [lo, hi) from the frame base: a value (its index at the site) or a part of the frame (`name`). */
interface Span {
  lo: number;
  hi: number;
  value: number;
  name: string;
}

/**
 * Every overlap in `sm`'s frames, at most `max` (the first ones: functions
 * in order, then sites in order). `valueText` names value j of a site
 * ("value 2" unless given).
 */
export function frameOverlaps(
  sm: Stackmap,
  p: IsaProfile,
  valueText: (site: number, j: number) => string = (_site, j) => `value ${j}`,
  max = Infinity,
): string[] {
  const out: string[] = [];
  const where = (lo: number, hi: number) => `${locationText(p, { kind: "stack", offset: lo, size: hi - lo })} (${hi - lo} bytes)`;
  const part = (name: string, lo: number, size: number): Span => ({ lo, hi: lo + size, value: -1, name: `${name} at ${where(lo, lo + size)}` });
  const fixed = sm.functions.map((f) => {
    const spans = [
      part("the saved frame pointer", p.savedFpOffset, 8),
      part("the return address", p.returnAddressOffset, 8),
      ...f.savedRegs.map((r) => part(`the save slot of ${p.registerName(r.dwarf, p.savedRegisterBytes)}`, r.offset, p.savedRegisterBytes)),
    ];
    overlaps([...spans], (a, b) => out.push(`function ${f.name}: ${b.name} overlaps ${a.name}`));
    return spans;
  });
  const inRegister = new Map<number, number>();
  for (const s of sm.sites) {
    if (out.length >= max) break;
    const fn = sm.functions[s.func]!.name;
    const text = (x: Span) => (x.value < 0 ? x.name : `${valueText(s.id, x.value)} at ${where(x.lo, x.hi)}`);
    const spans: Span[] = [];
    inRegister.clear();
    s.values.forEach((v, j) => {
      if (v.kind === "stack") spans.push({ lo: v.offset, hi: v.offset + v.size, value: j, name: "" });
      else if (v.kind === "register") {
        const k = inRegister.get(v.dwarf);
        if (k === undefined) inRegister.set(v.dwarf, j);
        else out.push(`site ${s.id} (${fn}): ${valueText(s.id, k)} and ${valueText(s.id, j)} are both in ${p.registerName(v.dwarf, v.size)}`);
      }
    });
    if (spans.length === 0) continue;
    overlaps([...fixed[s.func]!, ...spans], (a, b) => {
      // two parts of the frame were reported with the function; a value is named first
      if (a.value >= 0 || b.value >= 0) out.push(`site ${s.id} (${fn}): ${text(b.value >= 0 ? b : a)} overlaps ${text(b.value >= 0 ? a : b)}`);
    });
  }
  return out.slice(0, max);
}

/** Sorts `spans` by offset and calls `found(a, b)` for each span b that starts inside an earlier one, a. */
function overlaps(spans: Span[], found: (a: Span, b: Span) => void): void {
  spans.sort((x, y) => x.lo - y.lo || x.hi - y.hi);
  let reach = spans[0];
  for (let i = 1; i < spans.length; i++) {
    const b = spans[i]!;
    if (b.lo < reach!.hi) found(reach!, b);
    if (b.hi > reach!.hi) reach = b;
  }
}
