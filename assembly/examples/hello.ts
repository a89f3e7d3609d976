// hello — the smallest migrating program: straight-line code that hops
// between the two kernels and says where it is after each hop.
//
// args: [hops=2]   number of migrations; each goes to the next kernel: from
//                  the kernel it started on (its origin) each other kernel in
//                  turn, from elsewhere back to the origin — a process moves
//                  between its origin and another kernel. With one kernel, a
//                  migration to itself: a checkpoint/restore round trip.
// Prints one `Hello from kernel <n> (<isa>)` line at start and after every hop,
// then a final `hops = <n>` line.

import { print, args, migrate, currentKernel, currentIsa, kernelCount } from "popcorn";

function hello(): void {
  print("Hello from kernel " + currentKernel().toString() + " (" + currentIsa() + ")");
}

export function main(): i32 {
  const a = args();
  const hops = a.length > 0 ? I32.parseInt(a[0]) : 2;
  const origin = currentKernel();
  const n = kernelCount();
  hello();
  for (let i = 1; i <= hops; i++) {
    const here = currentKernel();
    migrate(here != origin || n == 1 ? origin : (origin + 1 + ((i >> 1) % (n - 1))) % n);
    hello();
  }
  print("hops = " + hops.toString());
  return 0;
}
