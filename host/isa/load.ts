/**
 * Reading a program's stackmaps: every `popcorn.stackmap.<isa>` custom
 * section of a Wasm file, decoded and checked against its `popcorn.sites`.
 *
 * A stackmap is only usable with the site table it was laid out from: the
 * same module hash, the same sites in the same functions, the same number
 * of live values per site, each location as wide as its value's type. A
 * mismatch means the file was assembled from different builds, and the fix
 * is always to rebuild it whole.
 *
 * The sections are found by walking the module's section headers
 * (`"\0asm" version, then id u8, size leb128, payload` per section; a custom
 * section, id 0, starts with its name as leb128 length + UTF-8), without
 * compiling the module.
 */
import {
  STACKMAP_SECTION_PREFIX,
  type SiteTable,
  type Stackmap,
  StackmapFormatError,
  decodeStackmap,
  hex,
} from "../toolchain/index.js";
import { VALUE_BYTES } from "./allocate.js";

/** name → payload of every custom section whose name starts with `prefix`. */
export function customSectionsWithPrefix(wasm: Uint8Array, prefix: string, where = "module"): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let pos = 8;
  const uleb = (): number => {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= wasm.length) throw new StackmapFormatError(`${where}: truncated WebAssembly module — recompile it`);
      const b = wasm[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return result;
    }
  };
  const decoder = new TextDecoder();
  while (pos < wasm.length) {
    const id = wasm[pos++]!;
    const size = uleb();
    const end = pos + size;
    if (end > wasm.length) throw new StackmapFormatError(`${where}: truncated WebAssembly module — recompile it`);
    if (id === 0) {
      const len = uleb();
      const name = decoder.decode(wasm.subarray(pos, pos + len));
      if (name.startsWith(prefix)) out.set(name, wasm.subarray(pos + len, end));
    }
    pos = end;
  }
  return out;
}

/**
 * Checks that `sm` belongs to `sites`: module hash, site count, functions,
 * value counts and location sizes. Throws a StackmapFormatError naming the
 * first mismatch.
 */
export function checkStackmap(sm: Stackmap, sites: SiteTable, where: string): void {
  const rebuild = "rebuild with the same popcorn version";
  const fail = (what: string) => new StackmapFormatError(`${where}: ${what} — ${rebuild}`);
  const [ours, theirs] = [hex(sm.moduleHash), hex(sites.moduleHash)];
  if (ours !== theirs) {
    // 12 hex digits, or as many as it takes to tell them apart
    let n = 12;
    while (n < ours.length && ours.slice(0, n) === theirs.slice(0, n)) n += 4;
    const short = (h: string) => (n < h.length ? `${h.slice(0, n)}…` : h);
    throw fail(`popcorn.stackmap.${sm.isa} is for module ${short(ours)}, popcorn.sites for ${short(theirs)}`);
  }
  if (sm.sites.length !== sites.sites.length) {
    throw fail(`${sm.sites.length} sites on ${sm.isa} but ${sites.sites.length} in popcorn.sites`);
  }
  for (const s of sites.sites) {
    const m = sm.sites[s.id]!;
    const fn = sm.functions[m.func];
    if (fn?.name !== s.func) throw fail(`site ${s.id} is in ${fn?.name ?? "no function"} on ${sm.isa} but in ${s.func} in popcorn.sites`);
    if (m.values.length !== s.values.length) {
      throw fail(`site ${s.id} has ${m.values.length} live values on ${sm.isa} but ${s.values.length} in popcorn.sites`);
    }
    s.values.forEach((v, j) => {
      if (m.values[j]!.size !== VALUE_BYTES[v.type]) {
        throw fail(`site ${s.id} value ${v.name} (${v.type}) is ${m.values[j]!.size} bytes on ${sm.isa}`);
      }
    });
  }
}

/** Every stackmap in a compiled program, by ISA name, checked against its site table. */
export function loadStackmaps(wasm: Uint8Array, sites: SiteTable, where: string): Map<string, Stackmap> {
  const out = new Map<string, Stackmap>();
  for (const [name, bytes] of customSectionsWithPrefix(wasm, STACKMAP_SECTION_PREFIX, where)) {
    const sm = decodeStackmap(bytes, where, name);
    const isa = name.slice(STACKMAP_SECTION_PREFIX.length);
    if (sm.isa !== isa) throw new StackmapFormatError(`${where}: section ${name} holds a stackmap for ${sm.isa} — recompile with \`popcorn compile\``);
    checkStackmap(sm, sites, where);
    out.set(isa, sm);
  }
  return out;
}
