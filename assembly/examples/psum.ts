// psum — a parallel sum combined at join: main fills an array, `threads`
// threads each sum one slice into a slot of their own, and main adds the
// slots up after joining them. Every thread also adds the number of elements
// it summed to an AtomicCounter, which must come to n. Thread i moves to
// kernel i mod kernelCount() first, so on two kernels they share the memory
// across kernels.
//
// args: [threads=4] [n=100000]
// Prints `psum <n>: <sum> ok counted <c>` (or MISMATCH), where ok means the
// sum equals main's own sequential sum and the counter equals n.

import { print, args, Thread, AtomicCounter, spreadOver } from "popcorn";

// Set by main before the first spawn; globals are copied into each thread.
let threads: i32 = 4;
let data = new StaticArray<i32>(0);
let partial = new StaticArray<i64>(0);
const counted = new AtomicCounter();

function worker(index: i32): void {
  spreadOver(index); // thread i runs on kernel i mod kernelCount()
  const n = data.length;
  const lo = <i32>(<i64>index * <i64>n / <i64>threads);
  const hi = <i32>(<i64>(index + 1) * <i64>n / <i64>threads);
  let sum: i64 = 0;
  for (let i = lo; i < hi; i++) sum += <i64>unchecked(data[i]);
  partial[index] = sum;
  counted.add(hi - lo);
}

export function main(): i32 {
  const a = args();
  threads = a.length > 0 ? I32.parseInt(a[0]) : 4;
  const n = a.length > 1 ? I32.parseInt(a[1]) : 100000;
  data = new StaticArray<i32>(n);
  for (let i = 0; i < n; i++) unchecked(data[i] = (i * 7919) % 10007 - 5003);
  partial = new StaticArray<i64>(threads);

  const running = new StaticArray<Thread>(threads);
  for (let k = 0; k < threads; k++) running[k] = Thread.spawn(worker, k);
  let sum: i64 = 0;
  for (let k = 0; k < threads; k++) {
    running[k].join();
    sum += partial[k];
  }

  let expected: i64 = 0;
  for (let i = 0; i < n; i++) expected += <i64>unchecked(data[i]);
  const c = counted.get();
  const ok = sum == expected && c == n;
  print("psum " + n.toString() + ": " + sum.toString() + (ok ? " ok" : " MISMATCH") + " counted " + c.toString());
  return 0;
}
