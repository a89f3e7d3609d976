// Bundles the host code (TypeScript) into dist/cli.js with esbuild; dependencies stay external.
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export async function build() {
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./host/cli/main.ts", import.meta.url))],
    outfile: fileURLToPath(new URL("./dist/cli.js", import.meta.url)),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node18",
    packages: "external",
    sourcemap: true,
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await build();
