/**
 * Reading binaryen expressions generically: the children of any expression
 * the pass may meet, in evaluation order, and a few predicates on top.
 *
 * binaryen.js describes an expression with `getExpressionInfo`, whose child
 * fields differ per kind; CHILD_FIELDS lists them. An expression kind that is
 * not listed makes the function that holds it unsupported (the pass refuses
 * that function with the kind's name rather than guess).
 */
import binaryen from "binaryen";
import type { ValueType } from "../abi.js";

export type Ref = number;
const B = binaryen;

const CHILD_FIELDS = new Map<number, string[]>([
  [B.NopId, []],
  [B.BlockId, ["children"]],
  [B.IfId, ["condition", "ifTrue", "ifFalse"]],
  [B.LoopId, ["body"]],
  [B.BreakId, ["value", "condition"]],
  [B.SwitchId, ["value", "condition"]],
  [B.CallId, ["operands"]],
  [B.CallIndirectId, ["operands", "target"]],
  [B.LocalGetId, []],
  [B.LocalSetId, ["value"]],
  [B.GlobalGetId, []],
  [B.GlobalSetId, ["value"]],
  [B.LoadId, ["ptr"]],
  [B.StoreId, ["ptr", "value"]],
  [B.ConstId, []],
  [B.UnaryId, ["value"]],
  [B.BinaryId, ["left", "right"]],
  [B.SelectId, ["ifTrue", "ifFalse", "condition"]],
  [B.DropId, ["value"]],
  [B.ReturnId, ["value"]],
  [B.MemorySizeId, []],
  [B.MemoryGrowId, ["delta"]],
  [B.UnreachableId, []],
  [B.AtomicRMWId, ["ptr", "value"]],
  [B.AtomicCmpxchgId, ["ptr", "expected", "replacement"]],
  [B.AtomicWaitId, ["ptr", "expected", "timeout"]],
  [B.AtomicNotifyId, ["ptr", "notifyCount"]],
  [B.AtomicFenceId, []],
  [B.SIMDExtractId, ["vec"]],
  [B.SIMDReplaceId, ["vec", "value"]],
  [B.SIMDShuffleId, ["left", "right"]],
  [B.SIMDTernaryId, ["a", "b", "c"]],
  [B.SIMDShiftId, ["vec", "shift"]],
  [B.SIMDLoadId, ["ptr"]],
  [B.SIMDLoadStoreLaneId, ["ptr", "vec"]],
  [B.MemoryInitId, ["dest", "offset", "size"]],
  [B.DataDropId, []],
  [B.MemoryCopyId, ["dest", "source", "size"]],
  [B.MemoryFillId, ["dest", "value", "size"]],
  [B.RefNullId, []],
  [B.RefIsNullId, ["value"]],
  [B.RefFuncId, []],
  [B.RefEqId, ["left", "right"]],
  [B.TableGetId, ["index"]],
  [B.TableSetId, ["index", "value"]],
  [B.TableSizeId, []],
  [B.TableGrowId, ["value", "delta"]],
]);

const ID_NAMES = new Map<number, string>(
  Object.entries(B)
    .filter(([k, v]) => k.endsWith("Id") && typeof v === "number")
    .map(([k, v]) => [v as number, k.slice(0, -2)]),
);

export function kindName(e: Ref): string {
  return ID_NAMES.get(B.getExpressionId(e)) ?? `expression #${B.getExpressionId(e)}`;
}

export class UnsupportedError extends Error {}

/** Direct children of `e`, in evaluation order. */
export function children(e: Ref): Ref[] {
  const fields = CHILD_FIELDS.get(B.getExpressionId(e));
  if (!fields) throw new UnsupportedError(`contains ${kindName(e)}, which the pass does not support`);
  if (fields.length === 0) return [];
  const info = B.getExpressionInfo(e) as unknown as Record<string, unknown>;
  const out: Ref[] = [];
  for (const f of fields) {
    const v = info[f];
    if (Array.isArray(v)) out.push(...(v as Ref[]));
    else if (typeof v === "number" && v !== 0) out.push(v);
  }
  return out;
}

/** Calls `visit` on `e` and every expression below it (pre-order). */
export function walk(e: Ref, visit: (x: Ref) => void): void {
  const stack = [e];
  while (stack.length) {
    const x = stack.pop()!;
    visit(x);
    const cs = children(x);
    for (let i = cs.length - 1; i >= 0; i--) stack.push(cs[i]!);
  }
}

export function valueType(t: number, where: string): ValueType {
  switch (t) {
    case B.i32: return "i32";
    case B.i64: return "i64";
    case B.f32: return "f32";
    case B.f64: return "f64";
    case B.v128: return "v128";
    default:
      throw new UnsupportedError(`${where} has a value of ${B.expandType(t).length > 1 ? "tuple" : "reference"} type, which the pass does not support`);
  }
}

export function binaryenType(t: ValueType): number {
  return { i32: B.i32, i64: B.i64, f32: B.f32, f64: B.f64, v128: B.v128 }[t];
}

/** A zero constant of type `t`. */
export function zero(m: binaryen.Module, t: number): Ref {
  switch (t) {
    case B.i32: return m.i32.const(0);
    case B.i64: return (m.i64.const as unknown as (v: bigint) => Ref)(0n);
    case B.f32: return m.f32.const(0);
    case B.f64: return m.f64.const(0);
    case B.v128: return m.v128.const([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    default: throw new UnsupportedError("a result of reference type is not supported");
  }
}

/** Parts of binaryen.js that its type declarations omit. */
interface CallIndirectApi {
  getParams(e: Ref): number;
  getResults(e: Ref): number;
  getTarget(e: Ref): Ref;
  isReturn(e: Ref): boolean;
}
interface FunctionApi {
  hasLocalName(f: number, i: number): boolean;
  getLocalName(f: number, i: number): string;
  setLocalName(f: number, i: number, name: string): void;
}
export const CallIndirect = (binaryen as unknown as { CallIndirect: CallIndirectApi }).CallIndirect;
export const Fn = (binaryen as unknown as { Function: FunctionApi }).Function;
