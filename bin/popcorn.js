#!/usr/bin/env node
// The popcorn command: runs the bundled CLI, building it first if this checkout has not.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/cli.js", import.meta.url);
const parts = ["../dist/worker.js", "../dist/guest.js"].map((f) => new URL(f, import.meta.url));
if (![dist, ...parts].every((f) => existsSync(fileURLToPath(f)))) {
  const { build } = await import("../build.mjs");
  await build();
}
const { main } = await import(dist.href);
process.exitCode = await main(process.argv.slice(2));
