/**
 * `popcorn viz`: a migration trace file (host/kernel/trace.ts) as one
 * self-contained HTML page — inline CSS and script, no network, no web
 * fonts — that shows the source and destination stacks of each migration
 * side by side, frame by frame, with a line from each live value's place on
 * the source to its place on the destination.
 *
 *   <!doctype html>
 *   <style>        PAGE_CSS (style.ts)
 *   <header>       program and kernels (also readable without the script)
 *   <main>         #stage (the stacks, drawn by the script) | #details (aside)
 *   <script type="application/json" id="popcorn-viz-data">
 *                  the view model (model.ts): JSON with "<", ">" and "&"
 *                  written as \u003c, \u003e, \u0026, so no string in a trace
 *                  can end the script element
 *   <script>       CLIENT_JS (client.ts)
 *
 * The view model, not the trace, is what the page embeds: it is the trace's
 * content with every stack row already named (model.ts), so the page's
 * script stays small and the naming is tested here.
 */
import type { MigrationTraceFile } from "../../kernel/index.js";
import { CompileError } from "../../toolchain/index.js";
import { checkTrace } from "./check.js";
import { CLIENT_JS } from "./client.js";
import { vizModel, type VizModel } from "./model.js";
import { PAGE_CSS } from "./style.js";

export { checkTrace } from "./check.js";
export { vizModel, decodeValue, shortName, PHASE_ORDER, VIZ_MODEL_VERSION } from "./model.js";
export type { VizModel, VizMigration, VizFrame, VizFrameSide, VizValue, VizEnd, VizSide, VizRow, VizPart, VizRegister } from "./model.js";
export { CLIENT_JS } from "./client.js";

/** The id of the page's JSON blob. */
export const DATA_ELEMENT_ID = "popcorn-viz-data";

export interface RenderOptions {
  /** the trace's file name, for error messages (default "trace") */
  file?: string;
}

/** The page for a trace; a CompileError naming `opts.file` when it is not a trace this popcorn reads. */
export function renderTracePage(trace: MigrationTraceFile, opts: RenderOptions = {}): string {
  const t = checkTrace(trace, opts.file ?? "trace");
  return pageOf(vizModel(t));
}

/** Parses and checks a trace file's text. */
export function parseTrace(text: string, file: string): MigrationTraceFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new CompileError(`${file}: not JSON (${(e as Error).message.replace(/\s+/g, " ")}) — a popcorn trace is written by \`popcorn run --kernels … --trace <file>\``);
  }
  return checkTrace(data, file);
}

/** JSON that can sit inside a <script> element whatever its strings hold. */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function pageOf(model: VizModel): string {
  const n = model.migrations.length;
  const title = `${model.program} · ${n} migration${n === 1 ? "" : "s"} · popcorn viz`;
  const kernels = model.kernels.map((k) => `kernel <b>${k.id}</b> ${esc(k.isa)}`).join(" · ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="popcorn viz">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<style>${PAGE_CSS}</style>
</head>
<body>
<header class="top">
  <div class="title">
    <h1>Stack transformation of <span class="prog" id="program">${esc(model.program)}</span></h1>
    <span class="kernels" id="kernels">${kernels}</span>
    <span class="keys"><kbd>←</kbd> <kbd>→</kbd> migration · <kbd>↑</kbd> <kbd>↓</kbd> frame · <kbd>Esc</kbd> all frames · click a row to follow its value</span>
  </div>
  <div class="nav" id="nav"></div>
  <div class="summary" id="summary"></div>
</header>
<noscript><p>This page draws the stacks with JavaScript; the data is in the element #${DATA_ELEMENT_ID} as JSON.</p></noscript>
<main class="layout">
  <section class="stage" id="stage" aria-label="source and destination stacks"></section>
  <aside class="details" id="details" aria-label="the selected frame"></aside>
</main>
<script type="application/json" id="${DATA_ELEMENT_ID}">${scriptSafeJson(model)}</script>
<script>${CLIENT_JS}</script>
</body>
</html>
`;
}
