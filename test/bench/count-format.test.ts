// What popcorn bench count's table says about its configurations and rows,
// from a result made up here: the cores of each configuration as they are,
// and a note where (c) moved no thread.
import { describe, expect, it } from "vitest";
import { formatCount, type CountResult, type CountRow } from "../../bench/count.js";

const row = (config: CountRow["config"], threads: number, load: number, migrations: number, note?: string): CountRow => ({
  config, threads, load, ms: 10, speedup: 1, migrations, bytesMoved: migrations * 4096, runs: 1, note,
});

function result(configs: CountResult["configs"], rows: CountRow[]): CountResult {
  return { configs, rows, speedup: 1, files: { json: "count.json", svg: "count.svg" } };
}

const local: CountResult["configs"] = [
  { name: "a", what: "1 kernel, 1 core", kernels: ["x86-64"], cores: 1 },
  { name: "b", what: "2 kernels, scheduler balance", kernels: ["x86-64", "aarch64"], cores: 1 },
  { name: "c", what: "2 kernels, half moved by signal 35", kernels: ["x86-64", "aarch64"], cores: 1 },
  { name: "d", what: "1 kernel, 2 cores", kernels: ["x86-64"], cores: 2 },
];
const configLine = (text: string, name: string) => text.split("\n").find((l) => l.startsWith(`  (${name})`))!;

describe("bench count's table", () => {
  it("gives a single kernel's cores without 'each', and two kernels' cores with it", () => {
    const text = formatCount(result(local, []));
    expect(configLine(text, "a")).toMatch(/: kernels x86-64, 1 core$/);
    expect(configLine(text, "b")).toMatch(/: kernels x86-64,aarch64, 1 core each$/);
    expect(configLine(text, "d")).toMatch(/: kernels x86-64, 2 cores$/);
  });

  it("gives a cluster's cores as its daemons said them, per kernel where they differ, and says so where a daemon did not say", () => {
    const cluster = ["127.0.0.1:7100", "127.0.0.1:7101"];
    const on = (kernelCores: (number | undefined)[] | undefined): CountResult["configs"] => [
      local[0]!,
      { ...local[1]!, cores: kernelCores?.every((n) => n === kernelCores[0]) ? kernelCores[0] : undefined, kernelCores, cluster },
      local[3]!,
    ];
    expect(configLine(formatCount(result(on([2, 2]), [])), "b")).toMatch(/, 2 cores each$/);
    expect(configLine(formatCount(result(on([2, 1]), [])), "b")).toMatch(/, 2 cores on kernel 0, 1 core on kernel 1$/);
    expect(configLine(formatCount(result(on([4, undefined]), [])), "b")).toMatch(/, 4 cores on kernel 0, kernel 1's not known \(a daemon from before cluster info had cores\)$/);
    expect(configLine(formatCount(result(on(undefined), [])), "b")).toMatch(/, cores as the daemons were started with$/);
  });

  it("says under the table where (c) moved no thread, and why", () => {
    const rows = [row("a", 4, 1000, 0), row("c", 4, 1000, 0, "the threads ended before signal 35 reached them"), row("c", 4, 1_000_000, 2)];
    const lines = formatCount(result(local, rows)).split("\n");
    const notes = lines.filter((l) => l.startsWith("(c) moved no thread"));
    expect(notes).toEqual(["(c) moved no thread at 4 threads × load 1000: the threads ended before signal 35 reached them"]);
    const table = lines.findIndex((l) => l.startsWith("config "));
    expect(lines.indexOf(notes[0]!)).toBeGreaterThan(table + rows.length);
  });
});
