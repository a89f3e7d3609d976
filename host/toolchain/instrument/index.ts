/**
 * The instrumentation pass: migration points, unwind and rewind.
 *
 * The problem. A thread must be able to stop at a migration point, hand its
 * whole call stack to the host as portable frames (site + live values), and
 * later — in a fresh instance, on another kernel — be rebuilt from them so it
 * continues right after the point where it stopped. Wasm gives no access to
 * its own stack, so the code must save and rebuild it itself.
 *
 * Two designs we did not take. Binaryen's Asyncify does this for any
 * function that may reach an import, but guards every statement with a
 * state check so rewind can skip forward to the call it stopped in; the
 * guards sit on the fast path (2.2–2.8x on a counting loop here), and it has
 * no notion of sites shared across builds or of metadata about live values.
 * Saving every local at every point would be simple but makes every frame
 * as large as its function and hides which values really matter, which is
 * what the stack transformation needs to know.
 *
 * What this pass does, per function that can reach a migration point
 * (plan.ts decides which):
 *   1. binaryen's `flatten`, so that every call is a statement and every
 *      value held across a call (the `a` of `a + f(x)`) sits in a local;
 *   2. dissolves blocks and ifs that hold sites into one list with forward
 *      labels (ir.ts), so a single br_table at the start of the list can
 *      reach the place before any site; loops keep a list of their own;
 *   3. computes the live locals at every site (liveness.ts);
 *   4. emits the fast-path checks, the unwind code of each site, and the
 *      rewind dispatch (emit.ts);
 *   5. lets binaryen's optimizer clean the flat code up again.
 *
 *   before                              after (fast path in capitals)
 *   ----------------------------------  -----------------------------------------------
 *   func f(n) -> i32                    func f(n) -> i32
 *                                         loop $resume (block $save (block $request
 *                                         IF (LOAD CTRL) { rewind: restore the frame, dispatch
 *                                                          | rsite = 0; br $request }
 *     loop $l                             loop $l
 *                                           IF (LOAD CTRL) { rewind: dispatch
 *                                                            | rsite = 1; br $request }
 *       s = s + g(i)                        t = s                    ;; operand stack -> local
 *                                           r = call g(i)
 *                                           IF (UNWINDING) { rsite = 2; br $save }
 *                                           s = t + r
 *       br_if $l (...)                      br_if $l (...)
 *                                         ...) --countdown == 0? br $save  ;; else resume after
 *                                              the point rsite: REWIND, br $resume
 *                                         ) save(rsite, frame: t, i, n, s); return 0)
 *
 * (A function whose points are all outside loops counts down in place, and
 * has no $request or $resume: emit.ts.)
 *
 * Site ids are dense and global: function after function, in module order,
 * each function's sites in the order the pass meets them. The host learns
 * them from the `popcorn.sites` section (sites.ts); `abi.ts` has the imports
 * and globals the emitted code uses.
 *
 * What it refuses. A function holding an expression kind the pass does not
 * know (exceptions, GC references, tuples) is left as it is and named in the
 * result with the reason; if such a function can call code that may unwind,
 * the pass wraps it so that no migration point fires while it is on the
 * stack (`__popcorn_nocapture`), and the rest of the program stays correct.
 */
import binaryen from "binaryen";
import { CTRL_PTR_GLOBAL, NOCAPTURE_GLOBAL, UNWINDING_GLOBAL, ctrlAddress, type ValueType } from "../abi.js";
import type { LiveValue, Site, SiteFunction, SiteKind } from "../sites.js";
import { emitFunctionBody, RuntimeImports } from "./emit.js";
import { CallIndirect, Fn, type Ref, UnsupportedError, valueType } from "./exprs.js";
import { type Item, toList } from "./ir.js";
import { siteLiveness } from "./liveness.js";
import { makePlan, sigKey, functionNames } from "./plan.js";
import type { PointKind } from "../options.js";



const B = binaryen;


export interface InstrumentOptions {
  points: Set<PointKind>;
  optimizeLevel: number;
  shrinkLevel: number;
}

export interface InstrumentResult {
  sites: Site[];
  functions: SiteFunction[];
  refused: { func: string; reason: string }[];
  totalFunctions: number;
}

export class InstrumentError extends Error {}

export function instrument(m: binaryen.Module, opts: InstrumentOptions): InstrumentResult {
  const plan = makePlan(m, opts.points);
  const { defined } = functionNames(m);
  m.addGlobal(CTRL_PTR_GLOBAL, B.i32, true, m.i32.const(ctrlAddress(0)));
  m.addGlobal(UNWINDING_GLOBAL, B.i32, true, m.i32.const(0));
  m.addGlobal(NOCAPTURE_GLOBAL, B.i32, true, m.i32.const(0));
  for (const g of [CTRL_PTR_GLOBAL, UNWINDING_GLOBAL, NOCAPTURE_GLOBAL]) m.addGlobalExport(g, g);

  const rt = new RuntimeImports(m);
  let labelCounter = 0;
  const newLabel = (hint: string) => `popcorn$${hint}${labelCounter++}`;
  const sites: Site[] = [];
  const functions: InstrumentResult["functions"] = [];
  const refused: InstrumentResult["refused"] = [];

  for (const name of defined) {
    const facts = plan.facts.get(name)!;
    if (facts.unsupported) {
      const reaches = [...facts.calls].some((c) => plan.instrumented.has(c)) ||
        [...facts.indirectSigs].some((s) => plan.instrumentedSigs.has(s));
      if (reaches || facts.hasExplicit || facts.unknownCalls) {
        refused.push({ func: name, reason: facts.unsupported });
        wrapNoCapture(m, name);
      }
      continue;
    }
    if (!plan.instrumented.has(name)) continue;
    try {
      const first = sites.length;
      const frame = instrumentFunction(m, name, {
        plan,
        points: opts.points,
        rt,
        newLabel,
        newSite: (kind, callee) => {
          sites.push({ id: sites.length, kind, func: name, values: [], ...(callee !== undefined && { callee }) });
          return sites.length - 1;
        },
        sites,
      });
      functions.push({ name, firstSite: first, siteCount: sites.length - first, frame });
    } catch (e) {
      if (e instanceof UnsupportedError) throw new InstrumentError(`function ${name}: ${e.message}`);
      throw e;
    }
  }

  B.setOptimizeLevel(opts.optimizeLevel);
  B.setShrinkLevel(opts.shrinkLevel);
  if (opts.optimizeLevel > 0) for (const f of functions) m.optimizeFunction(f.name);
  if (!m.validate()) throw new InstrumentError("internal error: the instrumented module does not validate (see the log above)");
  return { sites, functions, refused, totalFunctions: defined.length };
}

