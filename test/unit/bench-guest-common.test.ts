// repeatRounds (interleaved cases, cold / warm-up / settled rounds) and the
// --size filter of the guest suites, without a guest.
import { describe, expect, it } from 'vitest';
import { repeatRounds, sizeFilter, sizeLabel } from '../../src/bench/suites/guest-common.js';

describe('repeatRounds', () => {
  it('reports round 0 as cold, drops warm-up rounds, stops once every case has settled', async () => {
    const calls: number[] = [];
    const r = await repeatRounds(async (i) => {
      calls.push(i);
      return { a: [i === 0 ? 100 : 10, 10], b: [i === 0 ? 50 : 5] };
    }, { warmupRounds: 1, minRounds: 3, maxRounds: 20, tolerance: 0.02 }, new AbortController().signal);
    expect(calls).toEqual([0, 1, 2, 3, 4]);
    expect(r.get('a')).toMatchObject({ cold: [100, 10], warm: [10, 10, 10, 10, 10, 10], roundMedians: [10, 10, 10], stable: true });
    expect(r.get('b')).toMatchObject({ cold: [50], warm: [5, 5, 5], stable: true });
  });

  it('goes on while one case is unsettled, up to maxRounds', async () => {
    const r = await repeatRounds(async (i) => ({ flat: [1], rising: [i * i] }), { cold: false, warmupRounds: 0, minRounds: 3, maxRounds: 6 }, new AbortController().signal);
    expect(r.get('flat')!.roundMedians).toHaveLength(6);
    expect(r.get('rising')!.stable).toBe(false);
  });

  it('returns what was measured when aborted', async () => {
    const c = new AbortController();
    const r = await repeatRounds(async (i) => {
      if (i === 2) c.abort();
      return { x: [i] };
    }, { warmupRounds: 0, minRounds: 5, maxRounds: 10 }, c.signal);
    expect(r.get('x')).toMatchObject({ cold: [0], warm: [1, 2] });
  });
});

describe('sizeFilter', () => {
  it('keeps the sizes whose label is listed', () => {
    expect([4096, 2 << 20, 1 << 30].map(sizeLabel)).toEqual(['4K', '2M', '1G']);
    expect(sizeFilter([4096, 2 << 20, 1 << 30], [])).toEqual([4096, 2 << 20, 1 << 30]);
    expect(sizeFilter([4096, 2 << 20, 1 << 30], ['2m', '1GiB'])).toEqual([2 << 20, 1 << 30]);
  });
});
