// popcorn's own output into a reader that went away (`popcorn dmesg --cluster … | head -1`,
// `popcorn keygen | true`, `popcorn run … --json | head -c 10`): the command ends as SIGPIPE
// ends a Unix program — exit 141, nothing on stderr — instead of an unhandled EPIPE and a Node
// stack. A kernel daemon whose log reader went away (`popcorn kernel … | head`) stops printing
// its log and runs on: it used to crash at its next log line, losing every process on it.
// (`run`'s own handling of its program's output is in pipe.test.ts.)
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../host/cli/local-cluster.js";
import { compileExample, ROOT } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-broken-pipe-"));
const keyFile = join(dir, "cluster.key");
const wrongKeyFile = join(dir, "wrong.key");
const bin = join(ROOT, "bin/popcorn.js");
const children: ChildProcess[] = [];
let address: string;
let kernel: ChildProcess;
let kernelStderr = "";

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once("exit", (code) => r(code))));

/** `popcorn <args>` whose stdout reader is gone before it writes a byte: exit code and stderr. */
async function intoClosedPipe(...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const c = spawn(process.execPath, [bin, ...args], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  children.push(c);
  c.stdout!.destroy(); // the reader is gone
  let stderr = "";
  c.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const code = await exited(c);
  return { code, stderr };
}

beforeAll(async () => {
  writeFileSync(keyFile, "k".repeat(32));
  writeFileSync(wrongKeyFile, "w".repeat(32));
  writeFileSync(join(dir, "hello.wasm"), (await compileExample("hello")).wasm);
  address = `127.0.0.1:${await freePort()}`;
  kernel = spawn(process.execPath, [bin, "kernel", "--isa", "x86-64", "--listen", address, "--peers", address, "--key-file", keyFile], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(kernel);
  kernel.stderr!.setEncoding("utf8").on("data", (d: string) => (kernelStderr += d));
  await new Promise<void>((resolve, reject) => {
    let out = "";
    kernel.once("exit", (code) => reject(new Error(`the kernel exited with ${code}: ${kernelStderr}`)));
    kernel.stdout!.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("listening on")) resolve();
    });
  });
}, 120_000);

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("a reader of popcorn's own output that goes away", () => {
  for (const args of [["keygen"], ["dmesg", "--cluster", "A", "--key-file", keyFile], ["ps", "--cluster", "A", "--key-file", keyFile, "--json"], ["run", "hello.wasm", "--cluster", "A", "--key-file", keyFile, "--json", "--", "1"]]) {
    it(`ends \`popcorn ${args[0]}\` as SIGPIPE would: exit 141, nothing on stderr`, async () => {
      const r = await intoClosedPipe(...args.map((a) => (a === "A" ? address : a)));
      expect(r.stderr).toBe("");
      expect(r.code).toBe(141);
    });
  }

  it("leaves a kernel daemon running, without its log, when the reader of its log goes away", async () => {
    kernel.stdout!.destroy(); // `popcorn kernel … | head -2`: head has gone
    // something the kernel logs: a client with the wrong key, refused
    const refused = spawnSync(process.execPath, [bin, "ps", "--cluster", address, "--key-file", wrongKeyFile], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    expect(refused.status).toBe(2);
    await new Promise((r) => setTimeout(r, 500)); // the log line's EPIPE comes after the write
    expect(kernelStderr).not.toMatch(/EPIPE|Unhandled|node:events/);
    expect(kernelStderr).toMatch(/the reader of its log went away — it runs on without printing the log/);
    expect(kernel.exitCode).toBeNull();
    const ps = spawnSync(process.execPath, [bin, "ps", "--cluster", address, "--key-file", keyFile], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    expect(ps.status, ps.stderr).toBe(0);
    expect(ps.stdout).toMatch(/kernel 0 x86-64 .* up/);
  });
});
