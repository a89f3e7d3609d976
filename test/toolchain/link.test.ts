// The link step's data: the linked module initializes memory once, from
// passive segments merged where asc left small gaps, and the bytes it writes
// are exactly those the plain module's active segments write.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { INIT_MEMORY_EXPORT, MEMORY_IMPORT } from "../../host/toolchain/index.js";
import { instrumentWasm } from "../../host/toolchain/compile.js";
import { readDataSegments } from "../../host/toolchain/wasmbin.js";
import { compileExample, fromWat } from "../helpers.js";

/** Imports that do nothing, for every function import; the memory given, if the module imports one. */
function stubImports(mod: WebAssembly.Module, memory?: WebAssembly.Memory): WebAssembly.Imports {
  const out: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(mod)) {
    out[imp.module] ??= {};
    if (imp.kind === "function") out[imp.module]![imp.name] = () => 0;
    else if (imp.kind === "memory" && memory) out[imp.module]![imp.name] = memory;
  }
  return out;
}

describe("link", () => {
  it("writes the plain module's data with fewer segments", async () => {
    const c = await compileExample("strings", { runtime: "incremental" });
    const plainSegments = readDataSegments(c.plain);
    const linkedSegments = readDataSegments(c.wasm);
    expect(linkedSegments.every((s) => s.passive)).toBe(true);
    expect(linkedSegments.length).toBeLessThan(plainSegments.length / 4);

    const plainMod = new WebAssembly.Module(c.plain as Uint8Array<ArrayBuffer>);
    const plain = new WebAssembly.Instance(plainMod, stubImports(plainMod));
    const plainBytes = new Uint8Array((plain.exports.memory as WebAssembly.Memory).buffer);

    const linkedMod = new WebAssembly.Module(c.wasm as Uint8Array<ArrayBuffer>);
    const memory = new WebAssembly.Memory({ initial: plainBytes.length / 65536, maximum: 16384, shared: true });
    const linked = new WebAssembly.Instance(linkedMod, stubImports(linkedMod, memory));
    expect(WebAssembly.Module.imports(linkedMod)).toContainEqual({ ...MEMORY_IMPORT, kind: "memory" });
    (linked.exports[INIT_MEMORY_EXPORT] as () => void)();

    const end = Math.max(...plainSegments.map((s) => s.offset + s.data.length));
    expect(Buffer.from(new Uint8Array(memory.buffer, 0, end)).equals(Buffer.from(plainBytes.subarray(0, end)))).toBe(true);
  });

  it("refuses a module whose memory ends before popcorn's reserved memory (asc without --memoryBase 8192), naming it and the fix", () => {
    // what asc -O3 makes of a program with no static data when --memoryBase is left out: (memory 0)
    const wat = `(module (memory 0) (export "memory" (memory 0))
      (func (export "main") (result i32) (local $i i32) (loop $l (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 9)))) (local.get $i)))`;
    expect(() => fromWat(wat)).toThrow(
      /^test\.wat: memory of 0 pages leaves no room for popcorn's reserved memory below 8192 \(built without asc --memoryBase 8192\?\) — build it with asc --memoryBase 8192, or compile the \.ts with `popcorn compile`$/,
    );
  });

  it("refuses static data in the reserved memory in the same words", () => {
    const wat = `(module (memory 1) (export "memory" (memory 0)) (data (i32.const 1036) "hi")
      (func (export "main") (result i32) (i32.const 0)))`;
    expect(() => fromWat(wat)).toThrow(
      /^test\.wat: static data at offset 1036 is in popcorn's reserved memory below 8192 \(built without asc --memoryBase 8192\?\) — build it with asc --memoryBase 8192, or compile the \.ts with `popcorn compile`$/,
    );
  });

  it("names the functions of a module without a name section (asc without --debug) by their exports, not their indices", () => {
    const m = binaryen.parseText(`(module (memory 1) (export "memory" (memory 0))
      (func $twice (param i32) (result i32) (local $i i32) (loop $l (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get 0)))) (i32.mul (local.get $i) (i32.const 2)))
      (func (export "main") (result i32) (local $i i32) (loop $l (br_if $l (i32.lt_s (local.tee $i (i32.add (local.get $i) (call $twice (i32.const 3)))) (i32.const 99)))) (local.get $i)))`);
    binaryen.setDebugInfo(false); // no name section, as asc writes without --debug
    const plain = m.emitBinary();
    m.dispose();
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(plain as Uint8Array<ArrayBuffer>), "name")).toHaveLength(0);
    const r = instrumentWasm(plain, "nonames.wasm");
    expect(r.instrument.functions.map((f) => f.name).sort()).toEqual(["func0", "main"]);
  });
});
