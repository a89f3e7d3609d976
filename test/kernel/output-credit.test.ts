// The bound on output a core has posted and its control thread has not
// taken (host/kernel/output-credit.ts), with the core's side in a real
// worker: it stops posting at MAX_BYTES, and goes on once half is taken.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import * as esbuild from "esbuild";
import { describe, expect, it } from "vitest";
import { MAX_BYTES, OutputTaken } from "../../host/kernel/output-credit.js";
import { ROOT } from "../helpers.js";

/** A worker that posts `lines` lines of `length` characters, each after OutputCredit.posting, as a core does. */
async function core(lines: number, length: number): Promise<Worker> {
  const driver = `
    import { parentPort } from "node:worker_threads";
    import { OutputCredit } from "./host/kernel/output-credit.ts";
    const credit = new OutputCredit();
    parentPort.postMessage({ buffer: credit.buffer });
    const line = "x".repeat(${length});
    for (let i = 0; i < ${lines}; i++) { credit.posting(line); parentPort.postMessage({ line }); }
    parentPort.postMessage({ done: true });`;
  const out = await esbuild.build({ stdin: { contents: driver, resolveDir: ROOT, loader: "ts" }, bundle: true, platform: "node", format: "esm", write: false });
  const file = join(mkdtempSync(join(tmpdir(), "popcorn-credit-")), "core.mjs");
  writeFileSync(file, out.outputFiles[0]!.text);
  return new Worker(file);
}

describe("output credit", () => {
  it("a core stops posting once MAX_BYTES are not taken, and goes on once half is", async () => {
    const length = 1000;
    const lines = 3000; // ~3 MiB: three times the bound
    const w = await core(lines, length);
    let taken: OutputTaken | undefined;
    const got: string[] = [];
    let taking = false;
    let done = false;
    w.on("message", (m: { buffer?: SharedArrayBuffer; line?: string; done?: boolean }) => {
      if (m.buffer) taken = new OutputTaken(m.buffer);
      if (m.line !== undefined) {
        got.push(m.line);
        if (taking) taken!.taken(m.line);
      }
      if (m.done) done = true;
    });
    try {
      // nothing taken: the core posts about MAX_BYTES and waits
      await new Promise((r) => setTimeout(r, 500));
      const perLine = MAX_BYTES / got.length;
      expect(got.length, "lines posted while none was taken").toBeLessThan(lines);
      expect(perLine, "bytes counted a line").toBeGreaterThanOrEqual(length);
      expect(perLine).toBeLessThan(length + 64);
      // take what came, and every line from now on: the core posts the rest
      taking = true;
      for (const l of got) taken!.taken(l);
      for (let i = 0; i < 400 && !done; i++) await new Promise((r) => setTimeout(r, 10));
      expect(done, "the core went on to its last line").toBe(true);
      expect(got.length).toBe(lines);
    } finally {
      await w.terminate();
    }
  });
});
