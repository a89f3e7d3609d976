/**
 * Kernel daemons on loopback ports, started and stopped by this process:
 * for `run --kernels …,aarch64@qemu` (a kernel that must be its own
 * process: an arm64 Node under QEMU) and for the cluster-mode benchmarks.
 * Each kernel is `popcorn kernel` — natively, or under qemu for `<isa>@qemu`
 * — with a fresh key in a temporary folder; `stop()` ends them all, and
 * so does the end of this process, however it ends (a signal, kill -9):
 * each daemon is started on a leash (leash.ts).
 */
import { type ChildProcess, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { profile } from "../isa/index.js";
import { readKeyFile } from "../msg/index.js";
import { CompileError, packageRoot } from "../toolchain/index.js";
import { qemuIsa, qemuKernelCommand } from "./qemu.js";
import { spawnLeashed } from "./leash.js";

export interface LocalCluster {
  addresses: string[];
  key: Uint8Array;
  /** the key's file, for commands that read it (--key-file); removed by stop() */
  keyFile: string;
  stop(): void;
}

/** "aarch64@qemu" → { isa: "aarch64", qemu: true } */
export function kernelSpec(entry: string): { isa: string; qemu: boolean } {
  const [isa, how, ...rest] = entry.split("@");
  if (rest.length || (how !== undefined && how !== "qemu")) {
    throw new CompileError(`--kernels entry "${entry}": write <isa> or <isa>@qemu (e.g. aarch64@qemu)`);
  }
  profile(isa!); // names the known ISAs on a typo
  if (how === "qemu") qemuIsa(isa!, `--kernels entry "${entry}"`, `write ${isa}`);
  return { isa: isa!, qemu: how === "qemu" };
}

/** A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts one daemon per entry ("x86-64", "aarch64@qemu", …) and resolves once they all see each other. */
export async function startLocalCluster(entries: string[], log?: (line: string) => void, timeoutMs = 60_000): Promise<LocalCluster> {
  const specs = entries.map(kernelSpec);
  const bin = join(packageRoot(), "bin/popcorn.js");
  const dir = mkdtempSync(join(tmpdir(), "popcorn-kernels-"));
  const keyFile = join(dir, "cluster.key");
  writeFileSync(keyFile, spawnSync(process.execPath, [bin, "keygen"], { encoding: "utf8" }).stdout);
  const addresses: string[] = [];
  for (const _ of specs) addresses.push(`127.0.0.1:${await freePort()}`);
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    specs.forEach((s, i) => {
      const args = ["--isa", s.isa, "--listen", addresses[i]!, "--peers", addresses.join(","), "--key-file", keyFile];
      const cmd = s.qemu ? qemuKernelCommand(args) : { command: process.execPath, args: [bin, "kernel", ...args] };
      children.push(spawnLeashed(cmd.command, cmd.args, "pipe"));
    });
    await Promise.all(
      children.map(
        (c, i) =>
          new Promise<void>((resolve, reject) => {
            let out = "";
            let err = "";
            const timer = setTimeout(() => reject(new CompileError(`kernel ${i} (${entries[i]}) did not see its peers within ${timeoutMs / 1000} s`)), timeoutMs);
            c.once("exit", (code) => {
              clearTimeout(timer);
              reject(new CompileError(`kernel ${i} (${entries[i]}) exited with status ${code} before its peers joined: ${err.trim().split("\n").pop() ?? ""}`));
            });
            c.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
            c.stdout!.setEncoding("utf8").on("data", (d: string) => {
              out += d;
              for (const line of d.split("\n")) if (line) log?.(line);
              if ((out.match(/ joined/g) ?? []).length >= specs.length - 1) {
                clearTimeout(timer);
                resolve();
              }
            });
          }),
      ),
    );
    return { addresses, key: readKeyFile(keyFile), keyFile, stop };
  } catch (e) {
    stop();
    throw e;
  }
}
