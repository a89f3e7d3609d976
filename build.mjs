// Bundles the host code (TypeScript) with esbuild, dependencies external:
// dist/cli.js (the popcorn command), dist/worker.js (kernel and core threads) and
// dist/guest.js (the guest thread of a one-kernel run).
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export async function build() {
  await esbuild.build({
    entryPoints: {
      cli: fileURLToPath(new URL("./host/cli/main.ts", import.meta.url)),
      worker: fileURLToPath(new URL("./host/kernel/worker.ts", import.meta.url)),
      guest: fileURLToPath(new URL("./host/cli/guest-worker.ts", import.meta.url)),
    },
    outdir: fileURLToPath(new URL("./dist", import.meta.url)),
    bundle: true,
    platform: "node",
    format: "esm",
    splitting: true, // the compiler is a chunk of its own, loaded by dynamic import
    chunkNames: "chunks/[name]-[hash]",
    target: "node18",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
