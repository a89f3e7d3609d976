/**
 * The baseline to beat (DESIGN.md, decision 1): the same program made
 * resumable with binaryen's Asyncify instead of popcorn's pass.
 *
 *   plain.wasm --link--> linked --points--> + call popcorn.check_migrate
 *                                             at every migration point
 *              --asyncify (asyncify-imports@popcorn.check_migrate), -O3--> asyncify.wasm
 *
 * The migration points are exactly the ones popcorn's pass uses, from the
 * same plan (host/toolchain/instrument/plan.ts) on the same linked module:
 * a call at the entry of every function in `plan.entryPoints`, and one as
 * the first thing inside the body of every loop of a function in
 * `plan.loopPoints` (the loop header). Explicit `checkMigrate()` calls the
 * program already makes stay as they are; Asyncify treats them the same.
 *
 * Asyncify then instruments every function that can reach the import
 * (directly, or through call_indirect, which it assumes may reach it). When
 * the import returns without starting an unwind — what the benchmark's no-op
 * `check_migrate` does — the code takes Asyncify's fast path, which is what
 * the overhead benchmark compares with popcorn's fast path.
 *
 * With `guard`, each call sits behind the same one-load check popcorn's
 * pass emits (the control word of thread slot 0), so the import is called
 * only when the host asks; the benchmark runs both forms.
 *
 * Optimization: binaryen's optimize level 3 (as popcorn's pass uses), given
 * to the asyncify pass (it cleans up the functions it instruments) and then
 * one full `optimize()` of the whole module. That re-optimizes functions
 * Asyncify did not touch as well, which can only help the baseline.
 */
import binaryen from "binaryen";
import { CHECK_MIGRATE, CTRL_PTR_GLOBAL, GUEST_MODULE, ctrlAddress } from "../host/toolchain/abi.js";
import { makePlan, functionNames } from "../host/toolchain/instrument/plan.js";
import { type PointKind, ALL_POINTS } from "../host/toolchain/options.js";
import { type Ref, walk } from "../host/toolchain/instrument/exprs.js";
import { link } from "../host/toolchain/link.js";

const B = binaryen;

/** Same feature set as `popcorn compile` (host/toolchain/compile.ts). */
const TARGET_FEATURES =
  B.Features.MVP | B.Features.MutableGlobals | B.Features.SignExt | B.Features.NontrappingFPToInt |
  B.Features.BulkMemory | B.Features.BulkMemoryOpt | B.Features.SIMD128 | B.Features.Atomics;

/** Internal name of the check_migrate import when the module has to gain it. */
const ADDED_IMPORT = "popcorn$bench$check_migrate";

/** binaryen.js API the type declarations leave out. */
const Loop = (B as unknown as { Loop: { getBody(e: Ref): Ref; setBody(e: Ref, body: Ref): void } }).Loop;
const Fn = (B as unknown as { Function: { setBody(f: binaryen.FunctionRef, body: Ref): void } }).Function;

export interface AsyncifyOptions {
  /** which migration points to place, as `popcorn compile --points` (default: all) */
  points?: PointKind[];
  /** binaryen optimize level (default 3, as popcorn's pipeline) */
  optimizeLevel?: number;
  shrinkLevel?: number;
  /**
   * Guard each migration-point call with popcorn's fast-path check, as the
   * pass does: `if (i32.load (global.get $__popcorn_ctrl)) call check_migrate`.
   * Without it (the default) every point calls the import, a Wasm-to-JS call
   * each time, and that call — not Asyncify's own bookkeeping — dominates
   * tight loops. With it, the figure is the cost of Asyncify's instrumentation
   * alone, the fairest baseline.
   */
  guard?: boolean;
}

export interface AsyncifyResult {
  /** linked, with migration-point calls, through Asyncify; runs with the kernel's guest imports */
  wasm: Uint8Array;
  /** the migration points placed */
  points: { entry: number; loop: number; explicit: number };
  /** functions that hold at least one migration point */
  functionsWithPoints: number;
}

export class AsyncifyError extends Error {}

/**
 * Builds the Asyncify variant of an asc-built (plain, uninstrumented) module.
 * `where` names the program in error messages.
 */
