/**
 * `popcorn bench overhead`: what the migration points cost when no migration
 * happens — the fast path — against the uninstrumented program and against
 * binaryen's Asyncify placing the same points (DESIGN.md, decision 1).
 *
 * For each example program's compute kernel (hello has none), four builds:
 *
 *   plain          asc's output, uninstrumented
 *   linked         plain through popcorn's link step only: the instrumented
 *                  build carries the link too, and it can change speed by
 *                  itself (`instr/linked` is the pass's own cost)
 *   instrumented   `popcorn compile` (link + popcorn's pass)
 *   asyncify       link + a call of popcorn.check_migrate at every migration
 *                  point of the pass + binaryen's asyncify pass, -O3
 *                  (bench/asyncify.ts); the import is a no-op
 *   asyncify+guard the same, with each call behind popcorn's one-load check
 *                  of the control word, so the import is never called
 *
 * Method. All builds run in this one process. Each run is a fresh instance
 * (memory initialized, start function run), and only `main()` is timed. V8
 * compiles Wasm with Liftoff first and tiers hot functions up to TurboFan;
 * a function that is entered once per run (main) switches to TurboFan code
 * only at its next call, so every build first runs `warmup` times. Then the
 * builds run in rounds, interleaved in rotating order (round r starts with
 * build r mod 4), so that drift and background load hit them alike; the
 * figure of a build is the median of its `reps` times, and a ratio is
 * median / median. Means over programs are geometric.
 *
 * Every run's output must equal the plain build's output: a mismatch throws.
 *
 * Code size compares the modules with all custom sections removed (names,
 * popcorn.sites): what the engine has to load. The code section alone is
 * reported too (`codeSize*`), as that is where instrumentation grows code;
 * the whole-module figure also holds what `link` adds (an export per global,
 * the memory-init function), which the instrumented and Asyncify builds
 * both carry.
 */
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { type Program, loadProgram, Process } from "../host/kernel/index.js";
import { type Runtime, compile, packageRoot } from "../host/toolchain/index.js";
import { asyncifyWasm, linkedWasm } from "./asyncify.js";
import { geomean, median, relativeMad, round } from "./stats.js";

export interface OverheadOptions {
  /** print one JSON object instead of the table */
  json?: boolean;
  /** small sizes and few repetitions: a smoke test of a few seconds */
  quick?: boolean;
  /** progress lines (the CLI sends them to stderr) */
  log?: (line: string) => void;
  /** where the table or the JSON goes (default: stdout) */
  print?: (text: string) => void;
  /** run only these programs (default: all) */
  programs?: string[];
  /** override the number of timed runs per build */
  reps?: number;
  /** override the number of warm-up runs per build */
  warmup?: number;
}

export type Variant = "plain" | "linked" | "instrumented" | "asyncify" | "asyncifyGuarded";
export const VARIANTS: readonly Variant[] = ["plain", "linked", "instrumented", "asyncify", "asyncifyGuarded"];

export interface ProgramOverhead {
  program: string;
  args: string[];
  runtime: Runtime;
  /** median time of main(), ms */
  ms: Record<Variant, number>;
  /** median absolute deviation / median of each build's times (run-to-run noise) */
  noise: Record<Variant, number>;
  /** instrumented / plain, median over median */
  instrumented: number;
  /** linked / plain: the link step alone */
  linked: number;
  /** instrumented / linked: the pass alone */
  overLinked: number;
  asyncify: number;
  asyncifyGuarded: number;
  /** bytes without custom sections */
  bytes: Record<Variant, number>;
  /** bytes of the code section */
  codeBytes: Record<Variant, number>;
  sizeRatio: number;
  asyncifySizeRatio: number;
  codeSizeRatio: number;
  asyncifyCodeSizeRatio: number;
  /** migration points placed (the same in the instrumented and Asyncify builds) */
  points: { entry: number; loop: number; explicit: number };
  /** call sites of the instrumented build (popcorn's pass resumes at these too) */
  callSites: number;
}

export interface OverheadReport {
  benchmark: "overhead";
  quick: boolean;
  warmup: number;
  reps: number;
  node: string;
  /** geometric mean over programs of instrumented/plain time */
  geomean: number;
  /** geometric mean of linked/plain time: the link step's own effect */
  linkedGeomean: number;
  /** geometric mean of instrumented/linked time: the pass's own cost */
  overLinkedGeomean: number;
  asyncifyGeomean: number;
  asyncifyGuardedGeomean: number;
  /** geometric mean of instrumented/plain size (without custom sections) */
  sizeRatio: number;
  asyncifySizeRatio: number;
  codeSizeRatio: number;
  asyncifyCodeSizeRatio: number;
  /** the program with the largest instrumented/plain time ratio */
  worst: { program: string; ratio: number };
  programs: ProgramOverhead[];
  /** wall time of the whole benchmark, seconds */
  seconds: number;
}

