/**
 * Which functions the pass instruments, and where migration points go.
 *
 * A function gets migration points when the chosen kinds apply to it:
 *   entry     at the entry of every function on a cycle of the call graph
 *             (recursion, direct or through a table): without one, a
 *             recursion without loops would never stop. A function off
 *             every cycle calls down an acyclic graph, so it reaches a
 *             point of its own or returns in bounded time — a point at its
 *             entry would add cost on every call and no reach;
 *   loops     at the header of every loop;
 *   explicit  at every call of the guest library's `check_migrate` import
 *             (always on: the program asked for it).
 * The language runtime (`~lib/rt/`, `~lib/memory`, `~lib/util/memory`) gets
 * no entry or loop points: allocation and collection are not preemptible.
 * Nor does number formatting (`~lib/util/number`): its loops run once per
 * digit of a number, so they end in bounded time.
 *
 * A function is instrumented when it can reach a migration point: it has
 * one, or it calls an instrumented function directly, or through
 * `call_indirect` with the signature of an instrumented function in a table.
 * Every such call is a call site. Nothing else is touched.
 */
import binaryen from "binaryen";
import { CHECK_MIGRATE, GUEST_MODULE } from "../abi.js";
import type { PointKind } from "../options.js";
import { CallIndirect, type Ref, valueType, walk } from "./exprs.js";

const B = binaryen;


export interface FunctionFacts {
  name: string;
  calls: Set<string>;
  indirectSigs: Set<string>;
  hasLoop: boolean;
  hasExplicit: boolean;
  unsupported?: string;
  /** the walk stopped early: calls may be missing from `calls` */
  unknownCalls?: boolean;
}

export interface Plan {
  /** name of the import that marks explicit points, if the module has one */
  explicitImport?: string;
  instrumented: Set<string>;
  entryPoints: Set<string>;
  loopPoints: Set<string>;
  /** `params|results` of instrumented functions reachable through a table */
  instrumentedSigs: Set<string>;
  facts: Map<string, FunctionFacts>;
}

export function sigKey(params: number, results: number): string {
  return `${params}|${results}`;
}

const RUNTIME = /^~lib\/(rt\/|memory|util\/memory|util\/number)/;

export function isRuntime(name: string): boolean {
  return RUNTIME.test(name);
}

export function functionNames(m: binaryen.Module): { defined: string[]; imports: Map<string, { module: string; base: string }> } {
  const defined: string[] = [];
  const imports = new Map<string, { module: string; base: string }>();
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const info = B.getFunctionInfo(m.getFunctionByIndex(i));
    if (info.module) imports.set(info.name, { module: info.module, base: info.base! });
    else defined.push(info.name);
  }
  return { defined, imports };
}

/** Functions placed in any table, with their signature keys. */
export function tableFunctions(m: binaryen.Module): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < m.getNumElementSegments(); i++) {
    const seg = B.getElementSegmentInfo(m.getElementSegmentByIndex(i));
    for (const name of seg.data) {
      const f = B.getFunctionInfo(m.getFunction(name));
      out.set(name, sigKey(f.params, f.results));
    }
  }
  return out;
}

export function makePlan(m: binaryen.Module, points: Set<PointKind>): Plan {
  const { defined, imports } = functionNames(m);
  let explicitImport: string | undefined;
  for (const [name, imp] of imports) if (imp.module === GUEST_MODULE && imp.base === CHECK_MIGRATE) explicitImport = name;

  const facts = new Map<string, FunctionFacts>();
  for (const name of defined) {
    const f: FunctionFacts = { name, calls: new Set(), indirectSigs: new Set(), hasLoop: false, hasExplicit: false };
    try {
      const info = B.getFunctionInfo(m.getFunction(name));
      f.unknownCalls = true; // until the walk below has seen every call
      walk(info.body, (e: Ref) => {
        const id = B.getExpressionId(e);
        if (id === B.CallId) {
          const target = B.getExpressionInfo(e) as binaryen.CallInfo;
          if (target.target === explicitImport) f.hasExplicit = true;
          else if (!imports.has(target.target)) f.calls.add(target.target);
        } else if (id === B.CallIndirectId) {
          f.indirectSigs.add(sigKey(CallIndirect.getParams(e), CallIndirect.getResults(e)));
        } else if (id === B.LoopId) {
          f.hasLoop = true;
        }
      });
      f.unknownCalls = false;
      for (const t of [...B.expandType(info.params), ...info.vars]) valueType(t, "it");
      if (B.expandType(info.results).length > 1) throw new Error("it has more than one result");
      if (info.results !== B.none) valueType(info.results, "its result");
    } catch (err) {
      f.unsupported = (err as Error).message;
    }
    facts.set(name, f);
  }

  const table = tableFunctions(m);
  const recursive = onCycles(facts, table);
  const entryPoints = new Set<string>();
  const loopPoints = new Set<string>();
  const instrumented = new Set<string>();
  for (const f of facts.values()) {
    if (f.unsupported) continue;
    const system = isRuntime(f.name);
    if (points.has("entry") && !system && recursive.has(f.name)) entryPoints.add(f.name);
    if (points.has("loops") && !system && f.hasLoop) loopPoints.add(f.name);
    if (entryPoints.has(f.name) || loopPoints.has(f.name) || (points.has("explicit") && f.hasExplicit)) instrumented.add(f.name);
  }

  // Propagate "can reach a migration point" to callers until nothing changes.
  const instrumentedSigs = new Set<string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, sig] of table) if (instrumented.has(name)) instrumentedSigs.add(sig);
    for (const f of facts.values()) {
      if (instrumented.has(f.name) || f.unsupported) continue;
      const reaches =
        [...f.calls].some((c) => instrumented.has(c)) || [...f.indirectSigs].some((s) => instrumentedSigs.has(s));
      if (reaches) {
        instrumented.add(f.name);
        changed = true;
      }
    }
  }
  return { explicitImport, instrumented, entryPoints, loopPoints, instrumentedSigs, facts };
}

/**
 * The functions that can call themselves again: on a cycle of the call
 * graph, where a call_indirect may reach every table function of its
 * signature, and a function whose walk stopped early may call anything.
 */
function onCycles(facts: Map<string, FunctionFacts>, table: Map<string, string>): Set<string> {
  const bySig = new Map<string, string[]>();
  for (const [name, sig] of table) bySig.set(sig, [...(bySig.get(sig) ?? []), name]);
  const all = [...facts.keys()];
  const callees = (f: FunctionFacts): string[] => {
    if (f.unknownCalls) return all;
    const out = [...f.calls].filter((c) => facts.has(c));
    for (const s of f.indirectSigs) out.push(...(bySig.get(s) ?? []).filter((n) => facts.has(n)));
    return out;
  };
  const out = new Set<string>();
  for (const start of facts.keys()) {
    const seen = new Set<string>();
    const stack = callees(facts.get(start)!);
    while (stack.length) {
      const n = stack.pop()!;
      if (n === start) {
        out.add(start);
        break;
      }
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...callees(facts.get(n)!));
    }
  }
  return out;
}
