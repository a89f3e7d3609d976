/**
 * Output paths a command refuses: one that is its own input (compile's -o or
 * --plain naming the source, viz's -o naming the trace) would destroy what
 * the user asked to read; two outputs naming one file would leave only the
 * last written.
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { CompileError } from "../toolchain/index.js";

/** Whether paths a and b name one file: the same path, or (both existing) the same inode — a link or another spelling. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** A CompileError if `out` (given as `flag`) names the same file as `other`, the command's `what`. */
export function refuseSameFile(flag: string, out: string, other: string, what: string): void {
  if (sameFile(out, other)) throw new CompileError(`${flag} ${out}: would overwrite ${what}, ${other} — write to another file`);
}
