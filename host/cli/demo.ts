/** `npm start`: hello, compiled and run with checkpoint/restore round trips, and the kernel log. */
import { join } from "node:path";
import { compile, packageRoot } from "../toolchain/index.js";
import { loadProgram, runProgram } from "../kernel/index.js";
import { formatSummary } from "./compile.js";

export async function demoCommand(): Promise<number> {
  const src = join(packageRoot(), "assembly/examples/hello.ts");
  process.stdout.write(`$ popcorn compile assembly/examples/hello.ts\n`);
  const r = await compile(src);
  process.stdout.write(formatSummary("(in memory)", r.summary));
  process.stdout.write(`\n$ popcorn run hello.wasm --dmesg -- 3\n`);
  process.stdout.write(`  (one kernel: every migrate() is a capture, a serialized image, and a restore into a fresh instance)\n\n`);
  const dmesg: string[] = [];
  const t0 = performance.now();
  const { status } = runProgram(loadProgram(r.wasm, "hello.wasm"), {
    args: ["3"],
    stdout: (l) => process.stdout.write(l + "\n"),
    log: (l) => dmesg.push(`[${((performance.now() - t0) / 1000).toFixed(6)}] kernel 0: ${l}`),
  });
  process.stdout.write(`\n$ popcorn dmesg\n${dmesg.join("\n")}\n\nexit status ${status}\n`);
  return status;
}
