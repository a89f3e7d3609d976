// The link step's data: the linked module initializes memory once, from
// passive segments merged where asc left small gaps, and the bytes it writes
// are exactly those the plain module's active segments write.
import { describe, expect, it } from "vitest";
import { INIT_MEMORY_EXPORT, MEMORY_IMPORT } from "../../host/toolchain/index.js";
import { readDataSegments } from "../../host/toolchain/wasmbin.js";
import { compileExample } from "../helpers.js";

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
});