export function asyncifyWasm(plain: Uint8Array, where: string, opts: AsyncifyOptions = {}): AsyncifyResult {
  const saved = {
    optimize: B.getOptimizeLevel(),
    shrink: B.getShrinkLevel(),
    imports: B.getPassArgument("asyncify-imports"),
  };
  const m = B.readBinary(plain);
  try {
    m.setFeatures(TARGET_FEATURES);
    link(m, plain, where);
    const plan = makePlan(m, new Set(opts.points ?? ALL_POINTS));

    const { imports } = functionNames(m);
    let check = plan.explicitImport;
    if (!check) {
      for (const [name, imp] of imports) if (imp.module === GUEST_MODULE && imp.base === CHECK_MIGRATE) check = name;
    }
    if (!check) {
      check = ADDED_IMPORT;
      m.addFunctionImport(check, GUEST_MODULE, CHECK_MIGRATE, B.none, B.none);
    }
    if (opts.guard) m.addGlobal(CTRL_PTR_GLOBAL, B.i32, true, m.i32.const(ctrlAddress(0)));
    const point = (): Ref =>
      opts.guard
        ? m.if(m.i32.load(0, 4, m.global.get(CTRL_PTR_GLOBAL, B.i32)), m.call(check!, [], B.none))
        : m.call(check!, [], B.none);

    const points = { entry: 0, loop: 0, explicit: 0 };
    const withPoints = new Set<string>();
    for (const name of functionNames(m).defined) {
      const wantsEntry = plan.entryPoints.has(name);
      const wantsLoops = plan.loopPoints.has(name);
      if (plan.facts.get(name)?.unsupported) continue; // the plan gives such functions no points either
      const fn = m.getFunction(name);
      const body = B.getFunctionInfo(fn).body;
      const loops: Ref[] = [];
      let explicit = 0;
      walk(body, (e) => {
        const id = B.getExpressionId(e);
        if (id === B.LoopId && wantsLoops) loops.push(e);
        else if (id === B.CallId && (B.getExpressionInfo(e) as binaryen.CallInfo).target === plan.explicitImport) explicit++;
      });
      for (const loop of loops) {
        const inner = Loop.getBody(loop);
        Loop.setBody(loop, m.block(null, [point(), inner], B.getExpressionType(inner)));
      }
      if (wantsEntry) Fn.setBody(fn, m.block(null, [point(), body], B.getExpressionType(body)));
      points.entry += wantsEntry ? 1 : 0;
      points.loop += loops.length;
      points.explicit += explicit;
      if (wantsEntry || loops.length || explicit) withPoints.add(name);
    }
    if (!m.validate()) throw new AsyncifyError(`${where}: the module with migration-point calls does not validate`);

    B.setOptimizeLevel(opts.optimizeLevel ?? 3);
    B.setShrinkLevel(opts.shrinkLevel ?? 0);
    B.setPassArgument("asyncify-imports", `${GUEST_MODULE}.${CHECK_MIGRATE}`);
    m.runPasses(["asyncify"]);
    if ((opts.optimizeLevel ?? 3) > 0) m.optimize();
    if (!m.validate()) throw new AsyncifyError(`${where}: the Asyncify output does not validate`);
    return { wasm: m.emitBinary(), points, functionsWithPoints: withPoints.size };
  } finally {
    m.dispose();
    B.setOptimizeLevel(saved.optimize);
    B.setShrinkLevel(saved.shrink);
    B.setPassArgument("asyncify-imports", saved.imports);
  }
}

/**
 * The program linked and nothing else (no migration points): what the link
 * step alone does to its speed and size, so that the overhead benchmark can
 * tell the pass's cost from the link's (passive data, imported shared memory,
 * exported globals can make code faster or slower by themselves).
 */
export function linkedWasm(plain: Uint8Array, where: string): Uint8Array {
  const m = B.readBinary(plain);
  try {
    m.setFeatures(TARGET_FEATURES);
    link(m, plain, where);
    if (!m.validate()) throw new AsyncifyError(`${where}: the linked module does not validate`);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
