#!/usr/bin/env node
// The README's picture of `popcorn viz`: a real migration trace of the fib
// example, its page, and a screenshot of the page in headless Chromium
// (Debian's chromium, driven by playwright-core; scripts/install-browser.sh
// installs it).
//
//   node scripts/screenshot-viz.mjs [trace.json] [-o docs/viz.png] [--view "#m=2"] [--width 1760] [--height 1000]
//
// Without a trace it makes one: compiles assembly/examples/fib.ts, runs it on
// an x86-64 and an aarch64 kernel with four migrations (`popcorn run
// --kernels x86-64,aarch64 --migrate-at 5,9,9,5 --trace …`), the third of
// which moves fib's recursion from x86-64 to aarch64. --view picks the
// migration and frame shown (the page's URL hash). The picture is the whole
// page (its height follows the stack).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: "string", short: "o", default: join(ROOT, "docs/viz.png") },
    view: { type: "string", default: "#m=2" },
    width: { type: "string", default: "1760" },
    height: { type: "string", default: "1000" },
  },
});

function chromiumPath() {
  if (existsSync("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function popcorn(...args) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/popcorn.js"), ...args], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`popcorn ${args.join(" ")} exited ${r.status}`);
}

const executablePath = chromiumPath();
if (!executablePath) {
  console.error("screenshot-viz: no chromium (/usr/bin/chromium or on PATH) — run scripts/install-browser.sh");
  process.exit(1);
}

let trace = positionals[0] && resolve(positionals[0]);
if (!trace) {
  mkdirSync(join(ROOT, "build"), { recursive: true });
  trace = join(ROOT, "build/fib.trace.json");
  popcorn("compile", "assembly/examples/fib.ts", "-o", "build/fib.wasm");
  popcorn("run", "build/fib.wasm", "--kernels", "x86-64,aarch64", "--migrate-at", "5,9,9,5", "--trace", trace, "--", "5", "3");
}
const page = trace.replace(/\.json$/i, "") + ".html";
popcorn("viz", trace, "-o", page);

const { chromium } = await import("playwright-core");
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
try {
  const tab = await browser.newPage({ viewport: { width: Number(o.width), height: Number(o.height) }, deviceScaleFactor: 1 });
  const problems = [];
  tab.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  tab.on("pageerror", (e) => problems.push(e.message));
  await tab.goto(pathToFileURL(page).href + o.view);
  await tab.waitForSelector("#stacks[data-wires]", { state: "attached" });
  if (problems.length) throw new Error(`the page reported errors:\n${problems.join("\n")}`);
  mkdirSync(dirname(o.out), { recursive: true });
  await tab.screenshot({ path: o.out, fullPage: true });
  console.log(`wrote ${o.out} (${page}${o.view})`);
} finally {
  await browser.close();
}
