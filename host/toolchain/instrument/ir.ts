/**
 * The pass's view of one flattened function: a statement list in which
 * blocks and ifs are dissolved into forward labels, so that any site can be
 * reached from the start of its list with one `br_table`.
 *
 * After binaryen's `flatten`, control flow has no values and every call sits
 * at statement level (`call`, `local.set $x (call ...)`). ToList rewrites
 * each construct that holds a site:
 *
 *   block $b                    ...children...
 *     ...children...      ==>   label $b            ;; "block $b ends here"
 *   end
 *
 *   if (c) A else B       ==>   br_if $t (c)
 *                               ...B...
 *                               br $e
 *                               label $t
 *                               ...A...
 *                               label $e
 *
 * A label is a place a forward branch lands; the emitter turns each into a
 * block that opens at the start of the list (opening a block earlier changes
 * nothing) and closes at the label. Loops cannot be dissolved (their label is
 * a backward target), so a loop stays a nested list with its own dispatch.
 * Other statements stay whole, as opaque leaves (a loop too, unless it holds
 * a site).
 */
import binaryen from "binaryen";
import { CallIndirect, type Ref, UnsupportedError, children, kindName, walk } from "./exprs.js";
import type { SiteKind } from "../sites.js";

const B = binaryen;

export interface LeafFacts {
  uses: number[];
  /** local written unconditionally by this statement, if any */
  kill?: number;
  /** labels outside the statement that it may branch to */
  targets: string[];
  fallsThrough: boolean;
}

export type Item =
  | { k: "leaf"; e: Ref; facts: LeafFacts }
  | { k: "label"; name: string }
  | { k: "loop"; name: string; body: Item[] }
  | { k: "call"; e: Ref; site: number; result?: number; target?: number; uses: number[] }
  | { k: "point"; site: number; kind: SiteKind };

export interface ListBuilder {
  m: binaryen.Module;
  /** is this expression (a Call or CallIndirect) a call that may unwind? */
  isSiteCall(e: Ref): boolean;
  isExplicitPoint(e: Ref): boolean;
  loopPoints: boolean;
  /** `callee`: the function a direct call calls (call sites) */
  newSite(kind: SiteKind, callee?: string): number;
  newLabel(hint: string): string;
}

export function leafFacts(e: Ref): LeafFacts {
  const uses = new Set<number>();
  const inner = new Set<string>();
  const targets = new Set<string>();
  walk(e, (x) => {
    switch (B.getExpressionId(x)) {
      case B.LocalGetId:
        uses.add((B.getExpressionInfo(x) as binaryen.LocalGetInfo).index);
        break;
      case B.BlockId:
      case B.LoopId: {
        const name = (B.getExpressionInfo(x) as binaryen.BlockInfo).name;
        if (name) inner.add(name);
        break;
      }
      case B.BreakId:
        targets.add((B.getExpressionInfo(x) as binaryen.BreakInfo).name);
        break;
      case B.SwitchId: {
        const info = B.getExpressionInfo(x) as binaryen.SwitchInfo;
        for (const n of info.names) targets.add(n);
        if (info.defaultName) targets.add(info.defaultName);
        break;
      }
    }
  });
  let kill: number | undefined;
  if (B.getExpressionId(e) === B.LocalSetId) {
    const info = B.getExpressionInfo(e) as binaryen.LocalSetInfo;
    if (!info.isTee) kill = info.index;
  }
  return {
    uses: [...uses],
    kill,
    targets: [...targets].filter((t) => !inner.has(t)),
    fallsThrough: B.getExpressionType(e) !== B.unreachable,
  };
}

/** Does `e` hold a site (a call that may unwind, an explicit point, or a loop that gets a point)? */
export function holdsSite(e: Ref, b: ListBuilder): boolean {
  let found = false;
  walk(e, (x) => {
    const id = B.getExpressionId(x);
    if ((id === B.CallId || id === B.CallIndirectId) && (b.isSiteCall(x) || b.isExplicitPoint(x))) found = true;
    else if (id === B.LoopId && b.loopPoints) found = true;
  });
  return found;
}

function localsRead(e: Ref): number[] {
  return leafFacts(e).uses;
}

