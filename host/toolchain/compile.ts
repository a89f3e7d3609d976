/**
 * `popcorn compile`: AssemblyScript source (or an asc-built .wasm) to an
 * instrumented, linked program with its `popcorn.sites` section.
 *
 *   prog.ts --asc--> plain.wasm --link--> linked --instrument--> + popcorn.sites
 *                                                         --backends--> + popcorn.stackmap.<isa> --> prog.wasm
 *
 * The backends (one per ISA profile) live in host/isa, a layer above this
 * one: the caller hands them in (`stackmapBackends()`).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import binaryen from "binaryen";
import { GUEST_MODULE, RESERVED_END, SITES_SECTION, SYS_IMPORT } from "./abi.js";
import { type InstrumentResult, instrument } from "./instrument/index.js";
import { ALL_POINTS, CompileError, type CompileOptions, type PointKind } from "./options.js";
import { link } from "./link.js";
import { guestLibDir } from "./paths.js";
import { SITES_VERSION, encodeSites, type SiteKind, type SiteTable } from "./sites.js";
import { isWasm, wasmModule, withFunctionNames } from "./wasmbin.js";

const B = binaryen;

export interface CompileResult {
  /** asc's output, uninstrumented: what a plain run executes */
  plain: Uint8Array;
  /** linked and instrumented, with popcorn.sites */
  wasm: Uint8Array;
  moduleHash: Uint8Array;
  instrument: InstrumentResult;
  summary: CompileSummary;
}

export interface CompileSummary {
  functions: { instrumented: number; total: number };
  sites: Record<SiteKind, number>;
  bytes: { plain: number; instrumented: number };
  refused: { func: string; reason: string }[];
}


/** The node_modules folders of `dir` and of every folder above it, nearest first. */
function packageFolders(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "node_modules"))) out.push(join(d, "node_modules"));
    if (dirname(d) === d) return out;
  }
}

/** asc options compileAssemblyScript sets itself (its `args`), or popcorn has a flag of its own for: refused in opts.ascArgs. */
const ASC_SET_BY_POPCORN = [
  "--outFile", "-o", "--memoryBase", "--exportStart", "--runtime", "--optimizeLevel", "--optimize", "-O", "--baseDir", "--lib", "--path", "--debug",
];

/** Throws naming the first of `ascArgs` that popcorn sets itself. */
function refuseAscArgsPopcornSets(ascArgs: string[]): void {
  for (const a of ascArgs) {
    const name = a.split("=")[0]!;
    if (ASC_SET_BY_POPCORN.includes(name) || /^-O\d/.test(name)) {
      throw new CompileError(`asc option ${name} after --: popcorn sets it itself (use popcorn's own -o, -O and --runtime) — leave it out`);
    }
  }
}

/** Compiles AssemblyScript source with asc's API; returns the plain module. */
export async function compileAssemblyScript(file: string, opts: CompileOptions = {}): Promise<Uint8Array> {
  refuseAscArgsPopcornSets(opts.ascArgs ?? []);
  const asc = (await import("assemblyscript/asc")).default;
  let out: Uint8Array | undefined;
  let errors = "";
  const stderr = { write: (s: string | Uint8Array) => ((errors += typeof s === "string" ? s : Buffer.from(s).toString()), true) };
  const stdout = { write: () => true };
  const args = [
    // from the program's own folder: asc names functions by their file's path from its base folder, so a program's
    // names (fib/fib) do not depend on where popcorn runs
    basename(file),
    "--baseDir", dirname(resolve(file)),
    // packages are looked up from the program's folder up, as Node does — asc alone looks from where popcorn runs
    ...packageFolders(dirname(resolve(file))).flatMap((d) => ["--path", d]),
    "--lib", guestLibDir(),
    `-O${opts.optimizeLevel ?? 3}`,
    "--exportStart", "_start",
    "--memoryBase", String(RESERVED_END),
    "--runtime", opts.runtime ?? "incremental",
    "--outFile", "program.wasm",
    "--debug", // keeps the name section: sites name their functions and locals
    ...(opts.ascArgs ?? []),
  ];
  const { error } = await asc.main(args, {
    stdout,
    stderr,
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name.endsWith(".wasm") && typeof contents !== "string") out = contents;
    },
  } as never);
  if (error || !out) {
    throw new CompileError(`${file}: AssemblyScript compilation failed\n${errors.trim() || String(error)}`);
  }
  // asc only warns of an option it does not know (a typo after `popcorn compile … --`), and would compile without it
  const unknown = /Unknown option '([^']*)'/.exec(errors);
  if (unknown) throw new CompileError(`${file}: asc does not know the option ${unknown[1]} — see \`npx asc --help\` for its options`);
  return out;
}

