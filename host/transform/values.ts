/**
 * Portable values ↔ their bytes, little-endian as Wasm and both ISAs store
 * them: i32 4 bytes (two's complement), f32 4 (IEEE single), i64 8, f64 8,
 * v128 16 (the low i64 lane first). A value keeps its bits: −0, infinities
 * and NaN stay what they are (a NaN's payload only as far as a JS number
 * carries it).
 *
 * Encoding takes only what it can lay out exactly, and refuses the rest
 * with a TransformError naming the frame, the value and both numbers:
 *
 *   f32       the number must be an f32 (Math.fround(x) === x, or NaN):
 *             0.1 as a double would be rounded to 0.10000000149011612
 *   constant  a value the stackmap keeps as a constant must be that
 *             constant (its bits sign-extended to the value's size and read
 *             as its type), compared as the type compares: by Object.is for
 *             f32/f64 (−0 is not 0, any NaN is NaN), by value for integers
 *             and both v128 lanes; the layout holds no place for another
 *
 * rewrite has no JS values, only the bytes unwound from the source image;
 * the builder checks each value the target keeps as a constant
 * (holdsConstant: its bytes are the constant's, sign-extended) and only on
 * a mismatch reads both as the value's type (checkConstant) — from the site
 * table if rewrite was given one, so that one NaN is another; without it a
 * float cannot be told from an integer, and the bits must match.
 */
import type { LiveValue, SiteTable, ValueType } from "../toolchain/index.js";
import { VALUE_BYTES } from "../isa/index.js";
import type { FrameBuffer } from "./frames.js";
import { frameText, type PortableFrame, TransformError, type Value } from "./image.js";
import { LOC_CONSTANT, type Plan } from "./plan.js";

/** Fills `fb` with the frames' sites and value bytes, innermost first. */
export function encodeFrames(frames: readonly PortableFrame[], sites: SiteTable, plan: Plan, fb: FrameBuffer, what: string): void {
  fb.reset();
  const isa = plan.profile.name;
  if (!Array.isArray(frames)) throw new TransformError(`${what}: the frames are ${typeof frames}, not a list of {site, values}, innermost first`);
  frames.forEach((frame, depth) => {
    if (typeof frame !== "object" || frame === null || !Array.isArray(frame.values)) {
      throw new TransformError(`${what}: ${frameText(depth)} is not a frame {site, values} with a list of values`);
    }
    const site = sites.sites[frame.site];
    const s = frame.site;
    if (!site || !Number.isInteger(s) || s >= plan.siteFunc.length) {
      throw new TransformError(`${what}: ${frameText(depth)} names site ${s}, the program has ${sites.sites.length} sites (${plan.siteFunc.length} on ${isa})`);
    }
    const where = `${what}: ${frameText(depth, site.func, s)}`;
    const first = plan.siteLoc[s]!;
    const count = plan.siteLoc[s + 1]! - first;
    if (frame.values.length !== site.values.length || count !== site.values.length) {
      throw new TransformError(
        `${where} has ${frame.values.length} values, the site has ${site.values.length} live values in popcorn.sites and ${count} on ${isa}`,
      );
    }
    let off = fb.push(s, plan.siteBytes[s]!);
    const view = fb.view;
    site.values.forEach((lv, j) => {
      const size = plan.locSize[first + j]!;
      if (size !== VALUE_BYTES[lv.type]) {
        throw new TransformError(`${where}: value ${lv.name} (${lv.type}) is ${size} bytes wide on ${isa} — rebuild with the same popcorn version`);
      }
      const v = frame.values[j]!;
      const want = writeValue(view, off, lv.type, v);
      if (want) {
        throw new TransformError(`${where}: value ${lv.name} (${lv.type}) must be ${want}, got ${Array.isArray(v) ? "an array" : typeof v} ${String(v)}`);
      }
      // out of line: the common value (no f32, or an exact one; not a constant) pays two comparisons
      const f32Rounds = lv.type === "f32" && Math.fround(v as number) !== v && v === v;
      if (f32Rounds || plan.locKind[first + j] === LOC_CONSTANT) checkExact(v, j, lv, plan, first + j, where);
      off += size;
    });
  });
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const isI64 = (v: unknown): v is bigint => typeof v === "bigint" && v >= I64_MIN && v <= I64_MAX;

/** Writes `v` as `type` at `at`; returns what the value should have been if it is not of the type. */
function writeValue(view: DataView, at: number, type: ValueType, v: Value): string | undefined {
  switch (type) {
    case "i32":
      if (typeof v !== "number" || (v | 0) !== v) return "a 32-bit integer";
      view.setInt32(at, v, true);
      return;
    case "f32":
      if (typeof v !== "number") return "a number";
      view.setFloat32(at, v, true);
      return;
    case "f64":
      if (typeof v !== "number") return "a number";
      view.setFloat64(at, v, true);
      return;
    case "i64":
      if (!isI64(v)) return "a bigint in the signed 64-bit range";
      view.setBigInt64(at, v, true);
      return;
    case "v128":
      if (!Array.isArray(v) || v.length !== 2 || !isI64(v[0]) || !isI64(v[1])) return "a pair of bigints in the signed 64-bit range";
      view.setBigInt64(at, v[0], true);
      view.setBigInt64(at + 8, v[1], true);
  }
}

/** Throws if `v`, value j at location l, is an f32 no f32 holds or not the constant its location is. */
function checkExact(v: Value, j: number, lv: LiveValue, plan: Plan, l: number, where: string): void {
  if (plan.locKind[l] === LOC_CONSTANT) {
    const c = constantValue(plan.locArg[l]!, lv.type);
    if (!sameValue(v, c)) {
      throw new TransformError(
        `${where}: ${valueIs(j, lv, v)}, but the ${plan.profile.name} stackmap keeps it as the constant ${valueText(c)} — the frames are not of this program, or the stackmap is not`,
      );
    }
  } else {
    const near = valueText(Math.fround(v as number));
    throw new TransformError(`${where}: ${valueIs(j, lv, v)}, which an f32 cannot hold — the nearest f32 is ${near}; pass Math.fround(${lv.name})`);
  }
}

/** Whether the `size` bytes at `at` are the constant `c` sign-extended, as unwind expands it. */
export function holdsConstant(bytes: Uint8Array, at: number, size: number, c: number): boolean {
  const fill = c < 0 ? 0xff : 0;
  for (let k = 0; k < size; k++) if (bytes[at + k] !== (k < 4 ? (c >>> (8 * k)) & 0xff : fill)) return false;
  return true;
}

const BY_SIZE: Record<number, ValueType> = { 4: "i32", 8: "i64", 16: "v128" };

/**
 * Throws unless value l of frame `depth` in `fb` (its bytes at `at`, unwound
 * from `fromIsa`) is the constant the plan keeps it as, compared as its type
 * compares (from `sites`; without them, as the integer of its size).
 */
export function checkConstant(fb: FrameBuffer, depth: number, l: number, at: number, plan: Plan, fromIsa: string, sites: SiteTable | undefined, what: string): void {
  const s = fb.site[depth]!;
  const j = l - plan.siteLoc[s]!;
  const size = plan.locSize[l]!;
  const lv = sites?.sites[s]?.values[j];
  const known = lv !== undefined && VALUE_BYTES[lv.type] === size;
  const type = known ? lv.type : BY_SIZE[size]!;
  const v = readValue(fb.view, at, type);
  const c = constantValue(plan.locArg[l]!, type);
  if (sameValue(v, c)) return;
  const value = known ? valueIs(j, lv, v) : `value ${j} (${size} bytes) is ${valueText(v)}`;
  throw new TransformError(
    `${what}: ${frameText(depth, plan.sm.functions[plan.siteFunc[s]!]!.name, s)}: ${value} on ${fromIsa}, ` +
      `but the ${plan.profile.name} stackmap keeps it as the constant ${valueText(c)} — the stackmaps are not of the same program: rebuild it whole`,
  );
}

const scratch = new DataView(new ArrayBuffer(16));

/** The value a constant location stands for: `c` sign-extended to 16 bytes, read as `type`. */
function constantValue(c: number, type: ValueType): Value {
  scratch.setBigInt64(0, BigInt(c), true);
  scratch.setBigInt64(8, c < 0 ? -1n : 0n, true);
  return readValue(scratch, 0, type);
}

/** Equal as the type compares: floats by Object.is (−0 ≠ 0, NaN = NaN), integers and lanes by value. */
function sameValue(a: Value, b: Value): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a[0] === b[0] && a[1] === b[1];
  return Object.is(a, b);
}

