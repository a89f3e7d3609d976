// vitest globalSetup: the page test of `popcorn viz` (test/cli/viz.test.ts)
// needs a headless Chromium. When none is installed and this process may
// install one (root, apt-get), run scripts/install-browser.sh once, before
// any test file is collected; otherwise say why the browser test will be
// skipped. POPCORN_NO_BROWSER_INSTALL=1 turns the install off.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { findChromium } from "./chromium.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/install-browser.sh", import.meta.url));

export default function setup(): void {
  if (findChromium()) return;
  const say = (line: string) => process.stderr.write(`[browser setup] ${line}\n`);
  if (process.env.POPCORN_NO_BROWSER_INSTALL) {
    say("no chromium, and POPCORN_NO_BROWSER_INSTALL is set: the browser test of popcorn viz will be skipped");
    return;
  }
  const root = process.getuid?.() === 0;
  const apt = spawnSync("sh", ["-c", "command -v apt-get"], { encoding: "utf8" }).status === 0;
  if (!root || !apt) {
    say(`no chromium, and ${!apt ? "no apt-get" : "not root"} to install it: the browser test of popcorn viz will be skipped (run scripts/install-browser.sh${root ? "" : " as root"})`);
    return;
  }
  say("no chromium: running scripts/install-browser.sh (Debian's chromium, once)");
  const r = spawnSync("sh", [SCRIPT], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0 || !findChromium()) say(`scripts/install-browser.sh failed (exit ${r.status}): the browser test of popcorn viz will be skipped`);
}
