/** Small statistics helpers for the benchmarks: medians, geometric means, spreads. */

function nonEmpty(xs: readonly number[], what: string): void {
  if (xs.length === 0) throw new RangeError(`${what} of an empty list`);
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  nonEmpty(xs, "median");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between closest ranks. */
export function quantile(xs: readonly number[], q: number): number {
  nonEmpty(xs, "quantile");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside 0..1`);
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** The geometric mean of positive values: the right mean for ratios. */
export function geomean(xs: readonly number[]): number {
  nonEmpty(xs, "geomean");
  let logSum = 0;
  for (const x of xs) {
    if (!(x > 0)) throw new RangeError(`geomean needs positive values, got ${x}`);
    logSum += Math.log(x);
  }
  return Math.exp(logSum / xs.length);
}

export function mean(xs: readonly number[]): number {
  nonEmpty(xs, "mean");
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function min(xs: readonly number[]): number {
  nonEmpty(xs, "min");
  return Math.min(...xs);
}

export function max(xs: readonly number[]): number {
  nonEmpty(xs, "max");
  return Math.max(...xs);
}

/**
 * Median absolute deviation relative to the median: a robust measure of run
 * to run noise (0.02 = the typical run is 2 % away from the median).
 */
export function relativeMad(xs: readonly number[]): number {
  const m = median(xs);
  return m === 0 ? 0 : median(xs.map((x) => Math.abs(x - m))) / m;
}

/** Rounds to `digits` decimals (for JSON output that stays readable). */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
