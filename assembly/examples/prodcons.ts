// prodcons — a producer and a consumer thread around a bounded ring buffer
// under a Mutex: the producer puts 1..n, the consumer takes n values and sums
// them; each yields when the buffer is full (producer) or empty (consumer).
//
// args: [n=1000]   number of values passed through the buffer.
// Prints `prodcons <n>: sum <s> ok` (or MISMATCH), where ok means the sum is
// n(n+1)/2: every value arrived exactly once. On two kernels the consumer
// runs on kernel 1 and the producer on kernel 0.

import { print, args, Thread, Mutex, yieldThread, spreadOver } from "popcorn";

const CAPACITY: i32 = 8;

// The ring buffer: all of it in memory that main allocated, all of it numbers
// (spawned threads neither allocate nor store references).
@final class Ring {
  slots: StaticArray<i32> = new StaticArray<i32>(CAPACITY);
  head: i32 = 0; // next slot to take
  tail: i32 = 0; // next slot to put
  count: i32 = 0;

  put(v: i32): void {
    unchecked(this.slots[this.tail] = v);
    this.tail = (this.tail + 1) % CAPACITY;
    this.count++;
  }

  take(): i32 {
    const v = unchecked(this.slots[this.head]);
    this.head = (this.head + 1) % CAPACITY;
    this.count--;
    return v;
  }
}

// Globals are copied into each thread at spawn: these are set before it.
const ring = new Ring();
const mutex = new Mutex();
const consumed = new StaticArray<i64>(1);

function producer(n: i32): void {
  let next = 1;
  while (next <= n) {
    mutex.lock();
    const full = ring.count == CAPACITY;
    if (!full) ring.put(next++);
    mutex.unlock();
    if (full) yieldThread();
  }
}

function consumer(n: i32): void {
  spreadOver(1); // on two kernels, the consumer runs on kernel 1: every value crosses kernels under the mutex
  let sum: i64 = 0;
  let left = n;
  while (left > 0) {
    mutex.lock();
    const empty = ring.count == 0;
    if (!empty) {
      sum += <i64>ring.take();
      left--;
    }
    mutex.unlock();
    if (empty) yieldThread();
  }
  consumed[0] = sum;
}

export function main(): i32 {
  const a = args();
  const n = a.length > 0 ? I32.parseInt(a[0]) : 1000;
  const p = Thread.spawn(producer, n);
  const c = Thread.spawn(consumer, n);
  p.join();
  c.join();
  const sum = consumed[0];
  const expected = <i64>n * <i64>(n + 1) / 2;
  print("prodcons " + n.toString() + ": sum " + sum.toString() + (sum == expected ? " ok" : " MISMATCH"));
  return 0;
}
