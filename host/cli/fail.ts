/** One line on stderr for an error a user can act on; a stack only for popcorn's own bugs. */
import { CompileError, SitesFormatError, StackmapFormatError } from "../toolchain/index.js";
import { ImageError, KernelError, ProcessError, ProgramError, RemoteError } from "../kernel/index.js";
import { UnknownIsaError } from "../isa/index.js";
import { AuthError, ConfigError, MessageError, TransportError } from "../msg/index.js";

/** Errors whose message names the thing and the fix: shown as they are, exit status 2. */
const USER_ERRORS = [
  CompileError, ProgramError, ImageError, SitesFormatError, StackmapFormatError, UnknownIsaError,
  KernelError, RemoteError, ConfigError, AuthError, TransportError, MessageError,
];

export function fail(e: unknown): number {
  if (e instanceof ProcessError) {
    process.stderr.write(`popcorn: ${e.message}\n`);
    return 1;
  }
  if (USER_ERRORS.some((c) => e instanceof c)) {
    process.stderr.write(`popcorn: ${(e as Error).message}\n`);
    return 2;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ECONNREFUSED" || code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") {
    process.stderr.write(`popcorn: ${(e as Error).message}\n`);
    return 2;
  }
  process.stderr.write(`popcorn: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 2;
}
