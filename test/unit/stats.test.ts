import { describe, expect, it } from 'vitest';
import { percentile, ratio, summarize } from '../../src/stats/summary.js';

describe('summarize', () => {
  it('names the statistics users expect and sorts its input', () => {
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ n: 5, min: 1, median: 3, mean: 3, max: 5 });
    expect(s.stddev).toBeCloseTo(Math.sqrt(2.5), 12);
  });
  it('takes the mean of the middle pair for an even count', () => {
    expect(summarize([4, 1, 3, 2]).median).toBe(2.5);
  });
  it('uses nearest-rank percentiles', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 90)).toBe(90);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile(v, 100)).toBe(100);
  });
  it('reports an empty sample as NaN, not zero', () => {
    expect(summarize([]).median).toBeNaN();
  });
  it('gives a ratio with its spread', () => {
    const r = ratio(summarize([2, 4, 6]), summarize([1, 2, 3]));
    expect(r).toEqual({ median: 2, lo: 2 / 3, hi: 6 });
  });
});
