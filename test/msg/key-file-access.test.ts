// A key file that exists but that this user may not read: the message says to make it readable —
// not to create one (`popcorn keygen > file` would give this kernel or client a key no other has).
// Run as a user without access (nobody), which needs root to arrange; skipped otherwise.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { ROOT } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-key-access-"));
const keyFile = join(dir, "cluster.key");
writeFileSync(keyFile, "k".repeat(32));
chmodSync(keyFile, 0o600);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it.skipIf(process.getuid?.() !== 0)("says a key file this user may not read needs its permissions, not a new key", () => {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/popcorn.js"), "ps", "--cluster", "127.0.0.1:1", "--key-file", keyFile], {
    encoding: "utf8",
    uid: 65534,
    gid: 65534,
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toMatch(/cluster\.key: cannot read it \(permission denied\)/);
  expect(r.stderr).not.toMatch(/create one with/);
  expect(r.stderr).toMatch(/readable/);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
});
