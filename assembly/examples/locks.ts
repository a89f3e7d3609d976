// locks — what a syscall costs: `threads` threads (main alone when 1) each
// take and release one Mutex `n` times, adding 1 to a shared total while
// they hold it, and add 1 to an AtomicCounter `n` times. Every lock, unlock
// and add is a syscall made at the process's origin; `popcorn run --dmesg`
// says at the end how many were made while the thread waited on its core
// (also from another kernel, which asks the origin meanwhile) and how many
// after it stopped (a lock another thread held).
//
// args: [threads=1] [n=1000]
// Prints `locks <threads>x<n>: <total> <counter> ok` (or MISMATCH), where ok
// means the total and the counter both come to threads × n.

import { print, args, Thread, Mutex, AtomicCounter } from "popcorn";

// Set before the first spawn: globals are copied into each thread.
const mutex = new Mutex();
const counter = new AtomicCounter(0);
const total = new StaticArray<i32>(1);
let n: i32 = 1000;

function worker(_: i32): void {
  for (let i = 0; i < n; i++) {
    mutex.lock();
    unchecked(total[0] = total[0] + 1);
    mutex.unlock();
    counter.add(1);
  }
}

export function main(): i32 {
  const a = args();
  const threads = a.length > 0 ? max(I32.parseInt(a[0]), 1) : 1;
  n = a.length > 1 ? I32.parseInt(a[1]) : 1000;
  if (threads == 1) worker(0);
  else {
    const ts = new StaticArray<Thread>(threads);
    for (let i = 0; i < threads; i++) ts[i] = Thread.spawn(worker, i);
    for (let i = 0; i < threads; i++) ts[i].join();
  }
  const expected = threads * n;
  const c = counter.get();
  const t = total[0];
  print("locks " + threads.toString() + "x" + n.toString() + ": " + t.toString() + " " + c.toString() + (t == expected && c == expected ? " ok" : " MISMATCH"));
  return 0;
}