/** "value 1 (x: f32) is 0.1" */
function valueIs(j: number, lv: LiveValue, v: Value): string {
  return `value ${j} (${lv.name}: ${lv.type}) is ${valueText(v)}`;
}

/** A value as an error message shows it: −0 as -0, an i64 as 5n, a v128 as [lo, hi]. */
function valueText(v: Value): string {
  if (Array.isArray(v)) return `[${valueText(v[0])}, ${valueText(v[1])}]`;
  if (typeof v === "bigint") return `${v}n`;
  return Object.is(v, -0) ? "-0" : String(v);
}

function readValue(view: DataView, at: number, type: ValueType): Value {
  switch (type) {
    case "i32":
      return view.getInt32(at, true);
    case "f32":
      return view.getFloat32(at, true);
    case "f64":
      return view.getFloat64(at, true);
    case "i64":
      return view.getBigInt64(at, true);
    case "v128":
      return [view.getBigInt64(at, true), view.getBigInt64(at + 8, true)];
  }
}

/** The portable frames held in `fb`, innermost first; types come from the site table. */
export function decodeFrames(fb: FrameBuffer, sites: SiteTable, what: string): PortableFrame[] {
  const out: PortableFrame[] = new Array(fb.n);
  const view = fb.view;
  for (let i = 0; i < fb.n; i++) {
    const s = fb.site[i]!;
    const site = sites.sites[s];
    if (!site) throw new TransformError(`${what}: ${frameText(i)} is at site ${s}, popcorn.sites has ${sites.sites.length} — the stackmap is not this program's`);
    let off = fb.valOff[i]!;
    const values: Value[] = new Array(site.values.length);
    site.values.forEach((v, j) => {
      values[j] = readValue(view, off, v.type);
      off += VALUE_BYTES[v.type];
    });
    out[i] = { site: s, values };
  }
  return out;
}
