// The round-trip measurement runs end to end (a small run; the figures are
// printed, not asserted: speed is a benchmark, not a test).
import { expect, it } from 'vitest';
import { formatUffdRoundTrip, measureUffdRoundTrip } from '../../src/userfaultfd/index.js';

it('measures native and JavaScript round trips side by side, cold apart from warm', async () => {
  const r = await measureUffdRoundTrip({ pages: 32, warmRuns: 3 });
  console.log(formatUffdRoundTrip(r));
  for (const side of [r.native, r.js]) {
    expect(side.cold.n).toBe(32);
    expect(side.warm.n).toBe(96);
    expect(side.warmRunMedians.n).toBe(3);
    expect(side.warm.min).toBeGreaterThan(0);
    expect(side.warm.min).toBeLessThanOrEqual(side.warm.median);
  }
  expect(r.native.service!.n).toBe(96);
  expect(r.native.service!.median).toBeLessThan(r.native.warm.max);
  expect(r.warmRunRatio.n).toBe(3);
});
