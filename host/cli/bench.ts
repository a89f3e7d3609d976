import type { Scheduler } from "../kernel/index.js";
import { ConfigError, readKeyFile } from "../msg/index.js";
import { CompileError } from "../toolchain/index.js";
// The benchmarks load on demand: they pull in the compiler (binaryen), which
// no other command that only talks to kernels should pay for.
export async function benchCommand(
  which: "overhead" | "capture" | "migrate",
  o: { json?: boolean; quick?: boolean; transport?: "local" | "tcp"; reps?: number; warmup?: number },
): Promise<number> {
  const log = (l: string) => process.stderr.write(l + "\n");
  if (which === "overhead") await (await import("../../bench/overhead.js")).benchOverhead({ json: o.json, quick: o.quick, reps: o.reps, warmup: o.warmup, log });
  else if (which === "capture") await (await import("../../bench/capture.js")).benchCapture({ json: o.json, quick: o.quick, log });
  else await (await import("../../bench/migrate.js")).benchMigrate({ json: o.json, quick: o.quick, transport: o.transport, log });
  return 0;
}

export async function benchCountCommand(o: {
  threads?: number[]; load?: number[]; reps?: number; kernels?: string; scheduler?: Scheduler; json?: boolean; out?: string; quick?: boolean;
  cluster?: string; keyFile?: string;
}): Promise<number> {
  const log = (l: string) => process.stderr.write(l + "\n");
  const kernels = o.kernels?.split(",").map((s) => s.trim());
  if (o.cluster && kernels) throw new CompileError("--cluster runs (b) and (c) on the cluster's kernels: leave out --kernels");
  if (o.cluster && !o.keyFile) throw new ConfigError("--cluster needs --key-file <file> (the cluster's shared key, from `popcorn keygen`)");
  const cluster = o.cluster ? { address: o.cluster, key: readKeyFile(o.keyFile!) } : undefined;
  await (await import("../../bench/count.js")).benchCount({
    threads: o.threads, loads: o.load, reps: o.reps, kernels, scheduler: o.scheduler, cluster, json: o.json, out: o.out, quick: o.quick, log,
  });
  return 0;
}
