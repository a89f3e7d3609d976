/** One line on stderr for an error a user can act on; a stack only for popcorn's own bugs. */
import { CompileError, SitesFormatError } from "../toolchain/index.js";
import { ImageError, ProcessError, ProgramError } from "../kernel/index.js";

export function fail(e: unknown): number {
  if (e instanceof ProcessError) {
    process.stderr.write(`popcorn: ${e.message}\n`);
    return 1;
  }
  if (e instanceof CompileError || e instanceof ProgramError || e instanceof ImageError || e instanceof SitesFormatError) {
    process.stderr.write(`popcorn: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`popcorn: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 2;
}
