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

/** What the file system says of a path the user gave: shown as one line, exit status 2. */
const FILE_ERRORS = new Set(["ENOENT", "EISDIR", "ENOTDIR", "EEXIST", "EACCES", "EPERM", "EROFS", "ENOSPC", "ENAMETOOLONG"]);

export function fail(e: unknown): number {
  if (e instanceof ProcessError) {
    process.stderr.write(`popcorn: ${e.message}\n`);
    return 1;
  }
  if (USER_ERRORS.some((c) => e instanceof c)) {
    process.stderr.write(`popcorn: ${(e as Error).message}\n`);
    return 2;
  }
  const err = e as NodeJS.ErrnoException;
  if (err?.code && err.syscall && err.path !== undefined && FILE_ERRORS.has(err.code)) {
    // a file the user named that cannot be read or written
    process.stderr.write(`popcorn: ${err.path}: cannot ${err.syscall} (${err.code})\n`);
    return 2;
  }
  if (err?.code === "ECONNREFUSED" || err?.code === "EADDRINUSE" || err?.code === "EACCES" || err?.code === "EADDRNOTAVAIL") {
    process.stderr.write(`popcorn: ${err.message}\n`);
    return 2;
  }
  if (e instanceof WebAssembly.CompileError || e instanceof WebAssembly.LinkError) {
    process.stderr.write(`popcorn: not a module popcorn can load: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`popcorn: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return 2;
}
