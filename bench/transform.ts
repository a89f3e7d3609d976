/**
 * What the state transformation costs per frame: rewrite x86-64 → aarch64,
 * lower and lift, on stacks of 1, 10, 100 and 10,000 frames; and the time to
 * rewrite a 10,000-frame stack. Goals (issue 3): ≤ 2 µs per frame, ≤ 20 ms
 * for 10,000 frames.
 *
 * The stacks are built from the real fib example's sites (compiled once,
 * stub runtime), shaped like what its captures hold: main's frame
 * outermost, then the linear recursion `deep` (an i64 live across its
 * recursive call), and for the deepest frames the doubly recursive `fib`
 * (an i32 live). With `quick`, or if compiling fails, a synthetic table of
 * the same shape stands in.
 *
 * Method. Everything runs in this process; each operation first runs
 * `warmup` times (V8 tiers hot functions up to TurboFan). Then rounds:
 * each round times every (operation, depth) once, in rotating order, over
 * enough repetitions to last about a millisecond; a figure is the median
 * over rounds of time / repetitions / depth.
 */
import { performance } from "node:perf_hooks";
import { aarch64, allocate, x86_64 } from "../host/isa/index.js";
import { compile, customSection, decodeSites, SITES_SECTION, type SiteTable, packageRoot } from "../host/toolchain/index.js";
import { lift, lower, type PortableFrame, rewrite } from "../host/transform/index.js";
import { median, relativeMad, round } from "./stats.js";

export interface TransformBenchOptions {
  /** few rounds, synthetic sites: a smoke test of well under a second */
  quick?: boolean;
  /** progress lines */
  log?: (line: string) => void;
}

export interface TransformDepthFigures {
  depth: number;
  rewriteUs: number;
  lowerUs: number;
  liftUs: number;
}

export interface TransformBenchResult {
  /** rewrite x86-64 → aarch64, µs per frame: the median over the depths 10, 100 and 10,000 */
  perFrameUs: number;
  /** the same for a one-frame stack (fixed costs dominate) */
  singleFrameUs: number;
  lowerPerFrameUs: number;
  liftPerFrameUs: number;
  /** a 10,000-frame stack rewritten x86-64 → aarch64, ms */
  deep10kMs: number;
  /** the same with the trace */
  deep10kTracedMs: number;
  /** per depth, µs per frame */
  depths: TransformDepthFigures[];
  /** relative spread of the 10,000-frame rewrite over rounds */
  noise: number;
  sites: "fib" | "synthetic";
  rounds: number;
}

const DEPTHS = [1, 10, 100, 10_000];

/** fib's shape, if compiling is not wanted: same functions, same live values. */
function syntheticFib(): SiteTable {
  const fn = (name: string, values: [string, string][][]) => ({ name, values });
  const fns = [
    fn("fib", [[["i32", "$0"]], [["i32", "$0"]], [["i32", "$6"]]]),
    fn("deep", [[["i32", "$0"]], [["i64", "$7"]]]),
    fn("main", [[["i32", "$9"]], [["i32", "$3"], ["i32", "$8"], ["i32", "$9"]], [["i32", "$1"], ["i32", "$211"]]]),
  ];
  const t: SiteTable = { version: 1, moduleHash: new Uint8Array(32), functions: [], sites: [] };
  for (const f of fns) {
    t.functions.push({ name: f.name, firstSite: t.sites.length, siteCount: f.values.length });
    for (const vs of f.values) {
      t.sites.push({ id: t.sites.length, kind: "call", func: f.name, values: vs.map(([type, name]) => ({ type: type as "i32", name })) });
    }
  }
  return t;
}

async function fibSites(): Promise<SiteTable> {
  const r = await compile(`${packageRoot()}/assembly/examples/fib.ts`, { runtime: "stub" });
  return decodeSites(customSection(r.wasm, SITES_SECTION)!, "fib.wasm");
}

/** A capture-like stack: fib frames innermost, then deep's recursion, then main. */
function fibStack(t: SiteTable, depth: number): PortableFrame[] {
  const site = (func: string, k: number) => {
    const f = t.functions.find((x) => x.name === func || x.name.endsWith(`/${func}`))!;
    return t.sites[f.firstSite + Math.min(k, f.siteCount - 1)]!;
  };
  const frameAt = (s: ReturnType<typeof site>, i: number): PortableFrame => ({
    site: s.id,
    values: s.values.map((v) => (v.type === "i64" ? BigInt(i) * 0x1234567n : v.type === "i32" ? i : v.type === "v128" ? [0n, 0n] : i / 3)),
  });
  const frames: PortableFrame[] = [];
  const fibs = Math.min(20, depth - 1);
  for (let i = 0; i < fibs; i++) frames.push(frameAt(site("fib", 1), i));
  for (let i = fibs; i < depth - 1; i++) frames.push(frameAt(site("deep", 1), i));
  const main = t.functions.find((x) => x.name === "main" || x.name.endsWith("/main"))!;
  const withValues = t.sites.slice(main.firstSite, main.firstSite + main.siteCount).find((s) => s.kind === "call" && s.values.length >= 2) ?? t.sites[main.firstSite]!;
  frames.push(frameAt(withValues, depth));
  return frames;
}

