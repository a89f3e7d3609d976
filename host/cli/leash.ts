/**
 * A kernel daemon started by another popcorn process for its own use — the
 * daemons of ping --transport tcp, of the benchmarks' clusters and of
 * --kernels …@qemu (local-cluster.ts), the arm64 Node that `popcorn kernel
 * --qemu` runs (qemu.ts) — is on a leash: it stops when its launcher is
 * gone, however the launcher ended (kill -9, a signal it does not catch).
 * Such daemons were left running and listening for ever, holding their
 * launcher's terminal or pipes.
 *
 *   launcher                              daemon (LEASH_ENV set)
 *   spawnLeashed: stdin = a pipe  ───────▶ holdLeash: reads its stdin;
 *   (unref'd: it keeps nothing alive)      at its end (the launcher's end
 *                                          closed it), stops as on SIGTERM
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Socket } from "node:net";

/** Set in a leashed daemon's environment. */
export const LEASH_ENV = "POPCORN_KERNEL_LEASH";

/** Starts `command` on a leash; its stdout and stderr are piped to this process or inherited. */
export function spawnLeashed(command: string, args: string[], output: "pipe" | "inherit"): ChildProcess {
  const child = spawn(command, args, { stdio: ["pipe", output, output], env: { ...process.env, [LEASH_ENV]: "1" } });
  (child.stdin as Socket).unref(); // the leash holds the daemon, not this process: it ends when its work is done
  return child;
}

/** In a daemon: calls `stop` once its leash is let go, if it is on one; the returned function lets go of it after the stop. */
export function holdLeash(stop: () => void): () => void {
  if (!process.env[LEASH_ENV]) return () => {};
  process.stdin.once("end", stop).once("error", stop).resume();
  return () => process.stdin.destroy(); // read on, it would keep this process from ending
}