/**
 * A program that uses threads (it imports the syscall) needs explicit points:
 * a syscall the kernel cannot complete at once stops the thread at the
 * checkMigrate() that follows it (assembly/popcorn/threads.ts), and is
 * resumed there with the call's result. Without that point the call returned
 * a stale result, silently: workers that never ran, a heap that broke.
 */
function refuseThreadsWithoutExplicit(plain: Uint8Array, where: string, points: Set<PointKind>): void {
  if (points.has("explicit")) return;
  if (!WebAssembly.Module.imports(wasmModule(plain)).some((i) => i.module === GUEST_MODULE && i.name === SYS_IMPORT)) return;
  const given = [...points].join(",");
  throw new CompileError(
    `${where}: it uses threads, whose syscalls stop at explicit points, and --points ${given} leaves them out — add explicit (--points ${given ? `${given},` : ""}explicit)`,
  );
}

/** Link + instrument an asc-built module. */
export function instrumentWasm(plain: Uint8Array, where: string, opts: CompileOptions = {}): Omit<CompileResult, "plain"> {
  if (!isWasm(plain)) throw new CompileError(`${where}: not a WebAssembly module (bad magic number)`);
  let module: WebAssembly.Module;
  try {
    module = wasmModule(plain);
  } catch (e) {
    // as loadProgram words it (kernel/program.ts): the file, then what V8 found wrong
    throw new CompileError(`${where}: invalid WebAssembly module (${(e as Error).message})`);
  }
  if (WebAssembly.Module.customSections(module, SITES_SECTION).length) {
    throw new CompileError(`${where}: already instrumented (it has a ${SITES_SECTION} section) — compile the plain module or the source`);
  }
  // asc without --debug leaves no name section: name functions by their exports, not their indices
  const m = B.readBinary(withFunctionNames(plain));
  B.setDebugInfo(true); // keep the name section: traps and sites name their functions
  try {
    m.setFeatures(TARGET_FEATURES);
    checkFeatures(m, where);
    link(m, plain, where);
    const points = new Set<PointKind>(opts.points ?? ALL_POINTS);
    refuseThreadsWithoutExplicit(plain, where, points);
    const result = instrument(m, { points, optimizeLevel: opts.optimizeLevel ?? 3, shrinkLevel: opts.shrinkLevel ?? 0 });
    const code = m.emitBinary();
    const moduleHash = createHash("sha256").update(code).digest();
    const table: SiteTable = { version: SITES_VERSION, moduleHash, functions: result.functions, sites: result.sites };
    m.addCustomSection(SITES_SECTION, encodeSites(table));
    for (const b of opts.backends ?? []) m.addCustomSection(b.section, b.layout(table));
    const wasm = m.emitBinary();
    const sites = { entry: 0, loop: 0, call: 0, explicit: 0 } as Record<SiteKind, number>;
    for (const s of result.sites) sites[s.kind]++;
    return {
      wasm,
      moduleHash,
      instrument: result,
      summary: {
        functions: { instrumented: result.functions.length, total: result.totalFunctions },
        sites,
        bytes: { plain: plain.length, instrumented: wasm.length },
        refused: result.refused,
      },
    };
  } catch (e) {
    // link's and the pass's errors may name the file already
    if (e instanceof Error && !(e instanceof CompileError)) throw new CompileError(e.message.startsWith(`${where}: `) ? e.message : `${where}: ${e.message}`);
    throw e;
  } finally {
    m.dispose();
  }
}

