/**
 * Emitting one instrumented function from its item lists (see ir.ts) and the
 * live values of its sites (see liveness.ts).
 *
 * The fast path adds, per migration point, one load of the control word and
 * a branch; per call site, one global read and a branch. Everything else is
 * behind those branches, and the code that saves the frame sits after the
 * body, once for all sites, so that no loop holds a call or a store on its
 * slow path (a call there, even one never taken, keeps V8 from unrolling the
 * loop and makes it spill the loop's values around it):
 *
 *   block $save
 *     point (site s):
 *       if (load ctrl) {
 *         if (ctrl & REWIND) { REW }                    ;; resuming: see below
 *         else { rsite = s; REQUEST }                   ;; see request()
 *       }
 *     call site c:
 *       x = call f(...)
 *       if (unwinding) { rsite = c; br $save }
 *     ...
 *   end
 *   unwinding = 1; save_<sig>(rsite, frame...); return 0
 *
 * The frame is every local live at any site of the function (sites.ts): one
 * save and one restore serve all sites, and the host keeps of it the site's
 * live values (their slots), restoring the rest as zero — locals dead at the
 * site, so no path from it reads them before writing them.
 *
 * REQUEST counts the request down and branches to $save when this is the
 * point to stop at. In a function whose points are all outside loops it
 * does that in place. In a function with a point in a loop, every point
 * branches to one handler after the body instead, so no loop holds a store
 * on its slow path and the function holds the countdown once; a request
 * that does not stop there goes back to right after its point through the
 * rewind dispatch below, locals kept:
 *
 *   loop $resume
 *     block $save
 *       block $request  ...body...  end
 *       countdown; br_if $save (stop here)
 *       ctrl |= REWIND; reentering = 1; br $resume  ;; the prologue skips its restore
 *     end
 *     unwinding = 1; save_<sig>(rsite, frame...); return 0
 *   end
 *
 * Resuming. The host sets REWIND and calls the outermost function again. Its
 * first list begins with a dispatch (merged into the entry point's REW when
 * it has one, else behind a guard of its own):
 *
 *     rsite = rewind_frame()                    ;; prologue: which site
 *     l1 = restore_i(); l2 = restore_F(); ...   ;; the frame
 *     br_table (rsite - the list's first site) -> label before the item holding it
 *
 * Every list is laid out as nested blocks opening at its start, one per
 * label, so the br_table can land before any of its items:
 *
 *   block $enter_loop         ;; closes before the loop
 *     block $enter_call       ;; closes before the call
 *       <dispatch>
 *       ...statements...
 *     end
 *     x = call f(...)         ;; re-executed: f restores its own frame
 *     ...
 *   end
 *   loop $L
 *     <point, whose REW is: if (rsite == s) clear REWIND else br_table ...>
 *     ...
 *
 * A call site is resumed by calling again (the callee rewinds itself; its
 * arguments are ignored); the point the thread stopped at clears REWIND,
 * which ends the rewind, and execution continues right after it.
 */
import binaryen from "binaryen";
import {
  COUNTDOWN_OFFSET,
  CTRL_PTR_GLOBAL,
  CTRL_REWIND,
  CTRL_URGENT,
  NOCAPTURE_GLOBAL,
  RT_MODULE,
  TYPE_LETTER,
  UNWINDING_GLOBAL,
  type ValueType,
} from "../abi.js";
import { type Ref, binaryenType, zero } from "./exprs.js";
import type { Item } from "./ir.js";

const B = binaryen;

/** Values per save call at most (a v128 counts two): well under V8's limit of 1,000 parameters. */
const SAVE_PART = 500;

export interface FunctionFrame {
  m: binaryen.Module;
  results: number;
  localTypes: ValueType[];
  /** the locals the function saves and restores at every site (sites.ts: its frame), in order */
  frame: number[];
  rsite: number;
  /** an i32 local: set while the function re-enters itself after a request it let pass */
  reentering: number;
  rt: RuntimeImports;
  newLabel(hint: string): string;
}

/** The popcorn_rt imports, added to the module on first use. */
export class RuntimeImports {
  private added = new Set<string>();
  constructor(private m: binaryen.Module) {}

  private use(name: string, params: number[], result: number): string {
    const internal = `${RT_MODULE}.${name}`;
    if (!this.added.has(internal)) {
      this.m.addFunctionImport(internal, RT_MODULE, name, B.createType(params), result);
      this.added.add(internal);
    }
    return internal;
  }

