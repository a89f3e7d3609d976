/**
 * Just enough of the Wasm binary format to read what binaryen.js does not
 * expose: the data segments (offset, bytes) of a module, the limits of an
 * imported memory and the signature of an exported function (the JS API
 * gives neither).
 *
 *   module   := magic "\0asm" version u32le, section*
 *   section  := id u8, size leb128, payload
 *   data(11) := count leb128, segment*
 *   segment  := 0 expr bytes | 1 bytes | 2 memidx expr bytes
 *   expr     := i32.const (0x41) sleb128, end (0x0b)     (the only form read)
 *   type(1)  := count leb128, (0x60 params:vec(valtype) results:vec(valtype))*
 *   func(3)  := count leb128, typeidx*     (after the imported functions)
 *   export(7):= count leb128, (name kind u8 index leb128)*
 */

export interface DataSegment {
  passive: boolean;
  offset: number;
  data: Uint8Array;
}

class Reader {
  pos = 0;
  constructor(private b: Uint8Array) {}
  u8(): number {
    if (this.pos >= this.b.length) throw new Error("unexpected end of module");
    return this.b[this.pos++]!;
  }
  uleb(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return result;
      shift += 7;
    }
  }
  sleb(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = this.u8();
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return shift < 32 && byte & 0x40 ? result | (~0 << shift) : result;
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.b.length) throw new Error("unexpected end of module");
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Function index → name, from a "name" custom section's payload (its function names subsection); empty if it is malformed. */
export function functionNames(section: ArrayBuffer): Map<number, string> {
  const names = new Map<number, string>();
  const r = new Reader(new Uint8Array(section));
  const text = new TextDecoder();
  try {
    while (r.pos < section.byteLength) {
      const id = r.u8();
      const end = r.uleb() + r.pos;
      if (id === 1) {
        for (let n = r.uleb(); n > 0; n--) {
          const index = r.uleb();
          names.set(index, text.decode(r.bytes(r.uleb())));
        }
      }
      r.pos = end;
    }
  } catch {
    names.clear(); // a malformed name section names nothing
  }
  return names;
}

export function isWasm(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;
}

export function readDataSegments(wasm: Uint8Array): DataSegment[] {
  const r = new Reader(wasm);
  r.bytes(8);
  while (r.pos < wasm.length) {
    const id = r.u8();
    const size = r.uleb();
    const payload = r.bytes(size);
    if (id !== 11) continue;
    const s = new Reader(payload);
    const count = s.uleb();
    const out: DataSegment[] = [];
    for (let i = 0; i < count; i++) {
      const flag = s.uleb();
      if (flag === 1) {
        out.push({ passive: true, offset: 0, data: s.bytes(s.uleb()) });
        continue;
      }
      if (flag === 2 && s.uleb() !== 0) throw new Error(`data segment ${i} targets a memory other than 0`);
      if (flag !== 0 && flag !== 2) throw new Error(`data segment ${i} has unknown flags ${flag}`);
      if (s.u8() !== 0x41) throw new Error(`data segment ${i} has an offset that is not an i32.const`);
      const offset = s.sleb() >>> 0;
      if (s.u8() !== 0x0b) throw new Error(`data segment ${i} has an offset expression longer than one i32.const`);
      out.push({ passive: false, offset, data: s.bytes(s.uleb()) });
    }
    return out;
  }
  return [];
}

export interface MemoryLimits {
  initial: number;
  maximum?: number;
  shared: boolean;
}

/** The limits of the module's imported memory, or undefined if it imports none. */
export function memoryImport(wasm: Uint8Array): MemoryLimits | undefined {
  const r = new Reader(wasm);
  r.bytes(8);
  while (r.pos < wasm.length) {
    const id = r.u8();
    const payload = r.bytes(r.uleb());
    if (id !== 2) continue;
    const s = new Reader(payload);
    const limits = (): MemoryLimits => {
      const flags = s.u8();
      const initial = s.uleb();
      return { initial, maximum: flags & 1 ? s.uleb() : undefined, shared: (flags & 2) !== 0 };
    };
    for (let n = s.uleb(); n > 0; n--) {
      s.bytes(s.uleb());
      s.bytes(s.uleb());
      const kind = s.u8();
      if (kind === 0) s.uleb();
      else if (kind === 1) (s.u8(), limits());
      else if (kind === 2) return limits();
      else if (kind === 3) (s.u8(), s.u8());
      else if (kind === 4) (s.u8(), s.uleb());
      else throw new Error(`import of unknown kind ${kind}`);
    }
    return undefined;
  }
  return undefined;
}

/** Value types by their one-byte code; a signature with any other (GC reference types) is not read. */
const VALTYPES: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };

