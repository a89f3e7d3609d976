// Where the headless browser of the page tests is: Debian's chromium at
// /usr/bin/chromium (scripts/install-browser.sh installs it), or a chromium
// on PATH.
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

export const CHROMIUM_NAMES = ["chromium", "chromium-browser"];

export function findChromium(): string | undefined {
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of CHROMIUM_NAMES) {
      const file = join(dir, name);
      if (dir && existsSync(file)) return file;
    }
  }
  return undefined;
}

/** The flags the project runs Chromium with: no sandbox (root in CI), no GPU, no calls home. */
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"];
