/**
 * The host side of the guest library (assembly/popcorn/index.ts): module
 * "popcorn", and the "env" imports AssemblyScript programs use — abort,
 * trace, seed, and the standard library's console (log, info and debug to
 * stdout; warn, error and a failed assert to stderr, as Node's console;
 * not time/timeLog/timeEnd, whose timers a migration would leave behind),
 * and Date.now.
 * An import the program needs and popcorn does not provide is named at load.
 */
import { CHECK_MIGRATE, GUEST_MODULE, RT_MODULE } from "../toolchain/index.js";
import type { Program } from "./program.js";
import { ProgramError } from "./program.js";

export interface GuestHost {
  memory(): WebAssembly.Memory;
  args: string[];
  kernel: { id: number; isa: string; count: number };
  stdout(line: string): void;
  stderr(line: string): void;
  requestMigration(to: number): void;
  /** this thread's id (0: main) */
  tid: number;
  /** a syscall (toolchain/abi.ts SYS_*): 1 if done, 0 if the thread is to stop at its next point */
  sys(call: { op: number; a: number; b: number; c: number }): number;
  sysResult(): number;
  /** the first value of the program's shadow-stack pointer (the top of main's shadow stack), if it has one */
  shadowStackTop(): number | undefined;
}

const STR_ARG = 0;
const STR_ISA = 1;

/** An AssemblyScript string object at `ptr` (its byte length is stored at ptr - 4). */
export function readAsString(mem: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return "null";
  const bytes = new Uint8Array(mem.buffer);
  const len = new DataView(mem.buffer).getUint32(ptr - 4, true);
  return Buffer.from(bytes.buffer, ptr, len).toString("utf16le");
}

/** AssemblyScript's class id of String (Object 0, ArrayBuffer 1, String 2), at ptr - 8 of every string. */
const STRING_ID = 2;

/** The string at `ptr` if a String object is there (its header: class id at ptr - 8, byte length at ptr - 4), else undefined. */
function stringAt(mem: WebAssembly.Memory, ptr: number): string | undefined {
  const size = mem.buffer.byteLength;
  if (ptr < 8 || ptr > size) return undefined;
  const view = new DataView(mem.buffer);
  const len = view.getUint32(ptr - 4, true);
  if (view.getUint32(ptr - 8, true) !== STRING_ID || len % 2 || len > size - ptr) return undefined;
  return Buffer.from(mem.buffer, ptr, len).toString("utf16le");
}

/**
 * What an abort says. asc 0.28's shadow-stack check (~stack_check, with the
 * incremental runtime: the stack of managed references, between the static
 * data and the stack pointer's first value) aborts with a message and a
 * file name it never stores: pointers past the static data, to no string.
 * Every other abort's strings are there.
 */
function abortText(program: Program, host: GuestHost, msg: number, file: number, line: number, col: number): string {
  const m = host.memory();
  // abort() and assert(false) pass no message (null), abort() no file either: left out, not printed "null at null:0:0"
  const text = msg ? stringAt(m, msg) : "";
  const from = file ? stringAt(m, file) : "";
  if (text !== undefined && from !== undefined) return `abort${text ? `: ${text}` : ""}${from ? ` at ${from}:${line}:${col}` : ""}`;
  const top = host.shadowStackTop();
  if (text === undefined && from === undefined && top !== undefined && msg >= top && file >= top) {
    return (
      "stack overflow: the program's shadow stack (AssemblyScript's, for managed references) is full — recurse less deep, " +
      "or give it more room: popcorn compile <file.ts> -- --stackSize <bytes> (32768 by default with the incremental runtime)"
    );
  }
  return `abort with a message popcorn cannot read (no string at ${text === undefined ? msg : file})`;
}

export function guestImports(program: Program, host: GuestHost): WebAssembly.Imports {
  const hostString = (kind: number, i: number): string => (kind === STR_ISA ? host.kernel.isa : host.args[i] ?? "");
  const popcorn: Record<string, (...a: number[]) => unknown> = {
    print: (ptr, len) => host.stdout(Buffer.from(host.memory().buffer, ptr, len * 2).toString("utf16le")),
    str_len: (kind, i) => (kind === STR_ARG && i === -1 ? host.args.length : hostString(kind!, i!).length),
    str_copy: (kind, i, ptr) => {
      const s = hostString(kind!, i!);
      Buffer.from(host.memory().buffer).write(s, ptr!, s.length * 2, "utf16le");
    },
    current_kernel: () => host.kernel.id,
    kernel_count: () => host.kernel.count,
    migrate_request: (to) => host.requestMigration(to!),
    [CHECK_MIGRATE]: () => {}, // a no-op when uninstrumented; the pass replaces it otherwise
    sys: (op, a, b, c) => host.sys({ op: op!, a: a!, b: b!, c: c! }),
    sys_result: () => host.sysResult(),
    current_thread: () => host.tid,
    thread_alloc: () => {
      throw new ProgramError(
        `${program.name}: allocated memory — only the main thread may allocate: ` +
          `allocate what a thread needs in main before Thread.spawn and pass it in`,
      );
    },
  };
  const env: Record<string, (...a: number[]) => unknown> = {
    abort: (msg, file, line, col) => {
      // the guest's functions too: an abort in the standard library (an index out of range) names where it was called
      throw new ProgramError(`${program.name}: ${abortText(program, host, msg!, file!, line!, col!)}${wasmFrames(new Error())}`);
    },
    seed: () => 0x5eed,
    "Date.now": () => Date.now(), // the kernel's clock: kernels on other machines may differ by their clocks' skew
    trace: (msg, n, ...a) => host.stdout(`trace: ${readAsString(host.memory(), msg!)} ${a.slice(0, n).join(", ")}`),
    "console.assert": (ok, msg) => {
      if (ok) return;
      const text = readAsString(host.memory(), msg!);
      host.stderr(text ? `Assertion failed: ${text}` : "Assertion failed");
    },
  };
  const say = (to: (line: string) => void) => (msg: number) => to(readAsString(host.memory(), msg));
  for (const name of ["log", "info", "debug"]) env[`console.${name}`] = say((l) => host.stdout(l));
  for (const name of ["warn", "error"]) env[`console.${name}`] = say((l) => host.stderr(l));
  const provided: Record<string, Record<string, unknown>> = { [GUEST_MODULE]: popcorn, env };
  const imports: WebAssembly.Imports = {};
  for (const imp of WebAssembly.Module.imports(program.module)) {
    if (imp.module === RT_MODULE || imp.kind === "memory") continue; // the process supplies these
    const f = provided[imp.module]?.[imp.name];
    if (f === undefined) {
      const hint = imp.module === "env" && imp.name.startsWith("console.") ? " (popcorn provides console.log, info, debug, warn, error and assert, and Date.now)" : "";
      throw new ProgramError(`${program.name}: imports ${imp.module}.${imp.name}, which popcorn does not provide${hint}`);
    }
    (imports[imp.module] ??= {})[imp.name] = f as WebAssembly.ImportValue;
  }
  return imports;
}

/** " in f <- g <- main" from a stack (a trap's, or taken in an import the guest called), innermost first. */
export function wasmFrames(e: Error): string {
  const names = (e.stack ?? "")
    .split("\n")
    .map((l) => /at (\S+) \(wasm:\/\//.exec(l)?.[1])
    .filter((n): n is string => !!n);
  return names.length ? ` in ${names.slice(0, 8).join(" <- ")}` : "";
}