export interface FunctionSignature {
  params: string[];
  results: string[];
}

/**
 * The signature of the function the module exports as `name`: undefined if
 * it exports no such function, or uses types this reader does not know.
 */
export function exportedFunctionType(wasm: Uint8Array, name: string): FunctionSignature | undefined {
  try {
    const r = new Reader(wasm);
    r.bytes(8);
    const types: (FunctionSignature | undefined)[] = [];
    const funcTypes: number[] = []; // per function index (imported ones first)
    while (r.pos < wasm.length) {
      const id = r.u8();
      const s = new Reader(r.bytes(r.uleb()));
      const name8 = (): string => new TextDecoder().decode(s.bytes(s.uleb()));
      if (id === 1) {
        for (let n = s.uleb(); n > 0; n--) {
          if (s.u8() !== 0x60) return undefined; // a rec group or subtype: GC types
          const vec = () => Array.from({ length: s.uleb() }, () => VALTYPES[s.u8()]);
          const params = vec();
          const results = vec();
          types.push(params.every(Boolean) && results.every(Boolean) ? { params: params as string[], results: results as string[] } : undefined);
        }
      } else if (id === 2) {
        for (let n = s.uleb(); n > 0; n--) {
          name8();
          name8();
          const kind = s.u8();
          if (kind === 0) funcTypes.push(s.uleb());
          else if (kind === 1) (s.u8(), limits(s));
          else if (kind === 2) limits(s);
          else if (kind === 3) (s.u8(), s.u8());
          else if (kind === 4) (s.u8(), s.uleb());
          else return undefined;
        }
      } else if (id === 3) {
        for (let n = s.uleb(); n > 0; n--) funcTypes.push(s.uleb());
      } else if (id === 7) {
        for (let n = s.uleb(); n > 0; n--) {
          const exported = name8();
          const kind = s.u8();
          const index = s.uleb();
          if (exported === name) return kind === 0 ? types[funcTypes[index]!] : undefined;
        }
        return undefined;
      }
    }
    return undefined;
  } catch {
    return undefined;
  }
}

function limits(s: Reader): void {
  const flags = s.u8();
  s.uleb();
  if (flags & 1) s.uleb();
}

/** A value as unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

/**
 * `wasm` with a "name" section naming its defined functions when it has
 * none (asc without --debug): each by its first export name, the others
 * func<index>. Without one, binaryen names functions by their index, and
 * sites, stackmaps and traps would say "function 0". `wasm` itself if it
 * has a name section, or cannot be read here.
 */
export function withFunctionNames(wasm: Uint8Array): Uint8Array {
  const exports = new Map<number, string>();
  let imported = 0;
  let defined = 0;
  try {
    const r = new Reader(wasm);
    r.bytes(8);
    while (r.pos < wasm.length) {
      const id = r.u8();
      const s = new Reader(r.bytes(r.uleb()));
      const name8 = (): string => new TextDecoder().decode(s.bytes(s.uleb()));
      if (id === 0 && name8() === "name") return wasm;
      if (id === 2) {
        for (let n = s.uleb(); n > 0; n--) {
          name8();
          name8();
          const kind = s.u8();
          if (kind === 0) (imported++, s.uleb());
          else if (kind === 1) (s.u8(), limits(s));
          else if (kind === 2) limits(s);
          else if (kind === 3) (s.u8(), s.u8());
          else if (kind === 4) (s.u8(), s.uleb());
          else return wasm;
        }
      } else if (id === 3) defined = s.uleb();
      else if (id === 7) {
        for (let n = s.uleb(); n > 0; n--) {
          const name = name8();
          const kind = s.u8();
          const index = s.uleb();
          if (kind === 0 && !exports.has(index)) exports.set(index, name);
        }
      }
    }
  } catch {
    return wasm;
  }
  if (!defined) return wasm;
  const taken = new Set(exports.values());
  const text = new TextEncoder();
  const entries: number[] = [];
  for (let i = imported; i < imported + defined; i++) {
    let name = exports.get(i) ?? `func${i}`;
    if (!exports.has(i) && taken.has(name)) name = `func${i}_`;
    const b = text.encode(name);
    entries.push(...uleb(i), ...uleb(b.length), ...b);
  }
  const names = [...uleb(defined), ...entries];
  const payload = [...uleb(4), ...text.encode("name"), 1, ...uleb(names.length), ...names];
  const out = new Uint8Array(wasm.length + 1 + uleb(payload.length).length + payload.length);
  out.set(wasm);
  out.set([0, ...uleb(payload.length), ...payload], wasm.length);
  return out;
}

/** Compiles `bytes` (typed loosely, as binaryen and fs hand them out). */
export function wasmModule(bytes: Uint8Array): WebAssembly.Module {
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}
