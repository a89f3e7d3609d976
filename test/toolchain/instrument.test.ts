// The instrumentation pass on hand-written WAT, one construct per test:
// each module runs plain and instrumented with capture + restore at every
// k-th migration point, and main's result must not change.
import { describe, expect, it } from "vitest";
import { fromWat, run } from "../helpers.js";

const PRELUDE = `
  (import "popcorn" "current_kernel" (func $kernel (result i32)))
  (memory $mem 1)
  (export "memory" (memory $mem))
  (export "main" (func $main))
`;

function sameResult(wat: string, ks = [1, 2, 5]): number {
  const m = fromWat(`(module ${PRELUDE} ${wat})`);
  const plain = run(m.plain);
  let captures = 0;
  for (const k of ks) {
    const r = run(m.wasm, { checkpointEvery: k });
    expect(r.status, `k = ${k}`).toBe(plain.status);
    captures += r.captures;
  }
  expect(captures).toBeGreaterThan(0);
  return plain.status;
}

describe("instrumentation pass", () => {
  it("resumes inside nested loops, blocks and ifs, through br_table and early returns", () => {
    const status = sameResult(`
      (func $work (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
        (loop $outer
          (local.set $j (i32.const 0))
          (block $done
            (loop $inner
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (block $c (block $b (block $a
                (br_table $a $b $c (i32.rem_u (i32.add (local.get $i) (local.get $j)) (i32.const 3))))
                (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
                (br_if $inner (i32.lt_u (local.get $j) (i32.const 7)))
                (br $done))
                (if (i32.gt_u (local.get $acc) (i32.const 1000)) (then (return (local.get $acc))))
                (local.set $acc (i32.mul (local.get $acc) (i32.const 3))))
              (local.set $acc (i32.xor (local.get $acc) (local.get $j)))
              (br_if $done (i32.ge_u (local.get $j) (i32.const 7)))
              (br $inner)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
        (i32.sub (i32.const 0) (local.get $acc)))
      (func $main (result i32) (i32.add (call $work (i32.const 4)) (call $work (i32.const 40))))
    `);
    expect(status).not.toBe(0);
  });

  it("keeps i64, f32 and f64 values live across calls", () => {
    sameResult(`
      (func $spin (param $n i32) (result f64) (local $x f64)
        (loop $l (local.set $x (f64.add (local.get $x) (f64.const 0.5)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
        (local.get $x))
      (func $main (result i32) (local $a i64) (local $b f32) (local $c f64) (local $i i32)
        (local.set $a (i64.const 0x123456789abcdef))
        (local.set $b (f32.const 1.25))
        (loop $l
          (local.set $c (f64.add (local.get $c) (call $spin (i32.const 3))))
          (local.set $a (i64.add (i64.rotl (local.get $a) (i64.const 7)) (i64.extend_i32_u (local.get $i))))
          (local.set $b (f32.mul (local.get $b) (f32.const 1.5)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
        (i32.xor (i32.wrap_i64 (i64.xor (local.get $a) (i64.shr_u (local.get $a) (i64.const 32))))
          (i32.xor (i32.trunc_f32_s (local.get $b)) (i32.trunc_f64_s (local.get $c)))))
    `);
  });

  it("keeps a v128 value live across a call", () => {
    sameResult(`
      (func $tick (param $n i32) (result i32) (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))) (local.get $n))
      (func $main (result i32) (local $v v128) (local $i i32)
        (local.set $v (v128.const i32x4 1 2 3 4))
        (loop $l
          (local.set $v (i32x4.add (local.get $v) (i32x4.splat (i32.add (call $tick (i32.const 2)) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
        (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 3 (local.get $v))))
    `);
  });

  it("captures and restores a 5,000-frame recursion", () => {
    const m = fromWat(`(module ${PRELUDE}
      (func $down (param $n i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 1))
          (else (i32.add (i32.mul (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 3)) (local.get $n)))))
      (func $main (result i32) (call $down (i32.const 5000))))`);
    const plain = run(m.plain);
    const r = run(m.wasm, { checkpointEvery: 1237 });
    expect(r.status).toBe(plain.status);
    expect(r.captures).toBe(4);
  });

  it("resumes through call_indirect", () => {
    sameResult(`
      (type $op (func (param i32) (result i32)))
      (table 2 funcref)
      (elem (i32.const 0) $inc $twice)
      (func $inc (param $x i32) (result i32) (i32.add (local.get $x) (i32.const 1)))
      (func $twice (param $x i32) (result i32) (local $i i32)
        (loop $l (local.set $x (i32.add (local.get $x) (local.get $x))) (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 2))))
        (local.get $x))
      (func $main (result i32) (local $acc i32) (local $i i32)
        (loop $l
          (local.set $acc (call_indirect (type $op) (local.get $acc) (i32.and (local.get $i) (i32.const 1))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 9))))
        (local.get $acc))
    `);
  });

  it("leaves calls to imports and to uninstrumented functions alone", () => {
    const m = fromWat(`(module ${PRELUDE}
      (func $leaf (param $x i32) (result i32) (i32.mul (local.get $x) (i32.const 7)))
      (func $main (result i32) (local $i i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (i32.add (call $leaf (local.get $i)) (call $kernel))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 6))))
        (local.get $acc)))`);
    expect(m.sites.map((s) => s.kind)).toEqual(["loop"]);
    expect(run(m.wasm, { checkpointEvery: 1 }).status).toBe(run(m.plain).status);
  });

  it("saves values held on the operand stack around a call (a + f(x), g(1, f(x)))", () => {
    const m = fromWat(`(module ${PRELUDE}
      (func $f (param $x i32) (result i32) (loop $l (local.set $x (i32.add (local.get $x) (i32.const 1))) (br_if $l (i32.lt_u (local.get $x) (i32.const 3)))) (local.get $x))
      (func $g (param $a i32) (param $b i32) (result i32) (i32.sub (local.get $a) (local.get $b)))
      (func $main (result i32) (local $a i32)
        (local.set $a (i32.const 40))
        (i32.add
          (i32.add (i32.mul (local.get $a) (i32.const 3)) (call $f (i32.const 0)))
          (call $g (i32.const 100) (call $f (i32.const 1))))))`);
    const callSites = m.sites.filter((s) => s.kind === "call" && s.func === "main");
    expect(callSites.length).toBe(2);
    expect(callSites[0]!.values.length).toBeGreaterThan(0); // a * 3 waits on the stack during f(0)
    const plain = run(m.plain);
    expect(plain.status).toBe(40 * 3 + 3 + (100 - 3));
    for (const k of [1, 2, 3]) expect(run(m.wasm, { checkpointEvery: k }).status).toBe(plain.status);
  });

  it("returns results of every type from instrumented functions", () => {
    sameResult(`
      (func $i (result i64) (local $n i32) (loop $l (local.set $n (i32.add (local.get $n) (i32.const 1))) (br_if $l (i32.lt_u (local.get $n) (i32.const 2)))) (i64.const -5))
      (func $f (result f32) (local $n i32) (loop $l (local.set $n (i32.add (local.get $n) (i32.const 1))) (br_if $l (i32.lt_u (local.get $n) (i32.const 2)))) (f32.const 2.5))
      (func $d (result f64) (local $n i32) (loop $l (local.set $n (i32.add (local.get $n) (i32.const 1))) (br_if $l (i32.lt_u (local.get $n) (i32.const 2)))) (f64.const 4.25))
      (func $main (result i32)
        (i32.add (i32.wrap_i64 (call $i)) (i32.add (i32.trunc_f32_s (f32.mul (call $f) (f32.const 2))) (i32.trunc_f64_s (f64.mul (call $d) (f64.const 4))))))
    `);
  });

  it("refuses a function it cannot handle by name, and stays correct around it", () => {
    const m = fromWat(`(module ${PRELUDE}
      (func $spin (param $n i32) (result i32) (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))) (i32.const 5))
      (func $odd (result i32) (local $r funcref)
        (local.set $r (ref.null func))
        (i32.add (call $spin (i32.const 4)) (ref.is_null (local.get $r))))
      (func $main (result i32) (local $i i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (call $odd)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
        (local.get $acc)))`);
    expect(m.sites.some((s) => s.func === "odd")).toBe(false);
    const plain = run(m.plain);
    expect(plain.status).toBe(24);
    for (const k of [1, 2, 3]) expect(run(m.wasm, { checkpointEvery: k }).status).toBe(24);
  });

  it("counts every migration point it passes, also those it lets go on (checkpoint every k)", () => {
    // main's loop 10 times, $inner's loop 5 times per call (neither is recursive, so neither has an
    // entry point): 10 + 50 = 60 points in all
    const m = fromWat(`(module ${PRELUDE}
      (func $inner (param $x i32) (result i32) (local $j i32)
        (call $kernel) (drop)
        (loop $l (local.set $x (i32.add (local.get $x) (local.get $j)))
          (local.set $j (i32.add (local.get $j) (i32.const 1))) (br_if $l (i32.lt_u (local.get $j) (i32.const 5))))
        (local.get $x))
      (func $main (result i32) (local $i i32) (local $acc i32)
        (loop $l (local.set $acc (call $inner (local.get $acc)))
          (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (local.get $acc)))`);
    const plain = run(m.plain);
    expect(plain.status).toBe(100);
    for (const k of [1, 3, 7, 60, 61]) {
      const r = run(m.wasm, { checkpointEvery: k });
      expect(r.status, `k = ${k}`).toBe(100);
      expect(r.captures, `k = ${k}`).toBe(Math.floor(60 / k));
    }
  });

  it("places only the migration points asked for", () => {
    const wat = `(module
      (import "popcorn" "check_migrate" (func $check)) ${PRELUDE}
      (func $f (param $n i32) (result i32) (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))) (local.get $n))
      (func $r (param $n i32) (result i32)
        (if (result i32) (local.get $n) (then (call $r (i32.sub (local.get $n) (i32.const 1)))) (else (i32.const 0))))
      (func $main (result i32) (call $check) (i32.add (call $f (i32.const 3)) (call $r (i32.const 3)))))`;
    const kinds = (points: ("entry" | "loops" | "explicit")[]) => fromWat(wat, points).sites.map((s) => s.kind).sort();
    expect(kinds(["explicit"])).toEqual(["explicit"]);
    expect(kinds(["loops"])).toEqual(["call", "loop"]);
    expect(kinds(["entry", "loops", "explicit"])).toEqual(["call", "call", "call", "entry", "explicit", "loop"]);
  });

  it("puts entry points on recursion only, direct or through the table, and none on other callers", () => {
    // $even and $odd call each other through the table; $main calls $even directly and is on no cycle
    const m = fromWat(`(module ${PRELUDE}
      (type $t (func (param i32) (result i32)))
      (table 2 funcref) (elem (i32.const 0) $even $odd)
      (func $even (param $n i32) (result i32)
        (if (result i32) (local.get $n) (then (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 1))) (else (i32.const 1))))
      (func $odd (param $n i32) (result i32)
        (if (result i32) (local.get $n) (then (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))) (else (i32.const 0))))
      (func $main (result i32) (i32.add (call $even (i32.const 10)) (call $even (i32.const 7)))))`, ["entry"]);
    const entries = m.sites.filter((s) => s.kind === "entry").map((s) => s.func).sort();
    expect(entries).toEqual(["even", "odd"]);
    const plain = run(m.plain);
    expect(plain.status).toBe(1);
    for (const k of [1, 2, 3]) expect(run(m.wasm, { checkpointEvery: k }).status).toBe(1);
  });

  it("saves a frame of more values than one call may pass (1,201 here: V8 takes 1,000 parameters), in parts", () => {
    // 600 locals live across the first call, 600 others and the sum across the second: each site holds
    // at most 601 values, the function's frame all 1,201
    const n = 1200;
    const locals = Array.from({ length: n }, (_, i) => `(local $l${i} i32)`).join(" ");
    const set = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `(local.set $l${from + k} (i32.const ${from + k + 1}))`).join(" ");
    const sum = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => `(local.set $acc (i32.add (local.get $acc) (local.get $l${from + k})))`).join(" ");
    const m = fromWat(`(module ${PRELUDE}
      (func $tick (param $n i32) (result i32) (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))) (local.get $n))
      (func $main (result i32) (local $acc i32) ${locals}
        ${set(0, 600)} (drop (call $tick (i32.const 3))) ${sum(0, 600)}
        ${set(600, n)} (drop (call $tick (i32.const 3))) ${sum(600, n)}
        (i32.and (local.get $acc) (i32.const 255))))`);
    expect(Math.max(...m.sites.map((s) => s.values.length))).toBeLessThanOrEqual(601);
    const plain = run(m.plain);
    expect(plain.status).toBe(((n * (n + 1)) / 2) & 255);
    for (const k of [1, 2, 5]) {
      const r = run(m.wasm, { checkpointEvery: k });
      expect(r.status, `k = ${k}`).toBe(plain.status);
      expect(r.captures).toBeGreaterThan(0);
    }
  });
});
