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
// (the same on one kernel or several). `load` is a whole number up to
// MAX_LOAD (beyond 2^31: a run of minutes to watch with `popcorn ps`);
// anything else is refused with a message and exit status 1 (an abort).

import { print, args, Thread } from "popcorn";

/** far beyond any run's patience (about 10^8 iterations a second), and what 18 digits hold: no overflow */
const MAX_LOAD: i64 = 999_999_999_999_999_999;
/** more threads than this would only queue for the cores */
const MAX_THREADS: i64 = 1024;

// The benchmark load. Starting from acc = 0 it is exactly the single-threaded
// loop this program always ran (the overhead benchmark times it); the counter
// is an i64 so that a load may pass 2^31, which changes no result below it.
function count(seed: i64, load: i64): i64 {
  let acc = seed;
  for (let i: i64 = 0; i < load; i++) {
    acc = (acc ^ (acc >>> 13)) + i;
  }
  return acc;
}

/** `s` as a whole number in min..max, or an abort naming the argument and its range. */
function parseArg(s: string, what: string, min: i64, max: i64): i64 {
  let digits = s.length > 0 && s.length <= 18;
  for (let k = 0; digits && k < s.length; k++) {
    const c = s.charCodeAt(k);
    digits = c >= 48 && c <= 57;
  }
  const n = digits ? I64.parseInt(s) : -1;
  if (n < min || n > max) {
    throw new Error(`count: ${what} "${s}" is not a whole number from ${min.toString()} to ${max.toString()} — usage: count [load] | count <threads> <load>`);
  }
  return n;
}

// Shared with the threads (globals are copied into a thread when it is
// spawned, so they are written before the first spawn and only read after).
let load: i64 = 0;
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
  if (a.length > 2) throw new Error(`count: ${a.length.toString()} arguments — usage: count [load] | count <threads> <load>`);
  if (a.length == 2) {
    const threads = <i32>parseArg(a[0], "threads", 1, MAX_THREADS);
    load = parseArg(a[1], "load", 0, MAX_LOAD);
    const combined = counted(threads);
    print("count(" + threads.toString() + "x" + load.toString() + ") = " + combined.toString());
    return 0;
  }
  load = a.length > 0 ? parseArg(a[0], "load", 0, MAX_LOAD) : 100000;
  print("count(" + load.toString() + ") = " + count(0, load).toString());
  return 0;
}
