// fib — deep call trees: naive doubly-recursive fib(n), then one linear
// recursion to a given depth that does its work on the way back up.
//
// args: [n=20] [depth=1000]
//   n       argument of fib (i32 result; fib(46) is the largest that fits)
//   depth   recursion depth of deep(), which sums a mixed value per frame
//           as the calls return.
// Prints `fib(<n>) = <v>`, `deep(<depth>) = <sum>`.

import { print, args } from "popcorn";

function fib(n: i32): i32 {
  if (n < 2) return n;
  return fib(n - 1) + fib(n - 2);
}

// Not a tail call: the multiply-add happens after the recursive call returns,
// so every frame stays live until the bottom is reached.
function deep(d: i32): i64 {
  if (d <= 0) return 1;
  const below = deep(d - 1);
  return below * 31 + <i64>(d ^ (d >>> 3));
}

export function main(): i32 {
  const a = args();
  const n = a.length > 0 ? I32.parseInt(a[0]) : 20;
  const depth = a.length > 1 ? I32.parseInt(a[1]) : 1000;
  print("fib(" + n.toString() + ") = " + fib(n).toString());
  print("deep(" + depth.toString() + ") = " + deep(depth).toString());
  return 0;
}