  rewindFrame(): string { return this.use("rewind_frame", [], B.i32); }
  restore(t: Exclude<ValueType, "v128">): string { return this.use(`restore_${TYPE_LETTER[t]}`, [], binaryenType(t)); }
  /** save_<sig>(site, values...), or with `more` save_more_<sig>(values...): a part of a frame that has more values than one call may pass */
  save(types: ValueType[], more = false): string {
    const params = more ? [] : [B.i32];
    for (const t of types) params.push(...(t === "v128" ? [B.i64, B.i64] : [binaryenType(t)]));
    return this.use(`save_${more ? "more_" : ""}${types.map((t) => TYPE_LETTER[t]).join("")}`, params, B.none);
  }
}

export function emitFunctionBody(f: FunctionFrame, body: Item[]): Ref {
  const m = f.m;
  const ctrlPtr = () => m.global.get(CTRL_PTR_GLOBAL, B.i32);
  const ctrl = () => m.i32.load(0, 4, ctrlPtr());
  const rewinding = () => m.i32.and(ctrl(), m.i32.const(CTRL_REWIND));
  const endRewind = () => m.drop(m.i32.atomic.rmw.and(0, ctrlPtr(), m.i32.const(~CTRL_REWIND)));
  const ret = () => (f.results === B.none ? m.return() : m.return(zero(m, f.results)));

  // One save and one restore serve every site of the function: they pass its
  // frame, every local live at any site (sites.ts), and rsite says which site.
  const frameTypes = f.frame.map((l) => f.localTypes[l]!);
  // A frame of more values than a call may pass (V8 takes up to 1,000
  // parameters) goes in parts: save_more_<sig> calls first, save_<sig> with
  // the site and the last part (the host joins them).
  const saveFrame = (): Ref => {
    const parts: { types: ValueType[]; args: Ref[] }[] = [{ types: [], args: [] }];
    f.frame.forEach((l, i) => {
      const t = frameTypes[i]!;
      let part = parts[parts.length - 1]!;
      if (part.args.length >= SAVE_PART) parts.push((part = { types: [], args: [] }));
      const get = () => m.local.get(l, binaryenType(t));
      part.types.push(t);
      if (t === "v128") part.args.push(m.i64x2.extract_lane(get(), 0), m.i64x2.extract_lane(get(), 1));
      else part.args.push(get());
    });
    const last = parts.pop()!;
    return m.block(null, [
      ...parts.map((p) => m.call(f.rt.save(p.types, true), p.args, B.none)),
      m.call(f.rt.save(last.types), [m.local.get(f.rsite, B.i32), ...last.args], B.none),
    ]);
  };

  const restoreFrame = (): Ref[] =>
    f.frame.map((l) => {
      const t = f.localTypes[l]!;
      if (t !== "v128") return m.local.set(l, m.call(f.rt.restore(t), [], binaryenType(t)));
      const lane = () => m.call(f.rt.restore("i64"), [], B.i64);
      const v = m.i64x2.replace_lane(m.i64x2.replace_lane(zero(m, B.v128), 0, lane()), 1, lane());
      return m.local.set(l, v);
    });

  // A function with a point in a loop hands its points' requests to one
  // handler after the body (see request), which may send the thread back to
  // where it was through the rewind dispatch: `reentering` then skips the
  // prologue's restore, the locals being as they are.
  const inLoop = (items: Item[], depth: number): boolean =>
    items.some((it) => (it.k === "point" && depth > 0) || (it.k === "loop" && inLoop(it.body, depth + 1)));
  const shared = inLoop(body, 0);
  const requestLabel = f.newLabel("request");
  const resumeLabel = f.newLabel("resume");
  const restore = [m.local.set(f.rsite, m.call(f.rt.rewindFrame(), [], B.i32)), ...restoreFrame()];
  const prologue = (): Ref[] =>
    shared ? [m.if(m.local.get(f.reentering, B.i32), m.local.set(f.reentering, m.i32.const(0)), m.block(null, restore))] : restore;

  // Every site unwinds by a branch to one block around the whole body, whose
  // end saves the frame and returns (see the tail below): no loop holds a
  // call on its fast path, so the engine may still unroll it.
  const saveLabel = f.newLabel("save");
  const unwind = (site: number): Ref[] => [m.local.set(f.rsite, m.i32.const(site)), m.br(saveLabel)];

  /**
   * A point found the request bit set (the site in rsite). Points under a
   * refused function do not count; the point that takes the countdown to
   * zero, or any point of an urgent request, unwinds, any other goes on
   * (see the header: inline, or once per function after the body —
   * measured: matmul ×1.36 with the countdown in its loop, ×1.2 without).
   * It makes no call: a call that returns, even on a path never
   * taken, makes V8 keep the function's live values in memory from their
   * definition on (measured: fib ×1.28 → ×1.40 with a host call here).
   */
  const request = (goOn: Ref): Ref => {
    const cd = () => m.i32.load(COUNTDOWN_OFFSET, 4, ctrlPtr());
    return m.block(null, [
      m.if(
        m.i32.eqz(m.global.get(NOCAPTURE_GLOBAL, B.i32)),
        m.block(null, [
          // a plain decrement (an atomic one cost ~10 % on matmul): a request the kernel writes meanwhile
          // cannot be lost to it, because an urgent one also sets CTRL_URGENT, which stops here at once
          m.i32.store(COUNTDOWN_OFFSET, 4, ctrlPtr(), m.i32.sub(cd(), m.i32.const(1))),
          m.br(saveLabel, m.i32.or(m.i32.le_s(cd(), m.i32.const(0)), m.i32.and(ctrl(), m.i32.const(CTRL_URGENT)))),
        ]),
      ),
      goOn,
    ]);
  };

  const point = (site: number, rew: Ref[] | undefined): Ref => {
    const here = m.local.set(f.rsite, m.i32.const(site));
    const asked = shared ? m.block(null, [here, m.br(requestLabel)]) : m.block(null, [here, request(m.nop())]);
    return m.if(ctrl(), m.if(rewinding(), m.block(null, rew ?? [endRewind()]), asked));
  };

  const sitesOf = (it: Item, acc: number[] = []): number[] => {
    if (it.k === "call" || it.k === "point") acc.push(it.site);
    else if (it.k === "loop") for (const c of it.body) sitesOf(c, acc);
    return acc;
  };

  const list = (items: Item[], pro: Ref[]): Ref => {
    const merged = items[0]?.k === "point" && (pro.length === 0 || items[0].kind === "entry");
    const entries = new Map<number, string>();
    const owner = new Map<number, string>();
    items.forEach((it, i) => {
      if (merged && i === 0) return;
      const sites = sitesOf(it);
      if (!sites.length) return;
      const label = f.newLabel("enter");
      entries.set(i, label);
      for (const s of sites) owner.set(s, label);
    });
    let dispatch: Ref | undefined;
    if (owner.size) {
      const lo = Math.min(...owner.keys());
      const hi = Math.max(...owner.keys());
      const names: string[] = [];
      for (let s = lo; s <= hi; s++) names.push(owner.get(s) ?? names[names.length - 1] ?? owner.get(hi)!);
      dispatch = m.switch(names, names[names.length - 1]!, m.i32.sub(m.local.get(f.rsite, B.i32), m.i32.const(lo)));
    }
    let acc: Ref[] = [];
    if (!merged && (dispatch || pro.length)) {
      acc.push(m.if(ctrl(), m.if(rewinding(), m.block(null, [...pro, ...(dispatch ? [dispatch] : [])]))));
    }
    items.forEach((it, i) => {
      const label = entries.get(i);
      if (label) acc = [m.block(label, acc, B.auto)];
      switch (it.k) {
        case "label":
          acc = [m.block(it.name, acc, B.auto)];
          break;
        case "leaf":
          acc.push(it.e);
          break;
        case "call":
          acc.push(it.e, m.if(m.global.get(UNWINDING_GLOBAL, B.i32), m.block(null, unwind(it.site))));
          break;
        case "point": {
          let rew: Ref[] | undefined;
          if (merged && i === 0) {
            const resume = m.if(m.i32.eq(m.local.get(f.rsite, B.i32), m.i32.const(it.site)), endRewind(), dispatch);
            rew = [...pro, resume];
          }
          acc.push(point(it.site, rew));
          break;
        }
        case "loop":
          acc.push(m.loop(it.name, list(it.body, [])));
          break;
      }
    });
    return m.block(null, acc, B.auto);
  };

  const main = list(body, prologue());
  const bodyType = B.getExpressionType(main);
  let whole = bodyType === B.none || bodyType === B.unreachable ? m.block(null, [main, ret()]) : m.return(main);
  if (shared) {
    const goOn = m.block(null, [m.drop(m.i32.atomic.rmw.or(0, ctrlPtr(), m.i32.const(CTRL_REWIND))), m.local.set(f.reentering, m.i32.const(1)), m.br(resumeLabel)]);
    whole = m.block(null, [m.block(requestLabel, [whole]), request(goOn)]);
  }
  const tail = m.block(null, [m.block(saveLabel, [whole]), m.global.set(UNWINDING_GLOBAL, m.i32.const(1)), saveFrame(), ret()]);
  return shared ? m.loop(resumeLabel, tail) : tail;
}
