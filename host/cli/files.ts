/**
 * The files a command writes (compile's -o and --plain, run's --trace and
 * --save, viz's -o), checked before any work is done so that a path that
 * cannot be written never costs a finished run its output:
 *
 * - one that is its own input (compile's -o or --plain naming the source,
 *   --save naming the program, viz's -o naming the trace) would destroy
 *   what the user asked to read; two outputs naming one file would leave
 *   only the last written — refused;
 * - one that cannot be written (a folder, a path through a file, no
 *   permission) is refused in one line, exit status 2 (checkOutput);
 * - a missing folder on the way to it is created when it is written (as
 *   `compile -o build/x.wasm` always did), the same for every output
 *   (writeOutput).
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
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

/**
 * Throws a CompileError naming `flag` and `out` if `out` could not be
 * written later: a folder, a path through a file, no permission on it or on
 * the nearest folder that exists on its way. Creates and writes nothing, so
 * a command refused later for another reason leaves no trace.
 */
export function checkOutput(flag: string, out: string): void {
  const cannot = (code: string | undefined, why = "") =>
    new CompileError(`${flag} ${out}: cannot write (${code ?? "unknown error"}${why}) — name a file in a folder you can write to`);
  let path = resolve(out);
  for (;;) {
    let st;
    try {
      st = statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" || dirname(path) === path) throw cannot(code);
      path = dirname(path); // not there yet: writeOutput makes it, in the nearest folder that is
      continue;
    }
    if (path === resolve(out) && st.isDirectory()) throw cannot("EISDIR", ": a folder");
    if (path !== resolve(out) && !st.isDirectory()) throw cannot("ENOTDIR", `: ${path} is a file`);
    try {
      accessSync(path, constants.W_OK);
    } catch (e) {
      throw cannot((e as NodeJS.ErrnoException).code);
    }
    return;
  }
}

/** Writes an output checked by checkOutput, making its folder first if it is missing. */
export async function writeOutput(out: string, data: Uint8Array | string): Promise<void> {
  await makeFolders(dirname(resolve(out)));
  await writeFile(out, data);
}

/**
 * Makes `dir` and the folders missing on the way to it, one at a time from
 * the nearest that exists. Not mkdir's `recursive`: Node 20's spins for ever
 * on a folder that cannot be made in one that exists (/proc/x: ENOENT), and
 * popcorn with it, at 100 % CPU after the run it was to save.
 */
async function makeFolders(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e; // made meanwhile: as good
    });
  }
}
