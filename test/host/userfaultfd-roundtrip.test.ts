// The round-trip measurement runs end to end (a small run; the figures are
// printed, not asserted: speed is a benchmark, not a test).
import { expect, it } from 'vitest';
import { formatUffdRoundTrip, measureUffdRoundTrip } from '../../src/userfaultfd/index.js';
import { uffdProbe } from './userfaultfd-memory.js';

it.skipIf(uffdProbe === null)('measures native and JavaScript (poll and thread delivery) round trips side by side, cold apart from warm', async () => {
  const r = await measureUffdRoundTrip({ pages: 32, warmRuns: 3 });
  console.log(formatUffdRoundTrip(r));
  for (const side of [r.native, r.js, r.jsThread]) {
    expect(side.cold.n).toBe(32);
    expect(side.warm.n).toBe(96);
    expect(side.warmRunMedians.n).toBe(3);
    expect(side.warm.min).toBeGreaterThan(0);
    expect(side.warm.min).toBeLessThanOrEqual(side.warm.median);
  }
  expect(r.native.service!.n).toBe(96);
  expect(r.native.service!.median).toBeLessThan(r.native.warm.max);
  expect(r.warmRunRatio.n).toBe(3);
  expect(r.threadWarmRunRatio.n).toBe(3);
  // The breakdown lines faults up with accesses: one entry per warm fault.
  expect(r.breakdown.native.toReader.n).toBe(96);
  expect(r.breakdown.native.toReader.min).toBeGreaterThan(0);
  for (const b of [r.breakdown.js, r.breakdown.jsThread]) {
    expect(b.toJs!.n).toBe(96);
    expect(b.toReader.min).toBeGreaterThan(0);
    expect(b.toJs!.min).toBeGreaterThan(0);
  }
  const text = formatUffdRoundTrip(r);
  expect(text).toMatch(/^js \(poll\)\/native warm median ratio \d+\.\d\d /m);
  expect(text).toMatch(/^js \(thread\)\/native warm median ratio \d+\.\d\d /m);
});
