// count — the counting benchmark (single-threaded): one tight counting loop
// over an i64 accumulator with a cheap mix so the loop cannot be folded away.
//
// args: [load=100000]   number of counting iterations.
// Prints `count(<load>) = <acc>`.

import { print, args } from "popcorn";

export function main(): i32 {
  const a = args();
  const load = a.length > 0 ? I32.parseInt(a[0]) : 100000;
  let acc: i64 = 0;
  for (let i: i32 = 0; i < load; i++) {
    acc = (acc ^ (acc >>> 13)) + <i64>i;
  }
  print("count(" + load.toString() + ") = " + acc.toString());
  return 0;
}
