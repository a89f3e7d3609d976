/** Where popcorn's own files are, whether running from host/ (tests) or dist/ (the CLI). */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).name === "popcorn-wasm") return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find popcorn-wasm's package.json above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The folder given to asc's --lib, so that `import ... from "popcorn"` resolves to assembly/popcorn/. */
export function guestLibDir(): string {
  return join(packageRoot(), "assembly");
}
