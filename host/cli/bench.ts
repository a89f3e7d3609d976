// The benchmarks load on demand: they pull in the compiler (binaryen), which
// no other command that only talks to kernels should pay for.
export async function benchCommand(which: "overhead" | "migrate", o: { json?: boolean; quick?: boolean; transport?: "local" | "tcp" }): Promise<number> {
  const log = (l: string) => process.stderr.write(l + "\n");
  if (which === "overhead") await (await import("../../bench/overhead.js")).benchOverhead({ json: o.json, quick: o.quick, log });
  else await (await import("../../bench/migrate.js")).benchMigrate({ json: o.json, quick: o.quick, transport: o.transport, log });
  return 0;
}