export function toList(e: Ref, b: ListBuilder, out: Item[] = []): Item[] {
  const id = B.getExpressionId(e);
  const type = B.getExpressionType(e);
  if ((id === B.BlockId || id === B.IfId) && type !== B.none && type !== B.unreachable) {
    throw new UnsupportedError(`a ${kindName(e)} with a value remained after flatten`);
  }
  // Blocks and ifs are always dissolved (straight-line statements give
  // liveness its kills); loops and other statements only when they hold sites.
  if (id !== B.BlockId && id !== B.IfId && !holdsSite(e, b)) {
    out.push({ k: "leaf", e, facts: leafFacts(e) });
    return out;
  }
  switch (id) {
    case B.BlockId: {
      const info = B.getExpressionInfo(e) as binaryen.BlockInfo;
      for (const c of info.children) toList(c, b, out);
      if (info.name) out.push({ k: "label", name: info.name });
      return out;
    }
    case B.IfId: {
      const info = B.getExpressionInfo(e) as binaryen.IfInfo;
      const end = b.newLabel("if_end");
      if (!info.ifFalse) {
        const br = b.m.br(end, b.m.i32.eqz(info.condition));
        out.push({ k: "leaf", e: br, facts: leafFacts(br) });
        toList(info.ifTrue, b, out);
      } else {
        const thenLabel = b.newLabel("if_then");
        const then = b.m.br(thenLabel, info.condition);
        out.push({ k: "leaf", e: then, facts: leafFacts(then) });
        toList(info.ifFalse, b, out);
        const skip = b.m.br(end);
        out.push({ k: "leaf", e: skip, facts: leafFacts(skip) });
        out.push({ k: "label", name: thenLabel });
        toList(info.ifTrue, b, out);
      }
      out.push({ k: "label", name: end });
      return out;
    }
    case B.LoopId: {
      const info = B.getExpressionInfo(e) as binaryen.LoopInfo;
      const body: Item[] = [];
      if (b.loopPoints) body.push({ k: "point", site: b.newSite("loop"), kind: "loop" });
      toList(info.body, b, body);
      out.push({ k: "loop", name: info.name, body });
      return out;
    }
    case B.CallId:
    case B.CallIndirectId:
      if (b.isExplicitPoint(e)) {
        out.push({ k: "point", site: b.newSite("explicit"), kind: "explicit" });
        return out;
      }
      return pushCall(e, e, undefined, b, out);
    case B.LocalSetId: {
      const info = B.getExpressionInfo(e) as binaryen.LocalSetInfo;
      if (!info.isTee && isCall(info.value)) return pushCall(e, info.value, info.index, b, out);
      break;
    }
    case B.DropId: {
      const info = B.getExpressionInfo(e) as binaryen.DropInfo;
      if (isCall(info.value)) return pushCall(e, info.value, undefined, b, out);
      break;
    }
  }
  throw new UnsupportedError(`after flatten, a ${kindName(e)} still holds a call that may unwind`);
}

function isCall(e: Ref): boolean {
  const id = B.getExpressionId(e);
  return id === B.CallId || id === B.CallIndirectId;
}

function pushCall(stmt: Ref, call: Ref, result: number | undefined, b: ListBuilder, out: Item[]): Item[] {
  for (const c of children(call)) {
    if (holdsSite(c, b)) throw new UnsupportedError("after flatten, a call argument still holds a call that may unwind");
  }
  let target: number | undefined;
  if (B.getExpressionId(call) === B.CallIndirectId) {
    const t = CallIndirect.getTarget(call);
    if (B.getExpressionId(t) === B.LocalGetId) target = (B.getExpressionInfo(t) as binaryen.LocalGetInfo).index;
    else if (B.getExpressionId(t) !== B.ConstId) throw new UnsupportedError("call_indirect target is neither a local nor a constant after flatten");
  }
  if (B.getExpressionId(call) === B.CallId && (B.getExpressionInfo(call) as binaryen.CallInfo).isReturn) {
    throw new UnsupportedError("a tail call (return_call) to a function that may unwind");
  }
  if (B.getExpressionId(call) === B.CallIndirectId && CallIndirect.isReturn(call)) {
    throw new UnsupportedError("a tail call (return_call_indirect) to a function that may unwind");
  }
  const callee = B.getExpressionId(call) === B.CallId ? (B.getExpressionInfo(call) as binaryen.CallInfo).target : undefined;
  out.push({ k: "call", e: stmt, site: b.newSite("call", callee), result, target, uses: localsRead(stmt) });
  return out;
}
