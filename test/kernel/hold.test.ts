// Kernel.hold (a process whose client does not keep up with its output):
// a thread that a core was starting when the hold came holds too — it was
// not "running" yet, so hold had no control word to ask it to yield with.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { stackmapBackends } from "../../host/isa/index.js";
import { compile } from "../../host/toolchain/index.js";
import { ScriptedCluster } from "./scripted.js";

const PRINTS = `
import { print } from "popcorn";
export function main(): i32 {
  for (let i = 0; ; i++) print("line " + i.toString());
  return 0;
}
`;

let cluster: ScriptedCluster | undefined;
afterEach(() => {
  cluster?.shutdown();
  cluster = undefined;
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Kernel.hold", () => {
  it("holds a thread that a core is starting: its output stops", async () => {
    const dir = mkdtempSync(join(tmpdir(), "popcorn-hold-"));
    writeFileSync(join(dir, "prints.ts"), PRINTS);
    const wasm = (await compile(join(dir, "prints.ts"), { backends: stackmapBackends() })).wasm;
    const c = (cluster = await ScriptedCluster.start({ kernels: 1, cores: 1 }));
    const k = c.kernels[0]!;
    const threads = (k as unknown as { threads: Map<string, { state: string }> }).threads;
    const pid = 100_050;
    c.request(0, { t: "exec", pid, name: "prints", bytes: wasm, args: [] });
    for (let i = 0; i < 1000 && threads.get(`${pid}.0`)?.state !== "starting"; i++) await new Promise((r) => setImmediate(r));
    expect(threads.get(`${pid}.0`)?.state).toBe("starting");
    k.hold(pid, true);
    await sleep(300);
    const a = c.output(pid).length;
    await sleep(300);
    const b = c.output(pid).length;
    expect(b - a, "lines printed while held").toBe(0);
    k.hold(pid, false);
    await sleep(200);
    expect(c.output(pid).length, "it runs again once let go").toBeGreaterThan(b);
    c.request(0, { t: "signal", pid, signo: 9 });
    expect(await c.exit(pid, 10_000)).toMatchObject({ status: 137 });
  });
});
