/**
 * A popcorn program's entry point: an exported function `main` that takes
 * nothing and returns its exit status (or nothing: status 0). `popcorn
 * compile` refuses a program without one, and the kernel a module without
 * one (kernel/program.ts loadProgram), in the same words: a module compiled
 * without it would only be refused by every run.
 *
 * A main with parameters would run with zeros, one returning i64 or f64 has
 * no exit status.
 */
import { exportedFunctionType } from "./wasmbin.js";

/** What is wrong with `name`'s main (a sentence naming it and the fix), or undefined if nothing. */
export function entryPointProblem(bytes: Uint8Array, module: WebAssembly.Module, name: string): string | undefined {
  if (!WebAssembly.Module.exports(module).some((e) => e.name === "main" && e.kind === "function")) {
    return `${name}: exports no function \`main\` — a popcorn program's entry point is \`export function main(): i32\``;
  }
  const sig = exportedFunctionType(bytes, "main");
  if (!sig) return undefined;
  const ok = !sig.params.length && (!sig.results.length || (sig.results.length === 1 && sig.results[0] === "i32"));
  if (ok) return undefined;
  const results = sig.results.length === 1 ? sig.results[0] : `(${sig.results.join(", ")})`;
  return (
    `${name}: main is (${sig.params.join(", ")}) => ${results || "void"}, a popcorn program's entry point is \`export function main(): i32\` ` +
    "(its exit status; the arguments come from args() of \"popcorn\")"
  );
}
