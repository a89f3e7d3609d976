// vitest globalSetup: every test's temporary files in one folder, removed
// when the run ends. Test files make their folders with
// mkdtempSync(join(tmpdir(), …)) and popcorn puts its control sockets in
// $XDG_RUNTIME_DIR or tmpdir() (host/cli/control.ts); TMPDIR and
// POPCORN_RUN_DIR, set here before the test processes start, move both —
// theirs and the popcorn commands' they spawn.
// A run used to leave ~30 folders in /tmp (250 MB after a day's runs), and
// its control sockets beside those of the user's own `popcorn run`s.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), "popcorn-test-"));
  process.env.TMPDIR = dir;
  process.env.POPCORN_RUN_DIR = join(dir, "runs"); // where runs put their control sockets, whatever XDG_RUNTIME_DIR says
  return () => rmSync(dir, { recursive: true, force: true });
}
