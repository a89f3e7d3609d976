// matmul — dense f64 arithmetic over linear memory: C = A x B for two NxN
// matrices filled deterministically, with the classic i-k-j triple loop.
//
// args: [n=24]   matrix dimension.
// Prints `matmul(<n>) checksum = <sum>` with 6 fixed decimals, where the
// checksum weights every element of C by a small position-dependent factor.

import { print, args } from "popcorn";

function fill(m: StaticArray<f64>, n: i32, seed: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      // small exactly-representable values in [-1, 1)
      const v = ((i * 7 + j * 13 + seed) % 17) - 8;
      unchecked(m[i * n + j] = <f64>v / 8.0);
    }
  }
}

function multiply(a: StaticArray<f64>, b: StaticArray<f64>, c: StaticArray<f64>, n: i32): void {
  for (let i = 0; i < n * n; i++) unchecked(c[i] = 0.0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = unchecked(a[i * n + k]);
      for (let j = 0; j < n; j++) {
        unchecked(c[i * n + j] += aik * b[k * n + j]);
      }
    }
  }
}

// Formats x with exactly `decimals` digits after the point (round half away
// from zero); enough for checksums well inside the i64 range.
function toFixed(x: f64, decimals: i32): string {
  let scale: i64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const neg = x < 0;
  const scaled = <i64>Math.round(Math.abs(x) * <f64>scale);
  const whole = scaled / scale;
  let frac = (scaled % scale).toString();
  while (frac.length < decimals) frac = "0" + frac;
  return (neg && scaled != 0 ? "-" : "") + whole.toString() + (decimals > 0 ? "." + frac : "");
}

export function main(): i32 {
  const a0 = args();
  let n = a0.length > 0 ? I32.parseInt(a0[0]) : 24;
  if (n < 1) n = 1;
  const a = new StaticArray<f64>(n * n);
  const b = new StaticArray<f64>(n * n);
  const c = new StaticArray<f64>(n * n);
  fill(a, n, 1);
  fill(b, n, 5);
  multiply(a, b, c, n);
  let sum = 0.0;
  for (let i = 0; i < n * n; i++) sum += unchecked(c[i]) * <f64>(i % 5 + 1);
  print("c[0] = " + toFixed(c[0], 6) + ", c[last] = " + toFixed(c[n * n - 1], 6));
  print("matmul(" + n.toString() + ") checksum = " + toFixed(sum, 6));
  return 0;
}
