/**
 * Building a native image from the frame buffer: the stack as the ISA's
 * code would have built it, call by call, outermost frame first.
 *
 *   regs := 0;  cfa := stackTop;  callerFp := 0;  callerRA := entry return address
 *   for each frame, outermost first
 *     f := its site's function;  fp := cfa − cfaOffset(f)
 *     prologue: for each register f saves: [fp + offset] := regs[dwarf]
 *               (whatever the register holds now: the callers' values)
 *               frame record: [fp + savedFpOffset] := callerFp,
 *                             [fp + returnAddressOffset] := callerRA
 *     body:     each live value to its location: regs[dwarf] (the rest of
 *               the register zeroed) or [fp + offset]; a constant needs nothing,
 *               but in a rewrite the value unwound must be that constant
 *               (values.ts, checkConstant) — or the target's code would see
 *               the constant instead of it
 *     callerFp := fp;  callerRA := the site's return address;  cfa := cfa − frameSize(f)
 *   pc := the innermost site's return address; sp := cfa; regs[sp], regs[fp], regs[ra] := sp, fp, pc
 *
 * The total size is known before the first byte is written (the sum of the
 * frame sizes), so the stack is allocated once, zeroed (small images from a
 * shared slab: see imageBytes in frames.ts).
 */
import type { SiteTable } from "../toolchain/index.js";
import { copyBytes, type FrameBuffer, imageBytes, writeAddress } from "./frames.js";
import { type NativeImage, TransformError } from "./image.js";
import { LOC_REGISTER, LOC_STACK, type Plan } from "./plan.js";
import { checkConstant, holdsConstant } from "./values.js";

/**
 * Lays out `fb` with `plan`. `unwoundFrom` (rewrite): the ISA the values
 * were unwound from; each value the plan keeps as a constant is checked,
 * compared by the types in `table` if given. lower passes neither: it has
 * checked the portable values already.
 */
export function build(fb: FrameBuffer, plan: Plan, what: string, unwoundFrom?: string, table?: SiteTable): NativeImage {
  const p = plan.profile;
  const n = fb.n;
  if (n === 0) throw new TransformError(`${what}: no frames to lay out on ${p.name} — a captured thread has at least main's frame`);
  const { siteFunc, siteRA, siteLoc, locKind, locArg, locSize, fnFrameSize, fnCfaOffset, fnSave, saveDwarf, saveOffset } = plan;
  const sites = fb.site;
  let total = 0;
  for (let i = 0; i < n; i++) total += fnFrameSize[siteFunc[sites[i]!]!]!;
  const top = p.stackTop;
  const sp = top - total;
  const regs = imageBytes(plan.regFileBytes);
  const stack = imageBytes(total);
  const bytes = fb.bytes;
  const savedBytes = p.savedRegisterBytes;

  let cfa = top;
  let callerFp = 0;
  let callerRA = plan.entryRA;
  let fp = 0;
  for (let i = n - 1; i >= 0; i--) {
    const s = sites[i]!;
    const f = siteFunc[s]!;
    fp = cfa - fnCfaOffset[f]!;
    const base = fp - sp;
    for (let r = fnSave[f]!, end = fnSave[f + 1]!; r < end; r++) {
      copyBytes(stack, base + saveOffset[r]!, regs, saveDwarf[r]! << 4, savedBytes);
    }
    writeAddress(stack, base + p.savedFpOffset, callerFp);
    writeAddress(stack, base + p.returnAddressOffset, callerRA);
    let from = fb.valOff[i]!;
    for (let l = siteLoc[s]!, end = siteLoc[s + 1]!; l < end; l++) {
      const size = locSize[l]!;
      const kind = locKind[l]!;
      if (kind === LOC_REGISTER) {
        const at = locArg[l]! << 4;
        copyBytes(regs, at, bytes, from, size);
        for (let k = at + size; k < at + 16; k++) regs[k] = 0;
      } else if (kind === LOC_STACK) copyBytes(stack, base + locArg[l]!, bytes, from, size);
      else if (unwoundFrom !== undefined && !holdsConstant(bytes, from, size, locArg[l]!)) checkConstant(fb, i, l, from, plan, unwoundFrom, table, what);
      from += size;
    }
    fb.fpTo[i] = fp;
    callerFp = fp;
    callerRA = siteRA[s]!;
    cfa -= fnFrameSize[f]!;
  }
  const pc = siteRA[sites[0]!]!;
  writeAddress(regs, p.sp << 4, sp);
  writeAddress(regs, p.fp << 4, fp);
  writeAddress(regs, p.ra << 4, pc);
  return { isa: p.name, pc, sp, fp, stackTop: top, regs, stack };
}
