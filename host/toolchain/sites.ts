/**
 * The `popcorn.sites` custom section: every resumable place of a program.
 *
 * A site is an equivalence point: every migration point and every call site
 * in an instrumented function. Its id is shared by all ISA profiles; a
 * portable frame names its site by this id, and the frame's values are the
 * site's live values, in this order.
 *
 * Layout (MessagePack, one array):
 *
 *   [ version: 2,
 *     moduleHash: bin(32),        sha-256 of the module without popcorn.* sections
 *     functions: [ [name, firstSite, siteCount, frame: [type, ...]], ... ],
 *     sites: [ [id, kind, functionIndex, values: [[type, name, slot], ...], callee?], ... ] ]
 *
 *   kind  0 entry | 1 loop | 2 call | 3 explicit
 *   type  "i32" | "i64" | "f32" | "f64" | "v128"
 *   name  the local's name from the name section, or "$<index>" (a temporary
 *         the pass made for a value held on the operand stack across a call
 *         is named "$<index>:stack")
 *
 *   callee  a call site's: the index in functions of the function it calls
 *         when the call is direct; absent for call_indirect (any function
 *         of its type) and for other kinds. Optional, so version 2 without
 *         it still reads: a resumed image's frames are checked against it
 *         (one frame's call site must call the function of the frame inside).
 *
 *   frame the values an instrumented function's code saves and restores, the
 *         same at each of its sites: every local live at any of them (so
 *         that one save and one restore serve them all); `slot` is the
 *         place of a site's value in its function's frame. What is not
 *         live at the site the host drops on save and restores as zero.
 *
 * Sites are numbered densely from 0, function by function, in the order the
 * pass visits them, so the sites of one function form one range.
 */
import { decode, encode } from "@msgpack/msgpack";
import type { ValueType } from "./abi.js";
import { wasmModule } from "./wasmbin.js";

export const SITES_VERSION = 2;

export type SiteKind = "entry" | "loop" | "call" | "explicit";
const KINDS: SiteKind[] = ["entry", "loop", "call", "explicit"];
const VALUE_TYPES: ValueType[] = ["i32", "i64", "f32", "f64", "v128"];

export interface LiveValue {
  type: ValueType;
  name: string;
  /** its place in its function's frame (see the layout above); set by the pass */
  slot?: number;
}

export interface Site {
  id: number;
  kind: SiteKind;
  func: string;
  values: LiveValue[];
  /** call sites of a direct call: the function called (see callee above) */
  callee?: string;
}

export interface SiteTable {
  version: number;
  moduleHash: Uint8Array;
  functions: SiteFunction[];
  sites: Site[];
}

export interface SiteFunction {
  name: string;
  firstSite: number;
  siteCount: number;
  /** the types of the values its code saves and restores at every site; set by the pass */
  frame?: ValueType[];
}

export function encodeSites(t: SiteTable): Uint8Array {
  const funcIndex = new Map(t.functions.map((f, i) => [f.name, i]));
  return encode([
    t.version,
    t.moduleHash,
    t.functions.map((f) => [f.name, f.firstSite, f.siteCount, f.frame ?? []]),
    t.sites.map((s) => {
      const record: unknown[] = [s.id, KINDS.indexOf(s.kind), funcIndex.get(s.func), s.values.map((v) => [v.type, v.name, v.slot ?? -1])];
      const callee = s.callee === undefined ? undefined : funcIndex.get(s.callee);
      if (callee !== undefined) record.push(callee);
      return record;
    }),
  ]);
}

export class SitesFormatError extends Error {}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

export function decodeSites(bytes: Uint8Array, where = "module"): SiteTable {
  const bad = (why: string) =>
    new SitesFormatError(`${where}: ${"popcorn.sites"} section is malformed (${why}) — recompile with \`popcorn compile\``);
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (!Array.isArray(raw) || raw.length !== 4) throw bad("not a 4-element array");
  const [version, hash, funcs, sites] = raw as [unknown, unknown, unknown, unknown];
  if (version !== SITES_VERSION) {
    throw new SitesFormatError(
      `${where}: popcorn.sites version ${String(version)}, this popcorn reads version ${SITES_VERSION} — recompile with this popcorn`,
    );
  }
  if (!(hash instanceof Uint8Array) || hash.length !== 32) throw bad("module hash is not 32 bytes");
  if (!Array.isArray(funcs) || !Array.isArray(sites)) throw bad("functions or sites is not an array");
  const functions = funcs.map((f: unknown) => {
    if (!Array.isArray(f) || typeof f[0] !== "string") throw bad("bad function record");
    if (!Array.isArray(f[3]) || !f[3].every((t: unknown) => VALUE_TYPES.includes(t as ValueType))) throw bad(`function ${f[0]} has a bad frame`);
    if (!isCount(f[1]) || !isCount(f[2])) throw bad(`function ${f[0]} has a bad site range`);
    return { name: f[0] as string, firstSite: f[1] as number, siteCount: f[2] as number, frame: f[3] as ValueType[] };
  });
  const table: Site[] = sites.map((s: unknown, i: number) => {
    if (!Array.isArray(s) || s[0] !== i) throw bad(`site record ${i} out of order`);
    const kind = KINDS[s[1] as number];
    const fn = functions[s[2] as number];
    if (!kind || !fn || !Array.isArray(s[3])) throw bad(`site ${i} has a bad kind, function or value list`);
    const callee = s.length > 4 ? functions[s[4] as number] : undefined;
    if (s.length > 5 || (s.length === 5 && (kind !== "call" || !callee))) throw bad(`site ${i} has a bad callee`);
    if (i < fn.firstSite || i >= fn.firstSite + fn.siteCount) throw bad(`site ${i} is outside the sites of its function ${fn.name}`);
    return {
      id: i,
      kind,
      func: fn.name,
      values: (s[3] as unknown[]).map((v, j) => {
        if (!Array.isArray(v) || v.length !== 3 || !VALUE_TYPES.includes(v[0] as ValueType) || typeof v[1] !== "string") {
          throw bad(`site ${i}: value ${j} is not [type, name, slot]`);
        }
        const [type, name, slot] = v as [ValueType, string, number];
        if (!Number.isInteger(slot) || slot < -1 || slot >= fn.frame!.length || (slot >= 0 && fn.frame![slot] !== type)) {
          throw bad(`site ${i}: value ${name} has no ${type} slot ${slot} in the frame of ${fn.name}`);
        }
        return slot < 0 ? { type, name } : { type, name, slot };
      }),
      ...(callee && { callee: callee.name }),
    };
  });
  for (const site of table) {
    const slots = site.values.flatMap((v) => (v.slot === undefined ? [] : [v.slot]));
    if (new Set(slots).size !== slots.length) throw bad(`site ${site.id} has two values in one slot of the frame of ${site.func}`);
  }
  return { version, moduleHash: hash, functions, sites: table };
}

/** Reads one custom section from a Wasm binary without instantiating it. */
export function customSection(wasm: Uint8Array, name: string): Uint8Array | undefined {
  const mod = wasmModule(wasm);
  const found = WebAssembly.Module.customSections(mod, name);
  return found.length ? new Uint8Array(found[0]!) : undefined;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}
