/**
 * Portable values ↔ their bytes, little-endian as Wasm and both ISAs store
 * them: i32 4 bytes (two's complement), f32 4 (IEEE single), i64 8, f64 8,
 * v128 16 (the low i64 lane first). A value keeps its bits: −0, infinities
 * and NaN stay what they are (a NaN's payload only as far as a JS number
 * carries it).
 */
import type { SiteTable, ValueType } from "../toolchain/index.js";
import { VALUE_BYTES } from "../isa/index.js";
import type { FrameBuffer } from "./frames.js";
import { frameText, type PortableFrame, TransformError, type Value } from "./image.js";
import type { Plan } from "./plan.js";

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
