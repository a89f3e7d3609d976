/**
 * Unwinding a native image: frame by frame from the innermost, reading
 * every live value's bytes into the frame buffer — what Popcorn's unwinder
 * does with DWARF call-frame information, done here with the stackmap and
 * the profile's frame record.
 *
 *   regs := image.regs                   the innermost frame's register file
 *   pc, fp := image.pc, image.fp
 *   loop
 *     site := byAddress[pc]              else: no such site → TransformError
 *     f := site's function;  cfa := fp + cfaOffset(f);  frame = [cfa − frameSize, cfa)
 *     the frame must start where the previous one's CFA was (the image's sp
 *       for the innermost) and end at or below stackTop
 *     for each live value: copy its bytes from regs[dwarf] or [fp + offset]
 *       (or expand its constant) into the buffer
 *     for each register f saved: regs[dwarf] := [fp + offset]
 *       — the caller's value, as f's epilogue would restore it; so a value
 *       an outer frame keeps in a register is read from wherever the first
 *       inner frame that reused the register saved it, or from the image's
 *       register file if none did
 *     pc, fp := [fp + returnAddressOffset], [fp + savedFpOffset]
 *     until pc = the stackmap's entry return address (then the chain must
 *       end at stackTop with a saved frame pointer of 0)
 */
import { copyBytes, type FrameBuffer, readAddress } from "./frames.js";
import { frameText, hexAddress, type NativeImage, TransformError } from "./image.js";
import { LOC_REGISTER, LOC_STACK, type Plan } from "./plan.js";

let work = new Uint8Array(0);

/** A field of an image as an error message shows it: short. */
function show(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number" || v === undefined) return String(v);
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Checks an image's form before anything is read from it: an object of the
 * profile's ISA, its addresses integers in [0, 2^53), its register file and
 * stack bytes, the stack exactly sp .. stackTop. An image comes from a
 * message or a file: a field missing or of another type is a corrupted
 * image, named, not a TypeError from the unwinder.
 */
export function checkImage(img: NativeImage, plan: Plan, what: string): void {
  const p = plan.profile;
  if (typeof img !== "object" || img === null || Array.isArray(img)) {
    throw new TransformError(`${what}: the image is ${show(img)}, not a native image {isa, pc, sp, fp, stackTop, regs, stack}`);
  }
  if (img.isa !== p.name) {
    const of = typeof img.isa === "string" ? img.isa : `no ISA (isa ${show(img.isa)})`;
    throw new TransformError(`${what}: the image is of ${of}, the stackmap and profile are for ${p.name}`);
  }
  for (const k of ["pc", "sp", "fp", "stackTop"] as const) {
    const v: unknown = img[k];
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      throw new TransformError(`${what}: ${p.name} image has ${k} ${show(v)}, not an address (an integer from 0 to 2^53) — the image is corrupted`);
    }
  }
  for (const k of ["regs", "stack"] as const) {
    const v: unknown = img[k];
    if (!(v instanceof Uint8Array)) throw new TransformError(`${what}: ${p.name} image has ${k} ${show(v)}, not bytes (a Uint8Array) — the image is corrupted`);
  }
  if (img.regs.length !== plan.regFileBytes) {
    throw new TransformError(`${what}: ${p.name} image has a register file of ${img.regs.length} bytes, ${p.name} has ${plan.regFileBytes}`);
  }
  if (img.stack.length !== img.stackTop - img.sp || img.sp % p.stackAlign !== 0) {
    throw new TransformError(
      `${what}: ${p.name} image holds ${img.stack.length} stack bytes for sp ${hexAddress(img.sp)} .. top ${hexAddress(img.stackTop)} — the image is truncated or corrupted`,
    );
  }
}

/** Unwinds `img` into `fb` (which is reset first); returns the number of frames. */
export function unwind(img: NativeImage, plan: Plan, fb: FrameBuffer, what: string): number {
  checkImage(img, plan, what);
  const p = plan.profile;
  const { siteFunc, siteLoc, siteBytes, locKind, locArg, locSize, fnFrameSize, fnCfaOffset, fnSave, saveDwarf, saveOffset } = plan;
  const stack = img.stack;
  const sp = img.sp;
  const top = img.stackTop;
  const savedBytes = p.savedRegisterBytes;
  if (work.length < img.regs.length) work = new Uint8Array(img.regs.length);
  work.set(img.regs);
  fb.reset();

  let pc = img.pc;
  let fp = img.fp;
  let frameLow = sp;
  for (let depth = 0; ; depth++) {
    const s = plan.byAddress.get(pc);
    if (s === undefined) {
      const why = depth === 0 && pc === plan.entryRA ? "is the entry stub's: the image has no frames" : "is no site of this program";
      throw new TransformError(
        `${what}: ${p.name} ${frameText(depth)}: return address ${hexAddress(pc)} ${why} — the image was not built from this program's ${p.name} stackmap`,
      );
    }
    const f = siteFunc[s]!;
    const cfa = fp + fnCfaOffset[f]!;
    if (cfa - fnFrameSize[f]! !== frameLow || cfa > top) {
      const name = plan.sm.functions[f]!.name;
      throw new TransformError(
        `${what}: ${p.name} ${frameText(depth, name, s)}: frame base ${hexAddress(fp)} puts the frame at ${hexAddress(cfa - fnFrameSize[f]!)}..${hexAddress(cfa)}, ` +
          `but it must start at ${hexAddress(frameLow)} and end by the stack top ${hexAddress(top)} — the image is corrupted`,
      );
    }
    const base = fp - sp;
    let out = fb.push(s, siteBytes[s]!);
    fb.fpFrom[depth] = fp;
    const bytes = fb.bytes;
    for (let l = siteLoc[s]!, end = siteLoc[s + 1]!; l < end; l++) {
      const size = locSize[l]!;
      const kind = locKind[l]!;
      if (kind === LOC_REGISTER) copyBytes(bytes, out, work, locArg[l]! << 4, size);
      else if (kind === LOC_STACK) copyBytes(bytes, out, stack, base + locArg[l]!, size);
      else {
        const c = locArg[l]!;
        const fill = c < 0 ? 0xff : 0;
        for (let k = 0; k < size; k++) bytes[out + k] = k < 4 ? (c >>> (8 * k)) & 0xff : fill;
      }
      out += size;
    }
    for (let r = fnSave[f]!, end = fnSave[f + 1]!; r < end; r++) {
      const at = saveDwarf[r]! << 4;
      copyBytes(work, at, stack, base + saveOffset[r]!, savedBytes);
      for (let k = at + savedBytes; k < at + 16; k++) work[k] = 0;
    }
    const ra = readAddress(stack, base + p.returnAddressOffset);
    const callerFp = readAddress(stack, base + p.savedFpOffset);
    if (ra === plan.entryRA) {
      if (cfa !== top || callerFp !== 0) {
        throw new TransformError(
          `${what}: ${p.name} ${frameText(depth, plan.sm.functions[f]!.name, s)} returns to the entry stub but ends at ${hexAddress(cfa)} (stack top ${hexAddress(top)}) with saved frame pointer ${hexAddress(callerFp)} — the image is corrupted`,
        );
      }
      return depth + 1;
    }
    frameLow = cfa;
    pc = ra;
    fp = callerFp;
  }
}
