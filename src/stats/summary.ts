// Statistics with the names users know from hyperfine and pytest-benchmark.
// Every measurement in mirrorlab is reported as a Summary, never as one number.
import { invalidType } from '../errors.js';

export interface Summary {
  n: number;
  min: number;
  median: number;
  mean: number;
  stddev: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted values, p in [0, 100]. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples: ArrayLike<number>): Summary {
  if (samples === null || typeof samples !== 'object' || typeof (samples as ArrayLike<number>).length !== 'number')
    throw invalidType('samples', samples, 'an array or typed array of numbers');
  const s = Float64Array.from(samples as ArrayLike<number>).sort();
  const n = s.length;
  if (n === 0) return { n: 0, min: NaN, median: NaN, mean: NaN, stddev: NaN, p90: NaN, p99: NaN, max: NaN };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (s[i] - mean) ** 2;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return {
    n,
    min: s[0],
    median,
    mean,
    stddev: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[n - 1],
  };
}

/** Ratio of two summaries' medians with a spread taken from their quartile-free extremes:
 * lo = a.min / b.max, hi = a.max / b.min. Used for side-by-side comparisons in one run. */
export function ratio(a: Summary, b: Summary): { median: number; lo: number; hi: number } {
  return { median: a.median / b.median, lo: a.min / b.max, hi: a.max / b.min };
}
