// stencil — a barrier-phased 1-D three-point stencil: `threads` threads each
// own a slice of an f64 array; every step, each computes its slice of the new
// array from the old one (a cell becomes the mean of itself and its two
// neighbours; the two end cells stay fixed), then all meet at a Barrier and
// swap old and new. Main then computes the same steps alone and compares.
//
// args: [threads=2] [steps=20]
// Prints `stencil <threads>x<steps>: <checksum> ok` (or MISMATCH), where the
// checksum is the sum of the final array and ok means the threaded result
// equals the sequential one bit for bit.

import { print, args, Thread, Barrier, spreadOver } from "popcorn";

const CELLS: i32 = 256;

// Set by main before the first spawn; globals are copied into each thread.
let threads: i32 = 2;
let steps: i32 = 20;
let gridA = new StaticArray<f64>(0);
let gridB = new StaticArray<f64>(0);
let barrier = new Barrier(1);

function initial(i: i32): f64 {
  return <f64>((i * 37) % 101) / 4.0;
}

// One step on cells [lo, hi) of `to`, from `from`.
function relax(from: StaticArray<f64>, to: StaticArray<f64>, lo: i32, hi: i32): void {
  for (let i = lo; i < hi; i++) {
    if (i == 0 || i == CELLS - 1) unchecked(to[i] = from[i]);
    else unchecked(to[i] = (from[i - 1] + from[i] + from[i + 1]) / 3.0);
  }
}

function worker(index: i32): void {
  spreadOver(index); // thread i runs on kernel i mod kernelCount(): neighbours' cells cross kernels
  const lo = index * CELLS / threads;
  const hi = (index + 1) * CELLS / threads;
  let from = gridA;
  let to = gridB;
  for (let s = 0; s < steps; s++) {
    relax(from, to, lo, hi);
    barrier.wait(); // everyone has written `to` and is done reading `from`
    const t = from;
    from = to;
    to = t;
  }
}

function checksum(g: StaticArray<f64>): f64 {
  let sum = 0.0;
  for (let i = 0; i < CELLS; i++) sum += unchecked(g[i]);
  return sum;
}

export function main(): i32 {
  const a = args();
  threads = a.length > 0 ? I32.parseInt(a[0]) : 2;
  steps = a.length > 1 ? I32.parseInt(a[1]) : 20;
  gridA = new StaticArray<f64>(CELLS);
  gridB = new StaticArray<f64>(CELLS);
  for (let i = 0; i < CELLS; i++) unchecked(gridA[i] = initial(i));
  barrier = new Barrier(threads);

  const running = new StaticArray<Thread>(threads);
  for (let k = 0; k < threads; k++) running[k] = Thread.spawn(worker, k);
  for (let k = 0; k < threads; k++) running[k].join();
  const parallel = steps % 2 == 0 ? gridA : gridB;

  let from = new StaticArray<f64>(CELLS);
  let to = new StaticArray<f64>(CELLS);
  for (let i = 0; i < CELLS; i++) unchecked(from[i] = initial(i));
  for (let s = 0; s < steps; s++) {
    relax(from, to, 0, CELLS);
    const t = from;
    from = to;
    to = t;
  }
  let same = true;
  for (let i = 0; i < CELLS; i++) if (unchecked(from[i]) != unchecked(parallel[i])) same = false;

  print("stencil " + threads.toString() + "x" + steps.toString() + ": " + checksum(parallel).toString() + (same ? " ok" : " MISMATCH"));
  return 0;
}
