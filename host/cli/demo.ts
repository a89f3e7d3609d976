/**
 * `npm start`: hello popcorn. Compiles hello.ts, runs it on an x86-64 and an
 * aarch64 kernel (worker threads of this process that share nothing but
 * messages) where it hops back and forth, then shows the kernels' log and
 * what the first migration did to the stack.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compile, packageRoot } from "../toolchain/index.js";
import { stackmapBackends } from "../isa/index.js";
import { EmbeddedKernels } from "../kernel/index.js";
import { formatSummary } from "./compile.js";

export async function demoCommand(): Promise<number> {
  const src = join(packageRoot(), "assembly/examples/hello.ts");
  const say = (s: string) => process.stdout.write(s + "\n");
  say("$ popcorn compile assembly/examples/hello.ts");
  const r = await compile(src, { backends: stackmapBackends() });
  await mkdir("build", { recursive: true });
  await writeFile("build/hello.wasm", r.wasm);
  process.stdout.write(formatSummary("build/hello.wasm", r.summary));
  say("  stackmaps: x86-64 (System V) and aarch64 (AAPCS64): where each live value of each site sits on each ISA");
  say("\n$ popcorn run build/hello.wasm --kernels x86-64,aarch64 -- 4");
  const kernels = await EmbeddedKernels.start({
    isas: ["x86-64", "aarch64"],
    trace: true,
    onOutput: (_pid, stream, line) => (stream === 1 ? process.stdout : process.stderr).write(line + "\n"),
  });
  try {
    const { exited } = kernels.exec(r.wasm, "hello.wasm", ["4"]);
    const ex = await exited;
    if (ex.error) process.stderr.write(`popcorn: hello.wasm: ${ex.error}\n`);
    await new Promise((res) => setTimeout(res, 10)); // the last migration's log line trails the exit
    say("\n$ popcorn dmesg");
    for (const l of await kernels.dmesg()) say(l);
    const first = kernels.traces()[0];
    if (first) {
      say(`\nWhat the first migration did to the stack (${first.from.isa} → ${first.to.isa}; --trace writes this for every migration):`);
      for (const f of first.transform.frames) {
        say(`  frame ${f.depth} ${f.function} site ${f.site}: returns to 0x${f.from.returnAddress.toString(16)} → 0x${f.to.returnAddress.toString(16)}, frame ${f.from.frameSize} → ${f.to.frameSize} bytes`);
        const values = first.frames.find((x) => x.depth === f.depth)?.values ?? [];
        // the value as the program knows it, and its bytes in memory order (little-endian on both ISAs)
        for (const v of f.values) {
          const value = values.find((x) => x.name === v.name)?.value ?? "?";
          say(`    ${v.name} ${v.type} = ${value} (bytes ${v.hex}): ${v.fromText} → ${v.toText}`);
        }
      }
    }
    say(`\nexit status ${ex.status}`);
    say("Next:");
    say("  npx popcorn stackmap build/hello.wasm --function main        # every site's values, per ISA, side by side");
    say("  npx popcorn run build/hello.wasm --kernels x86-64,aarch64 --trace hello.trace.json && npx popcorn viz hello.trace.json");
    say("  npx popcorn compile assembly/examples/count.ts && npx popcorn run build/count.wasm --kernels x86-64,aarch64 -- 20000000000 &   # ~40 s");
    say("  npx popcorn ps;  npx popcorn kill -35 <pid>                  # from another terminal: watch it hop");
    say("  npx popcorn run build/count.wasm --kernels x86-64,aarch64 --scheduler balance -- 8 5000000000   # 8 threads over both kernels");
    say("  npx popcorn bench count                                      # the counting benchmark: one kernel against two");
    say("  docs/anatomy.md: one migration of fib, taken apart");
    return ex.status;
  } finally {
    await kernels.stop();
  }
}
