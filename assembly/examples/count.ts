// count — the counting benchmark: one tight counting loop over an i64
// accumulator with a cheap mix so the loop cannot be folded away; with two
// arguments, the same loop in N threads at once.
//
// args: [load=100000]          one thread (main) counts `load` iterations.
//       <threads> <load>       main spawns `threads` threads; thread k runs
//                              the loop `load` times on an accumulator seeded
//                              with k and stores it in results[k]; main joins
//                              them all and adds the results up (wrapping).
// Prints `count(<load>) = <acc>`, or `count(<threads>x<load>) = <combined>`
// (the same on one kernel or several).

import { print, args, Thread } from "popcorn";

// The benchmark load. Starting from acc = 0 it is exactly the single-threaded
// loop this program always ran (the overhead benchmark times it).
function count(seed: i64, load: i32): i64 {
  let acc = seed;
  for (let i: i32 = 0; i < load; i++) {
    acc = (acc ^ (acc >>> 13)) + <i64>i;
  }
  return acc;
}

// Shared with the threads (globals are copied into a thread when it is
// spawned, so they are written before the first spawn and only read after).
let load: i32 = 0;
let results = new StaticArray<i64>(0);

function worker(index: i32): void {
  unchecked(results[index] = count(<i64>index, load));
}

function counted(threads: i32): i64 {
  results = new StaticArray<i64>(threads);
  const running = new StaticArray<Thread>(threads);
  for (let k = 0; k < threads; k++) running[k] = Thread.spawn(worker, k);
  let combined: i64 = 0;
  for (let k = 0; k < threads; k++) {
    running[k].join();
    combined += results[k];
  }
  return combined;
}

export function main(): i32 {
  const a = args();
  if (a.length > 1) {
    const threads = I32.parseInt(a[0]);
    load = I32.parseInt(a[1]);
    const combined = counted(threads);
    print("count(" + threads.toString() + "x" + load.toString() + ") = " + combined.toString());
    return 0;
  }
  load = a.length > 0 ? I32.parseInt(a[0]) : 100000;
  print("count(" + load.toString() + ") = " + count(0, load).toString());
  return 0;
}
