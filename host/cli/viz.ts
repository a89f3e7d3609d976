/**
 * `popcorn viz <trace.json> [-o page.html]`: writes the page of a migration
 * trace (host/cli/viz/). The default page is the trace's path with its
 * extension (.json, or .trace.json) replaced by .html; its folder is made
 * if missing (files.ts, as for every output).
 */
import { readFileSync } from "node:fs";
import { CompileError } from "../toolchain/index.js";
import { parseTrace, renderTracePage } from "./viz/index.js";
import { checkOutput, refuseSameFile, writeOutput } from "./files.js";

export interface VizOptions {
  out?: string;
}

/** fib.trace.json → fib.trace.html; fib → fib.html */
export function defaultPagePath(file: string): string {
  return /\.json$/i.test(file) ? file.replace(/\.json$/i, ".html") : `${file}.html`;
}

export async function vizCommand(file: string, o: VizOptions = {}): Promise<number> {
  const out = o.out ?? defaultPagePath(file);
  refuseSameFile("-o", out, file, "the trace");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const trace = parseTrace(text, file);
  checkOutput("-o", out);
  const html = renderTracePage(trace, { file });
  try {
    await writeOutput(out, html);
  } catch (e) {
    throw new CompileError(`${out}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const n = trace.migrations.length;
  process.stdout.write(`wrote ${out} (${n} migration${n === 1 ? "" : "s"}, ${Buffer.byteLength(html)} bytes)\n`);
  return 0;
}