export async function benchTransform(opts: TransformBenchOptions = {}): Promise<TransformBenchResult> {
  const log = opts.log ?? (() => {});
  let sites: TransformBenchResult["sites"] = "synthetic";
  let t = syntheticFib();
  if (!opts.quick) {
    try {
      t = await fibSites();
      sites = "fib";
    } catch (e) {
      log(`transform bench: compiling fib failed (${(e as Error).message}); using a synthetic table`);
    }
  }
  const A = x86_64;
  const B = aarch64;
  const smA = allocate(t, A);
  const smB = allocate(t, B);
  const stacks = DEPTHS.map((d) => {
    const frames = fibStack(t, d);
    return { depth: d, frames, image: lower(frames, t, smA, A) };
  });
  for (const s of stacks) {
    const back = lift(rewrite(s.image, smA, smB, A, B).image, t, smB, B);
    if (back.length !== s.frames.length) throw new Error(`transform bench: a ${s.depth}-frame stack came back with ${back.length} frames`);
  }

  type Op = "rewrite" | "lower" | "lift" | "traced";
  const ops: { op: Op; depth: number; run: () => void }[] = [];
  for (const s of stacks) {
    ops.push({ op: "rewrite", depth: s.depth, run: () => void rewrite(s.image, smA, smB, A, B) });
    ops.push({ op: "lower", depth: s.depth, run: () => void lower(s.frames, t, smA, A) });
    ops.push({ op: "lift", depth: s.depth, run: () => void lift(s.image, t, smA, A) });
  }
  const deepest = stacks[stacks.length - 1]!;
  ops.push({ op: "traced", depth: deepest.depth, run: () => void rewrite(deepest.image, smA, smB, A, B, { trace: true, sites: t }) });

  // repetitions so that one timing lasts about a millisecond
  const reps = ops.map((o) => Math.max(1, Math.round(2000 / o.depth)));
  const warmup = opts.quick ? 2 : 10;
  for (let w = 0; w < warmup; w++) ops.forEach((o, i) => { for (let k = 0; k < reps[i]!; k++) o.run(); });

  const rounds = opts.quick ? 5 : 41;
  const times = ops.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < ops.length; j++) {
      const i = (j + r) % ops.length;
      const o = ops[i]!;
      const n = reps[i]!;
      const t0 = performance.now();
      for (let k = 0; k < n; k++) o.run();
      times[i]!.push((performance.now() - t0) / n); // ms per call
    }
  }
  const perFrameUs = (op: Op, depth: number) => {
    const i = ops.findIndex((o) => o.op === op && o.depth === depth);
    return (median(times[i]!) * 1000) / depth;
  };
  const depths = DEPTHS.map((d) => ({
    depth: d,
    rewriteUs: round(perFrameUs("rewrite", d), 4),
    lowerUs: round(perFrameUs("lower", d), 4),
    liftUs: round(perFrameUs("lift", d), 4),
  }));
  const multi = depths.filter((d) => d.depth > 1);
  const deepIndex = ops.findIndex((o) => o.op === "rewrite" && o.depth === deepest.depth);
  const result: TransformBenchResult = {
    perFrameUs: round(median(multi.map((d) => d.rewriteUs)), 4),
    singleFrameUs: depths[0]!.rewriteUs,
    lowerPerFrameUs: round(median(multi.map((d) => d.lowerUs)), 4),
    liftPerFrameUs: round(median(multi.map((d) => d.liftUs)), 4),
    deep10kMs: round(median(times[deepIndex]!), 3),
    deep10kTracedMs: round(median(times[ops.length - 1]!), 3),
    depths,
    noise: round(relativeMad(times[deepIndex]!), 3),
    sites,
    rounds,
  };
  log(
    `transform: rewrite ${result.perFrameUs} µs/frame (1 frame: ${result.singleFrameUs} µs), lower ${result.lowerPerFrameUs}, lift ${result.liftPerFrameUs}; ` +
      `10,000 frames in ${result.deep10kMs} ms (${result.deep10kTracedMs} ms traced)`,
  );
  return result;
}