interface BenchProgram {
  name: string;
  runtime: Runtime;
  /** sized so that one plain run of main takes ~20–40 ms here (2 cores, TurboFan) */
  args: string[];
  quickArgs: string[];
}

/** The example programs' compute kernels and their sizes. */
export const PROGRAMS: readonly BenchProgram[] = [
  { name: "count", runtime: "stub", args: ["30000000"], quickArgs: ["1000000"] },
  { name: "fib", runtime: "stub", args: ["33", "1000"], quickArgs: ["22", "500"] },
  { name: "matmul", runtime: "stub", args: ["300"], quickArgs: ["60"] },
  { name: "quicksort", runtime: "stub", args: ["350000"], quickArgs: ["20000"] },
  { name: "strings", runtime: "incremental", args: ["18000", "8"], quickArgs: ["1000", "8"] },
  { name: "indirect", runtime: "stub", args: ["200000", "200000"], quickArgs: ["20000", "10000"] },
  // npmpkg allocates a fresh buffer per length and round: with the stub
  // runtime (no freeing) every run grows memory by megabytes and its time
  // swings by ±40 % with page faults; the incremental runtime reuses memory.
  { name: "npmpkg", runtime: "incremental", args: ["200", "25"], quickArgs: ["64", "4"] },
];

const KERNEL = { id: 0, isa: "x86-64", count: 1 };

export class OverheadError extends Error {}

/** One timed run of main() in a fresh instance; returns the time and the output. */
function runOnce(program: Program, args: string[]): { ms: number; out: string; status: number } {
  const lines: string[] = [];
  const p = new Process(program, {
    args,
    kernel: KERNEL,
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(`stderr: ${l}`),
  });
  p.boot();
  const t0 = performance.now();
  const status = p.run();
  const ms = performance.now() - t0;
  if (status === undefined) throw new OverheadError(`${program.name}: stopped at a capture, none was asked for`);
  return { ms, out: lines.join("\n"), status };
}

