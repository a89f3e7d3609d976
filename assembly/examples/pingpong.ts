// pingpong — the guest of `popcorn bench migrate`: a stack `depth` frames
// deep and `dirty` KiB of memory written before each of `hops` migrations,
// each to the next kernel.
//
// args: [depth=10] [dirtyKiB=64] [hops=20] [rewrite=1] [gap=0]
//   rewrite 0: write the memory before the first hop only, so that every
//   later hop has nothing new to send.
//   gap: iterations of a counting loop between hops (about 1 ns each), so
//   that each migration starts on kernels that have finished the last one.
// Prints `pingpong depth=<d> dirty=<k>KiB hops=<h> sum=<s>`.

import { print, args, migrate, currentKernel, kernelCount } from "popcorn";

let buf = new Uint8Array(0);

function fill(h: i32): void {
  const n = buf.length;
  for (let i = 0; i < n; i += 8) store<u64>(changetype<usize>(buf.dataStart) + i, <u64>(h * 0x9e3779b9 + i));
}

function spin(n: i32): i32 {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x ^ (x >>> 3)) + i;
  return x;
}

function hopAt(depth: i32, hops: i32, rewrite: bool, gap: i32): i32 {
  if (depth > 1) return hopAt(depth - 1, hops, rewrite, gap) + 1; // not a tail call: the frame stays
  let sum = 0;
  for (let h = 0; h < hops; h++) {
    sum += spin(gap) & 1;
    if (rewrite || h == 0) fill(h);
    migrate((currentKernel() + 1) % kernelCount());
    sum += buf.length > 0 ? buf[(h * 4099) % buf.length] : h;
  }
  return sum;
}

export function main(): i32 {
  const a = args();
  const depth = a.length > 0 ? I32.parseInt(a[0]) : 10;
  const dirty = a.length > 1 ? I32.parseInt(a[1]) : 64;
  const hops = a.length > 2 ? I32.parseInt(a[2]) : 20;
  const rewrite = a.length > 3 ? I32.parseInt(a[3]) != 0 : true;
  const gap = a.length > 4 ? I32.parseInt(a[4]) : 0;
  buf = new Uint8Array(dirty * 1024);
  const sum = hopAt(depth, hops, rewrite, gap);
  print("pingpong depth=" + depth.toString() + " dirty=" + dirty.toString() + "KiB hops=" + hops.toString() + " sum=" + sum.toString());
  return 0;
}