/** What the pass and binaryen's optimizer may use: what Node 18/20 run without flags. */
const TARGET_FEATURES =
  B.Features.MVP | B.Features.MutableGlobals | B.Features.SignExt | B.Features.NontrappingFPToInt |
  B.Features.BulkMemory | B.Features.BulkMemoryOpt | B.Features.SIMD128 | B.Features.Atomics |
  B.Features.ReferenceTypes;

/** Names of the features TARGET_FEATURES leaves out, by binaryen's bit: what a refused module is told it uses. */
const OTHER_FEATURES = Object.entries(B.Features as unknown as Record<string, number>).filter(
  ([name, bit]) => name !== "All" && name !== "MVP" && !(TARGET_FEATURES & bit),
);

/** Runs `f` with binaryen's validator log (printed on stderr by the Emscripten runtime) held back. */
function quietly<T>(f: () => T): T {
  const write = process.stderr.write;
  const { error, warn, log } = console;
  process.stderr.write = () => true;
  console.error = console.warn = console.log = () => {};
  try {
    return f();
  } finally {
    process.stderr.write = write;
    Object.assign(console, { error, warn, log });
  }
}

/**
 * A module that uses a feature the pass does not target (multivalue, GC,
 * exceptions, …: another toolchain's output) is refused naming the feature,
 * before the pass would make a module that does not validate.
 */
function checkFeatures(m: binaryen.Module, where: string): void {
  if (quietly(() => m.validate())) return;
  const used = OTHER_FEATURES.filter(([, bit]) => {
    m.setFeatures(TARGET_FEATURES | bit);
    return quietly(() => m.validate());
  }).map(([name]) => name.toLowerCase());
  m.setFeatures(B.Features.All);
  const valid = used.length > 0 || quietly(() => m.validate());
  m.setFeatures(TARGET_FEATURES);
  if (!valid) throw new CompileError(`${where}: not a valid WebAssembly module (binaryen's validator refuses it) — rebuild it with asc`);
  throw new CompileError(
    `${where}: uses WebAssembly ${used.length ? used.join(" or ") : "features"} beyond what popcorn instruments ` +
      "(MVP, mutable-globals, sign-ext, nontrapping-fptoint, bulk-memory, simd128, atomics, reference-types) — rebuild it without them",
  );
}

/**
 * Reads a program: a module (by its magic number, whatever its name) is
 * instrumented as it is; anything else is AssemblyScript source, which asc
 * reads only from a file named *.ts (it looks for "<name>.ts" otherwise).
 */
export async function compile(file: string, opts: CompileOptions = {}): Promise<CompileResult> {
  if (opts.ascArgs?.length && !file.endsWith(".ts")) {
    throw new CompileError(`${file}: asc options after -- (${opts.ascArgs.join(" ")}) apply to a .ts — a .wasm is already compiled: give them to asc when you build it`);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (e) {
    throw new CompileError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!isWasm(bytes) && !file.endsWith(".wasm") && !file.endsWith(".ts")) {
    // hello.TS or hello may be source under another name; README.md or fib.img is not a program at all
    if (/\.[^./]+$/.test(file) && !/\.ts$/i.test(file)) {
      throw new CompileError(`${file}: not a program — popcorn compile takes AssemblyScript source (*.ts) or a WebAssembly module (*.wasm, from asc)`);
    }
    throw new CompileError(`${file}: not a WebAssembly module, and AssemblyScript source must be named *.ts — rename it to ${file.replace(/\.[^./]*$/, "")}.ts`);
  }
  const plain = isWasm(bytes) || file.endsWith(".wasm") ? bytes : await compileAssemblyScript(file, opts);
  return { plain, ...instrumentWasm(plain, file, opts) };
}
