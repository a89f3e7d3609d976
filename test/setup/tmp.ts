// vitest globalSetup: every test's temporary files in one folder, removed
// when the run ends. Test files make their folders with
// mkdtempSync(join(tmpdir(), …)) and popcorn puts its control sockets in
// tmpdir() too (host/cli/control.ts); TMPDIR, set here before the test
// processes start, moves both — theirs and the popcorn commands' they spawn.
// A run used to leave ~30 folders in /tmp (250 MB after a day's runs), and
// its control sockets beside those of the user's own `popcorn run`s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "popcorn-test-"));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
