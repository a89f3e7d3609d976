// vitest globalSetup: the tests of aarch64@qemu kernels (test/cli/qemu.test.ts)
// need qemu-user-static and Debian's arm64 Node.js in popcorn's cache. When
// they are missing and this process may install them (root, apt-get), run
// `popcorn setup arm64` once (about 25 MB, a few seconds); otherwise say why
// those tests will be skipped. POPCORN_NO_ARM64_SETUP=1 turns this off.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { arm64Node } from "../../host/cli/qemu.js";

const BIN = fileURLToPath(new URL("../../bin/popcorn.js", import.meta.url));

export default function setup(): void {
  const have = arm64Node();
  if ("node" in have) return;
  const say = (line: string) => process.stderr.write(`[arm64 setup] ${line}\n`);
  if (process.env.POPCORN_NO_ARM64_SETUP) {
    say(`${have.missing}, and POPCORN_NO_ARM64_SETUP is set: the aarch64@qemu tests will be skipped`);
    return;
  }
  const root = process.getuid?.() === 0;
  const apt = spawnSync("sh", ["-c", "command -v apt-get"], { encoding: "utf8" }).status === 0;
  if (!root || !apt) {
    say(`${have.missing}, and ${!apt ? "no apt-get" : "not root"} to set it up: the aarch64@qemu tests will be skipped (run \`popcorn setup arm64\`${root ? "" : " as root"})`);
    return;
  }
  say(`${have.missing}: running popcorn setup arm64 (once)`);
  const r = spawnSync(process.execPath, [BIN, "setup", "arm64"], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) say(`popcorn setup arm64 failed (exit ${r.status}): the aarch64@qemu tests will be skipped`);
}
