/**
 * Two `popcorn kernel` daemons on loopback ports with a fresh key, for the
 * benchmarks that measure cluster mode (ping, migrate over TCP). Both are
 * stopped by `stop()`, whatever happened.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readKeyFile } from "../host/msg/index.js";
import { packageRoot } from "../host/toolchain/index.js";

export interface LoopbackCluster {
  addresses: string[];
  key: Uint8Array;
  stop(): void;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function loopbackCluster(isas: string[] = ["x86-64", "aarch64"]): Promise<LoopbackCluster> {
  const bin = join(packageRoot(), "bin/popcorn.js");
  const dir = mkdtempSync(join(tmpdir(), "popcorn-bench-"));
  const keyFile = join(dir, "cluster.key");
  writeFileSync(keyFile, spawnSync(process.execPath, [bin, "keygen"], { encoding: "utf8" }).stdout);
  const addresses: string[] = [];
  for (const _ of isas) addresses.push(`127.0.0.1:${await freePort()}`);
  const children: ChildProcess[] = addresses.map((listen, i) =>
    spawn(process.execPath, [bin, "kernel", "--isa", isas[i]!, "--listen", listen, "--peers", addresses.join(","), "--key-file", keyFile], {
      stdio: ["ignore", "pipe", "inherit"],
    }),
  );
  const stop = () => {
    for (const c of children) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve, reject) => {
            let out = "";
            c.once("exit", (code) => reject(new Error(`a kernel daemon exited with ${code} before its peers joined`)));
            c.stdout!.setEncoding("utf8").on("data", (d: string) => {
              out += d;
              if ((out.match(/ joined/g) ?? []).length >= isas.length - 1) resolve();
            });
          }),
      ),
    );
    return { addresses, key: readKeyFile(keyFile), stop };
  } catch (e) {
    stop();
    throw e;
  }
}
