import { spawnSync } from "node:child_process";
import { replaceCustomSections } from "./transform/tables.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";
import { type CompileOptions, type CompileResult, type PointKind, type Runtime, compile, packageRoot } from "../host/toolchain/index.js";
import { instrumentWasm } from "../host/toolchain/compile.js";
import { stackmapBackends } from "../host/isa/index.js";
import { loadProgram, runProgram, type RunOptions } from "../host/kernel/index.js";

export const ROOT = packageRoot();

/** Every example with arguments small enough for a test; strings needs the GC runtime. */
export const EXAMPLES: { name: string; args: string[]; runtime?: Runtime }[] = [
  { name: "hello", args: ["5"] },
  { name: "count", args: ["3000"] },
  { name: "fib", args: ["12", "300"] },
  { name: "matmul", args: ["6"] },
  { name: "quicksort", args: ["300"] },
  { name: "strings", args: ["40"], runtime: "incremental" },
  { name: "indirect", args: ["200", "20"] },
  { name: "npmpkg", args: ["16", "1"] },
];

/** `popcorn <args>` as a user runs it, in `cwd`: exit code, stdout, stderr. */
export function popcornIn(cwd: string, timeout = 120_000) {
  return (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "bin/popcorn.js"), ...args], { cwd, encoding: "utf8", timeout });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}
export const example = (name: string) => join(ROOT, "assembly/examples", `${name}.ts`);

const cache = new Map<string, Promise<CompileResult>>();
export function compileExample(name: string, opts: CompileOptions = {}): Promise<CompileResult> {
  const key = `${name}:${JSON.stringify(opts)}`;
  if (!cache.has(key)) cache.set(key, compile(example(name), { ...opts, backends: stackmapBackends() }));
  return cache.get(key)!;
}

/** A test program written in the test, compiled as `popcorn compile` does (with `points`: only those kinds). */
export async function compileSource(name: string, source: string, points?: PointKind[]): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), `popcorn-${name}-`));
  writeFileSync(join(dir, `${name}.ts`), source);
  return (await compile(join(dir, `${name}.ts`), { backends: stackmapBackends(), points })).wasm;
}

/** `p`, or "stuck" if it has not settled within `ms`. */
export const within = <T>(p: Promise<T>, ms: number): Promise<T | "stuck"> =>
  Promise.race([p, new Promise<"stuck">((r) => setTimeout(() => r("stuck"), ms))]);

export interface Outcome {
  status: number;
  output: string[];
  captures: number;
}

export function run(bytes: Uint8Array, opts: RunOptions = {}): Outcome {
  const output: string[] = [];
  const stderr: string[] = [];
  const r = runProgram(loadProgram(bytes, "test"), { ...opts, stdout: (l) => output.push(l), stderr: (l) => stderr.push(l) });
  return { status: r.status, output, captures: r.captures };
}

/** A module from WebAssembly text, plain and instrumented (the text must keep data at or above 8192). */
export function fromWat(wat: string, points?: CompileOptions["points"]): { plain: Uint8Array; wasm: Uint8Array; sites: ReturnType<typeof instrumentWasm>["instrument"]["sites"] } {
  const m = binaryen.parseText(wat);
  m.setFeatures(binaryen.Features.MVP | binaryen.Features.MutableGlobals | binaryen.Features.SignExt | binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt | binaryen.Features.ReferenceTypes);
  if (!m.validate()) throw new Error("test WAT does not validate");
  binaryen.setDebugInfo(true); // keep function names in the name section
  const plain = m.emitBinary();
  m.dispose();
  const r = instrumentWasm(plain, "test.wat", { points });
  return { plain, wasm: r.wasm, sites: r.instrument.sites };
}

/** The module with custom section `name` replaced by `payload` (or removed). */
export function withSection(wasm: Uint8Array, name: string, payload?: Uint8Array): Uint8Array {
  return replaceCustomSections(wasm, (n) => n === name, payload ? [[name, payload]] : []);
}
