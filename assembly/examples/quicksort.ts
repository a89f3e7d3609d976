// quicksort — recursive divide and conquer over an i32 array in linear
// memory: a hand-written quicksort (median-of-three pivot, Hoare partition,
// recursion into both halves), on data from a fixed LCG.
//
// args: [count=2000]   number of elements.
// Checks the result is sorted (exit status 1 if not) and prints
// `quicksort(<count>) sorted, checksum = <sum>` where the checksum is
// sum(a[i] * (i + 1)) over the sorted array, in wrapping i64 arithmetic.

import { print, args } from "popcorn";

function quicksort(a: StaticArray<i32>, lo: i32, hi: i32): void {
  if (lo >= hi) return;
  // median of three, moved to a[mid]
  const mid = lo + ((hi - lo) >> 1);
  if (unchecked(a[mid]) < unchecked(a[lo])) swap(a, mid, lo);
  if (unchecked(a[hi]) < unchecked(a[lo])) swap(a, hi, lo);
  if (unchecked(a[hi]) < unchecked(a[mid])) swap(a, hi, mid);
  const pivot = unchecked(a[mid]);
  let i = lo - 1;
  let j = hi + 1;
  while (true) {
    do i++; while (unchecked(a[i]) < pivot);
    do j--; while (unchecked(a[j]) > pivot);
    if (i >= j) break;
    swap(a, i, j);
  }
  quicksort(a, lo, j);
  quicksort(a, j + 1, hi);
}

// @ts-ignore: decorator
@inline
function swap(a: StaticArray<i32>, i: i32, j: i32): void {
  const t = unchecked(a[i]);
  unchecked(a[i] = a[j]);
  unchecked(a[j] = t);
}

export function main(): i32 {
  const a0 = args();
  let count = a0.length > 0 ? I32.parseInt(a0[0]) : 2000;
  if (count < 0) count = 0;
  const a = new StaticArray<i32>(count);
  let seed: u32 = 12345;
  for (let i = 0; i < count; i++) {
    seed = seed * 1103515245 + 12345;
    unchecked(a[i] = <i32>(seed >>> 8) % 100000 - 50000);
  }
  quicksort(a, 0, count - 1);
  let checksum: i64 = 0;
  for (let i = 0; i < count; i++) {
    if (i > 0 && unchecked(a[i - 1]) > unchecked(a[i])) {
      print("quicksort(" + count.toString() + ") NOT SORTED at " + i.toString());
      return 1;
    }
    checksum += <i64>unchecked(a[i]) * <i64>(i + 1);
  }
  const first = count > 0 ? a[0] : 0;
  const last = count > 0 ? a[count - 1] : 0;
  print("min = " + first.toString() + ", max = " + last.toString());
  print("quicksort(" + count.toString() + ") sorted, checksum = " + checksum.toString());
  return 0;
}
