import { benchOverhead } from "../../bench/overhead.js";
import { benchMigrate } from "../../bench/migrate.js";

export async function benchCommand(which: "overhead" | "migrate", o: { json?: boolean; quick?: boolean }): Promise<number> {
  const log = (l: string) => process.stderr.write(l + "\n");
  if (which === "overhead") await benchOverhead({ json: o.json, quick: o.quick, log });
  else await benchMigrate({ json: o.json, quick: o.quick, log });
  return 0;
}
