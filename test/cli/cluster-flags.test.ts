// `popcorn run --cluster` with flags that only embedded kernels take: refused in one line, exit 2,
// before any connection — not accepted and silently ignored (the daemons' own --cores set their cores).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { popcornIn } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-cluster-flags-"));
const popcorn = popcornIn(dir, 30_000);
writeFileSync(join(dir, "cluster.key"), "k".repeat(32));
writeFileSync(join(dir, "p.wasm"), new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("refuses --cores with --cluster, naming it and where a kernel's cores are set", () => {
  // nothing listens on port 1: a run that got as far as connecting would say so instead
  const r = popcorn("run", "p.wasm", "--cluster", "127.0.0.1:1", "--key-file", "cluster.key", "--cores", "2");
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^popcorn: --cluster runs on the cluster's kernels: leave out .*--cores/);
  expect(r.stderr).toMatch(/popcorn kernel --cores/);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
});
