/**
 * Where a site's live values sit in the frame its function's code saves and
 * restores (toolchain/sites.ts: one frame per function, every local live at
 * any of its sites, each value of a site at its `slot`).
 *
 * A portable frame holds only the site's live values; the instrumented code
 * passes the whole function frame. On save the host keeps the site's slots;
 * on restore it puts them back in place and fills the other slots with zero
 * (locals dead at the site: no path from it reads them before writing).
 */
import type { SiteTable, ValueType } from "../toolchain/index.js";
import { ImageError, type Value } from "./image.js";

const ZERO: Record<ValueType, () => Value> = {
  i32: () => 0,
  f32: () => 0,
  f64: () => 0,
  i64: () => 0n,
  v128: () => [0n, 0n],
};

const layouts = new WeakMap<SiteTable, FrameLayout>();

export class FrameLayout {
  /** The layout of a program's site table, made once per table. */
  static of(table: SiteTable): FrameLayout {
    let l = layouts.get(table);
    if (!l) layouts.set(table, (l = new FrameLayout(table)));
    return l;
  }

  /** by site id: the function's frame types, and the slot of each live value */
  private readonly frames: ValueType[][] = [];
  private readonly slots: number[][] = [];

  private constructor(private readonly table: SiteTable) {
    const byName = new Map(table.functions.map((f) => [f.name, f.frame]));
    for (const s of table.sites) {
      const frame = byName.get(s.func);
      if (!frame || s.values.some((v) => v.slot === undefined)) {
        throw new ImageError(`the site table has no frame layout for ${s.func} — recompile the program with this popcorn`);
      }
      this.frames[s.id] = frame;
      this.slots[s.id] = s.values.map((v) => v.slot!);
    }
  }

  private site(site: number): { frame: ValueType[]; slots: number[] } {
    const frame = this.frames[site];
    if (!frame) throw new ImageError(`frame of site ${site}: the program has sites 0..${this.table.sites.length - 1}`);
    return { frame, slots: this.slots[site]! };
  }

  /** A save's raw arguments (a v128 as two i64 lanes, low first) → the site's live values. */
  live(site: number, raw: (number | bigint)[]): Value[] {
    const { frame, slots } = this.site(site);
    const all: Value[] = [];
    for (let i = 0, r = 0; i < frame.length; i++) {
      if (frame[i] === "v128") {
        all.push([raw[r] as bigint, raw[r + 1] as bigint]);
        r += 2;
      } else all.push(raw[r++]!);
    }
    return slots.map((j) => all[j]!);
  }

  /** A frame's live values → the values its function restores, in order (v128 lanes flattened). */
  whole(site: number, values: Value[]): (number | bigint)[] {
    const { frame, slots } = this.site(site);
    if (values.length !== slots.length) {
      throw new ImageError(`rewind: the frame of site ${site} has ${values.length} values, its site ${slots.length}`);
    }
    const all = frame.map((t) => ZERO[t]());
    slots.forEach((j, k) => (all[j] = values[k]!));
    return all.flatMap((v) => (Array.isArray(v) ? v : [v]));
  }
}
