/** `popcorn compile`: flags to CompileOptions, the summary a user reads, the files written. */
import { basename, extname, join } from "node:path";
import { stackmapBackends } from "../isa/index.js";
import {
  ALL_POINTS, type CompileSummary, type PointKind, type Runtime, compile, CompileError, entryPointProblem, wasmModule,
} from "../toolchain/index.js";
import { checkOutput, refuseSameFile, writeOutput } from "./files.js";

export interface CompileFlags {
  out?: string;
  points: string;
  optimize: number;
  runtime: Runtime;
  plain?: string;
  json?: boolean;
}

export function parsePoints(list: string): PointKind[] {
  const kinds = list.split(",").map((s) => s.trim()).filter(Boolean);
  // no kind at all would compile a program that can never stop, migrate or checkpoint: surely a slip
  if (!kinds.length) throw new CompileError(`--points "${list}": no kind of migration point — list some of ${ALL_POINTS.join(",")} (the default is all)`);
  for (const k of kinds) {
    if (!ALL_POINTS.includes(k as PointKind)) throw new CompileError(`--points: unknown kind "${k}" (choose from ${ALL_POINTS.join(",")})`);
  }
  return kinds as PointKind[];
}

/** `-o ""` would be read as no -o, `--plain ""` as no --plain: a slip in a script, refused rather than guessed at. */
function refuseEmpty(flag: string, path: string | undefined): void {
  if (path !== undefined && !path.trim()) throw new CompileError(`${flag} "${path}": an empty file name — name the file to write`);
}

export function defaultOut(file: string): string {
  return join("build", basename(file, extname(file)) + ".wasm");
}

export async function compileCommand(file: string, o: CompileFlags, ascArgs: string[] = []): Promise<number> {
  const points = parsePoints(o.points);
  if (o.optimize > 3) throw new CompileError("-O: the level must be 0..3");
  refuseEmpty("-o", o.out);
  refuseEmpty("--plain", o.plain);
  const out = o.out ?? defaultOut(file);
  refuseSameFile("-o", out, file, "the input");
  if (o.plain) {
    refuseSameFile("--plain", o.plain, file, "the input");
    refuseSameFile("--plain", o.plain, out, "the output (-o)");
  }
  checkOutput("-o", out);
  if (o.plain) checkOutput("--plain", o.plain);
  const r = await compile(file, { points, optimizeLevel: o.optimize, runtime: o.runtime, ascArgs, backends: stackmapBackends() });
  // the toolchain also builds modules a test drives export by export; a program the CLI writes is to be run,
  // and without its entry point every `popcorn run` would refuse it (kernel/program.ts loadProgram, in the same words)
  const noEntry = entryPointProblem(r.plain, wasmModule(r.plain), file);
  if (noEntry) throw new CompileError(noEntry);
  await writeOutput(out, r.wasm);
  if (o.plain) await writeOutput(o.plain, r.plain);
  const warnings = noPointsWarning(r.summary, points);
  if (o.json) process.stdout.write(JSON.stringify({ out, ...r.summary, ...(warnings && { warnings: [warnings] }) }) + "\n");
  else process.stdout.write(formatSummary(out, r.summary, points));
  return 0;
}

/** Where each kind of point goes, as what a program without any lacks. */
const POINT_SOURCES: Record<PointKind, string> = { entry: "recursion", loops: "loop", explicit: "migrate()/checkMigrate() call" };

/** A program without one migration point runs to its end where it starts: said plainly, with why, or undefined. */
export function noPointsWarning(s: CompileSummary, points: PointKind[] = ALL_POINTS): string | undefined {
  if (Object.values(s.sites).some((n) => n > 0)) return undefined;
  const lacks = points.map((k) => POINT_SOURCES[k]);
  const why = `${points.length < ALL_POINTS.length ? `--points ${points.join(",")}, and ` : ""}no ${lacks.length > 1 ? `${lacks.slice(0, -1).join(", ")} or ${lacks[lacks.length - 1]}` : lacks[0]}`;
  const fix = points.length < ALL_POINTS.length ? "leave out --points to put them at loops and recursion too, or call migrate()/checkMigrate()" : "call checkMigrate() where it may move";
  return `no migration points (${why}${s.refused.length ? ` outside the refused functions` : ""}): it can never migrate, checkpoint or stop at a signal — ${fix}`;
}

export function formatSummary(out: string, s: CompileSummary, points?: PointKind[]): string {
  const warning = noPointsWarning(s, points);
  const growth = ((s.bytes.instrumented / s.bytes.plain - 1) * 100).toFixed(1);
  const lines = [
    `wrote ${out}`,
    `  functions instrumented: ${s.functions.instrumented} / ${s.functions.total}`,
    `  sites: ${Object.entries(s.sites).map(([k, v]) => `${v} ${k}`).join(", ")}`,
    `  size: ${s.bytes.plain} → ${s.bytes.instrumented} bytes (${growth.startsWith("-") ? "" : "+"}${growth} %, with the popcorn.* sections)`,
    ...s.refused.map((r) => `  refused: ${r.func}: ${r.reason}`),
    ...(warning ? [`  ${warning}`] : []),
  ];
  return lines.join("\n") + "\n";
}
