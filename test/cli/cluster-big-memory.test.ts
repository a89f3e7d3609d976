// A process whose memory is more than one TCP frame may carry (MAX_FRAME_BYTES, 256 MiB) cannot
// migrate in cluster mode: it stays where it is, and stderr says why — not only "could not send
// the memory" — and dmesg's memory total counts no bytes that were never sent.
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { loopbackCluster } from "../../bench/cluster.js";
import { compileSource, popcornIn } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-big-memory-"));
const popcorn = popcornIn(dir, 60_000);
let cluster: Awaited<ReturnType<typeof loopbackCluster>> | undefined;

beforeAll(async () => {
  const wasm = await compileSource(
    "big",
    `import { print, migrate, currentKernel } from "popcorn";
let buf = new StaticArray<u8>(0);
export function main(): i32 {
  buf = new StaticArray<u8>(300 << 20);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = 1;
  migrate(1);
  let s: i32 = 0;
  for (let i = 0; i < buf.length; i += 4096) s += buf[i];
  print("on " + currentKernel().toString() + " sum " + s.toString());
  return 0;
}
`,
  );
  writeFileSync(join(dir, "big.wasm"), wasm);
  cluster = await loopbackCluster();
}, 120_000);

afterAll(() => {
  cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("says why a process too big for one frame stays where it is", () => {
  const r = popcorn("run", "big.wasm", "--cluster", cluster!.addresses[0]!, "--key-file", cluster!.keyFile, "--dmesg");
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toBe(`on 0 sum ${(300 << 20) / 4096}\n`);
  expect(r.stderr).toMatch(/popcorn: pid \d+: migration to kernel 1 could not send the memory to kernel 1 \(.*exceeds MAX_FRAME_BYTES.*\) — staying on kernel 0/);
  // (it used to say "0 B in, 314589184 B out": the pages that did not fit the frame)
  expect(r.stderr).not.toMatch(/memory traffic on this kernel: \d+ B in, [1-9]\d* B out/);
}, 60_000);
