import { benchOverhead } from "../../bench/overhead.js";

export async function benchCommand(which: "overhead", o: { json?: boolean; quick?: boolean }): Promise<number> {
  if (which === "overhead") {
    await benchOverhead({ json: o.json, quick: o.quick, log: (l) => process.stderr.write(l + "\n") });
  }
  return 0;
}