export async function benchOverhead(opts: OverheadOptions = {}): Promise<OverheadReport> {
  const started = performance.now();
  const log = opts.log ?? ((l: string) => process.stderr.write(l + "\n"));
  const print = opts.print ?? ((t: string) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"));
  const quick = opts.quick ?? false;
  const warmup = opts.warmup ?? (quick ? 1 : 6);
  const reps = opts.reps ?? (quick ? 3 : 21);
  const wanted = opts.programs;
  const list = wanted ? PROGRAMS.filter((p) => wanted.includes(p.name)) : [...PROGRAMS];
  const unknown = (wanted ?? []).filter((w) => !PROGRAMS.some((p) => p.name === w));
  if (unknown.length) {
    throw new OverheadError(`no benchmark program ${unknown.join(", ")} (have ${PROGRAMS.map((p) => p.name).join(", ")})`);
  }

  const programs: ProgramOverhead[] = [];
  for (const bp of list) {
    const args = quick ? bp.quickArgs : bp.args;
    const file = join(packageRoot(), "assembly", "examples", `${bp.name}.ts`);
    log(`overhead: ${bp.name}: building plain, instrumented, asyncify, asyncify+guard`);
    const t0 = performance.now();
    const built = await compile(file, { runtime: bp.runtime });
    const t1 = performance.now();
    const asy = asyncifyWasm(built.plain, file);
    const linked = linkedWasm(built.plain, file);
    const asyG = asyncifyWasm(built.plain, file, { guard: true });
    log(
      `overhead: ${bp.name}: built in ${((t1 - t0) / 1000).toFixed(1)} s (asc + popcorn's pass), ` +
        `${((performance.now() - t1) / 1000).toFixed(1)} s (two Asyncify builds); running ${args.join(" ")}`,
    );
    const wasm: Record<Variant, Uint8Array> = {
      plain: built.plain,
      linked,
      instrumented: built.wasm,
      asyncify: asy.wasm,
      asyncifyGuarded: asyG.wasm,
    };
    const loaded = Object.fromEntries(VARIANTS.map((v) => [v, loadProgram(wasm[v], `${bp.name} (${v})`)])) as Record<
      Variant,
      Program
    >;

    // Reference output, and the warm-up (interleaved too, so all builds tier up alike).
    const reference = runOnce(loaded.plain, args);
    const check = (v: Variant, r: { out: string; status: number }): void => {
      if (r.out !== reference.out || r.status !== reference.status) {
        throw new OverheadError(
          `${bp.name}: the ${v} build's output differs from the plain build's\n` +
            `--- plain (status ${reference.status})\n${reference.out}\n--- ${v} (status ${r.status})\n${r.out}`,
        );
      }
    };
    for (let i = 0; i < warmup; i++) for (const v of VARIANTS) check(v, runOnce(loaded[v], args));

    const times: Record<Variant, number[]> = { plain: [], linked: [], instrumented: [], asyncify: [], asyncifyGuarded: [] };
    for (let r = 0; r < reps; r++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const v = VARIANTS[(r + k) % VARIANTS.length]!;
        const res = runOnce(loaded[v], args);
        check(v, res);
        times[v].push(res.ms);
      }
    }

    const ms = mapVariants((v) => median(times[v]));
    const bytes = mapVariants((v) => stripCustomSections(wasm[v]).length);
    const codeBytes = mapVariants((v) => sectionSize(wasm[v], CODE_SECTION));
    const result: ProgramOverhead = {
      program: bp.name,
      args,
      runtime: bp.runtime,
      ms,
      noise: mapVariants((v) => relativeMad(times[v])),
      instrumented: ms.instrumented / ms.plain,
      linked: ms.linked / ms.plain,
      overLinked: ms.instrumented / ms.linked,
      asyncify: ms.asyncify / ms.plain,
      asyncifyGuarded: ms.asyncifyGuarded / ms.plain,
      bytes,
      codeBytes,
      sizeRatio: bytes.instrumented / bytes.plain,
      asyncifySizeRatio: bytes.asyncify / bytes.plain,
      codeSizeRatio: codeBytes.instrumented / codeBytes.plain,
      asyncifyCodeSizeRatio: codeBytes.asyncify / codeBytes.plain,
      points: asy.points,
      callSites: built.summary.sites.call,
    };
    const pointSites = built.summary.sites;
    if (pointSites.entry !== asy.points.entry || pointSites.loop !== asy.points.loop) {
      throw new OverheadError(
        `${bp.name}: the Asyncify build has ${asy.points.entry} entry and ${asy.points.loop} loop points, ` +
          `popcorn's pass ${pointSites.entry} and ${pointSites.loop} — they must be the same places`,
      );
    }
    programs.push(result);
    log(
      `overhead: ${bp.name}: plain ${ms.plain.toFixed(1)} ms, instrumented ×${result.instrumented.toFixed(2)}, ` +
        `asyncify ×${result.asyncify.toFixed(2)}, asyncify+guard ×${result.asyncifyGuarded.toFixed(2)}`,
    );
  }
  if (!programs.length) throw new OverheadError("no programs to measure");

  let worst = programs[0]!;
  for (const p of programs) if (p.instrumented > worst.instrumented) worst = p;
  const report: OverheadReport = {
    benchmark: "overhead",
    quick,
    warmup,
    reps,
    node: process.version,
    geomean: geomean(programs.map((p) => p.instrumented)),
    linkedGeomean: geomean(programs.map((p) => p.linked)),
    overLinkedGeomean: geomean(programs.map((p) => p.overLinked)),
    asyncifyGeomean: geomean(programs.map((p) => p.asyncify)),
    asyncifyGuardedGeomean: geomean(programs.map((p) => p.asyncifyGuarded)),
    sizeRatio: geomean(programs.map((p) => p.sizeRatio)),
    asyncifySizeRatio: geomean(programs.map((p) => p.asyncifySizeRatio)),
    codeSizeRatio: geomean(programs.map((p) => p.codeSizeRatio)),
    asyncifyCodeSizeRatio: geomean(programs.map((p) => p.asyncifyCodeSizeRatio)),
    worst: { program: worst.program, ratio: worst.instrumented },
    programs,
    seconds: (performance.now() - started) / 1000,
  };
  const rounded = roundReport(report);
  print(opts.json ? JSON.stringify(rounded, null, 2) : formatOverhead(rounded));
  return rounded;
}

function mapVariants(f: (v: Variant) => number): Record<Variant, number> {
  return { plain: f("plain"), linked: f("linked"), instrumented: f("instrumented"), asyncify: f("asyncify"), asyncifyGuarded: f("asyncifyGuarded") };
}