interface FunctionContext {
  plan: ReturnType<typeof makePlan>;
  points: Set<PointKind>;
  rt: RuntimeImports;
  newLabel(hint: string): string;
  newSite(kind: SiteKind, callee?: string): number;
  sites: Site[];
}

/** Instruments one function; the types of its frame (see sites.ts). */
function instrumentFunction(m: binaryen.Module, name: string, cx: FunctionContext): ValueType[] {
  m.runPassesOnFunction(name, ["flatten"]);
  const fn = m.getFunction(name);
  const info = B.getFunctionInfo(fn);
  const params = B.expandType(info.params);
  const localTypes: ValueType[] = [...params, ...info.vars].map((t) => valueType(t, `function ${name}`));
  if (B.expandType(info.results).length > 1) throw new UnsupportedError("multiple results are not supported");
  const localName = (i: number) => (Fn.hasLocalName(fn, i) ? Fn.getLocalName(fn, i) : `$${i}`);
  const names = localTypes.map((_, i) => localName(i));

  const body: Item[] = [];
  const firstSite = cx.sites.length;
  if (cx.plan.entryPoints.has(name)) body.push({ k: "point", site: cx.newSite("entry"), kind: "entry" });
  toList(info.body, {
    m,
    isSiteCall: (e: Ref) => {
      if (B.getExpressionId(e) === B.CallId) return cx.plan.instrumented.has((B.getExpressionInfo(e) as binaryen.CallInfo).target);
      return cx.plan.instrumentedSigs.has(sigKey(CallIndirect.getParams(e), CallIndirect.getResults(e)));
    },
    isExplicitPoint: (e: Ref) =>
      cx.points.has("explicit") &&
      B.getExpressionId(e) === B.CallId &&
      (B.getExpressionInfo(e) as binaryen.CallInfo).target === cx.plan.explicitImport,
    loopPoints: cx.plan.loopPoints.has(name),
    newSite: cx.newSite,
    newLabel: cx.newLabel,
  }, body);

  const live = siteLiveness(body);
  // the frame: every local live at any site, in index order
  const frame = [...new Set([...live.values()].flat())].sort((a, b) => a - b);
  const slot = new Map(frame.map((l, i) => [l, i]));
  for (let s = firstSite; s < cx.sites.length; s++) {
    const locals = live.get(s) ?? [];
    cx.sites[s]!.values = locals.map((l): LiveValue => ({ type: localTypes[l]!, name: names[l]!, slot: slot.get(l)! }));
  }

  const rsite = localTypes.length;
  const newBody = emitFunctionBody(
    {
      m,
      results: info.results,
      localTypes,
      frame,
      rsite,
      reentering: rsite + 1,
      rt: cx.rt,
      newLabel: cx.newLabel,
    },
    body,
  );
  m.removeFunction(name);
  const rebuilt = m.addFunction(name, info.params, info.results, [...info.vars, B.i32, B.i32], newBody);
  names.forEach((n, i) => {
    if (!n.startsWith("$")) Fn.setLocalName(rebuilt, i, n);
  });
  Fn.setLocalName(rebuilt, rsite, "popcorn$rsite");
  Fn.setLocalName(rebuilt, rsite + 1, "popcorn$reentering");
  return frame.map((l) => localTypes[l]!);
}

/**
 * Renames `name` to `name$inner` and puts in its place a wrapper that holds
 * `__popcorn_nocapture` above zero while the original runs: migration points
 * reached from inside it do not fire (the host sees the counter).
 */
function wrapNoCapture(m: binaryen.Module, name: string): void {
  const info = B.getFunctionInfo(m.getFunction(name));
  const inner = `${name}$inner`;
  const params = B.expandType(info.params);
  m.addFunction(inner, info.params, info.results, info.vars, info.body);
  m.removeFunction(name);
  const bump = (d: number) =>
    m.global.set(NOCAPTURE_GLOBAL, m.i32.add(m.global.get(NOCAPTURE_GLOBAL, B.i32), m.i32.const(d)));
  const call = m.call(inner, params.map((t, i) => m.local.get(i, t)), info.results);
  const results = B.expandType(info.results);
  const body =
    results.length === 0
      ? m.block(null, [bump(1), call, bump(-1)])
      : m.block(null, [bump(1), m.local.set(params.length, call), bump(-1), m.local.get(params.length, info.results)], info.results);
  m.addFunction(name, info.params, info.results, results.length ? [info.results] : [], body);
}