/** Ratios to 3 decimals, times to 0.01 ms: JSON that reads well and diffs well. */
function roundReport(r: OverheadReport): OverheadReport {
  const v = (rec: Record<Variant, number>, d: number) => mapVariants((k) => round(rec[k], d));
  return {
    ...r,
    geomean: round(r.geomean),
    linkedGeomean: round(r.linkedGeomean),
    overLinkedGeomean: round(r.overLinkedGeomean),
    asyncifyGeomean: round(r.asyncifyGeomean),
    asyncifyGuardedGeomean: round(r.asyncifyGuardedGeomean),
    sizeRatio: round(r.sizeRatio),
    asyncifySizeRatio: round(r.asyncifySizeRatio),
    codeSizeRatio: round(r.codeSizeRatio),
    asyncifyCodeSizeRatio: round(r.asyncifyCodeSizeRatio),
    worst: { program: r.worst.program, ratio: round(r.worst.ratio) },
    seconds: round(r.seconds, 1),
    programs: r.programs.map((p) => ({
      ...p,
      ms: v(p.ms, 2),
      noise: v(p.noise, 3),
      instrumented: round(p.instrumented),
      linked: round(p.linked),
      overLinked: round(p.overLinked),
      asyncify: round(p.asyncify),
      asyncifyGuarded: round(p.asyncifyGuarded),
      sizeRatio: round(p.sizeRatio),
      asyncifySizeRatio: round(p.asyncifySizeRatio),
      codeSizeRatio: round(p.codeSizeRatio),
      asyncifyCodeSizeRatio: round(p.asyncifyCodeSizeRatio),
    })),
  };
}

/** The report as a text table (what `popcorn bench overhead` prints without --json). */
export function formatOverhead(r: OverheadReport): string {
  const x = (n: number) => `×${n.toFixed(2)}`;
  const header = ["program", "plain ms", "instrumented", "linked", "instr/linked", "asyncify", "asyncify+guard", "size instr", "size asyncify", "noise"];
  const rows = r.programs.map((p) => [
    p.program,
    p.ms.plain.toFixed(1),
    x(p.instrumented),
    x(p.linked),
    x(p.overLinked),
    x(p.asyncify),
    x(p.asyncifyGuarded),
    x(p.sizeRatio),
    x(p.asyncifySizeRatio),
    `${(Math.max(...Object.values(p.noise)) * 100).toFixed(1)}%`,
  ]);
  rows.push([
    "geomean",
    "",
    x(r.geomean),
    x(r.linkedGeomean),
    x(r.overLinkedGeomean),
    x(r.asyncifyGeomean),
    x(r.asyncifyGuardedGeomean),
    x(r.sizeRatio),
    x(r.asyncifySizeRatio),
    "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [
    `migration-point overhead, no migration (time: median of ${r.reps} runs after ${r.warmup} warm-up runs, ratio to plain; instr/linked: to the linked build)`,
    line(header),
    rule,
    ...rows.slice(0, -1).map(line),
    rule,
    line(rows[rows.length - 1]!),
    `worst: ${r.worst.program} ×${r.worst.ratio.toFixed(2)}; code section alone: instrumented ×${r.codeSizeRatio.toFixed(2)}, ` +
      `asyncify ×${r.asyncifyCodeSizeRatio.toFixed(2)}; size = module without custom sections; ` +
      `noise = largest median absolute deviation of the builds`,
  ].join("\n");
}

// ---- sizes: just enough of the binary format to walk the sections ----

const CUSTOM_SECTION = 0;
const CODE_SECTION = 10;

interface Section {
  id: number;
  /** start of the section (its id byte) and end of its payload */
  start: number;
  end: number;
  payloadStart: number;
}

function sections(wasm: Uint8Array): Section[] {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) {
    throw new OverheadError("not a WebAssembly module");
  }
  const out: Section[] = [];
  let pos = 8;
  while (pos < wasm.length) {
    const start = pos;
    const id = wasm[pos++]!;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[pos++];
      if (b === undefined) throw new OverheadError("truncated section header");
      size += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    if (pos + size > wasm.length) throw new OverheadError("truncated section");
    out.push({ id, start, end: pos + size, payloadStart: pos });
    pos += size;
  }
  return out;
}

/** The module without its custom sections (names, popcorn.sites, producers...). */
export function stripCustomSections(wasm: Uint8Array): Uint8Array {
  const keep = sections(wasm).filter((s) => s.id !== CUSTOM_SECTION);
  const out = new Uint8Array(8 + keep.reduce((n, s) => n + s.end - s.start, 0));
  out.set(wasm.subarray(0, 8), 0);
  let pos = 8;
  for (const s of keep) {
    out.set(wasm.subarray(s.start, s.end), pos);
    pos += s.end - s.start;
  }
  return out;
}

/** Payload bytes of the section with this id (0 if absent). */
export function sectionSize(wasm: Uint8Array, id: number): number {
  return sections(wasm)
    .filter((s) => s.id === id)
    .reduce((n, s) => n + s.end - s.payloadStart, 0);
}
