// Numbers a results file cannot hold and identities given twice: validate
// rejects them with the path, bench leaves a non-finite measurement out with
// a failing check (the rest is written), writing refuses Infinity, and
// compare never calls a non-finite median "same".
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dropNonFiniteFigures } from '../../src/bench/runner.js';
import { compareResults, formatCompare } from '../../src/report/compare.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { writeResultsJson } from '../../src/report/write.js';
import { results } from '../results-fixture.js';

const one = (rounds: number[]) => results([{ id: 'host/faults', measurements: [{ id: 'fault/4K', params: { size: '4K' }, rounds }] }]);
const viaJson = (r: Results) => JSON.parse(JSON.stringify(r)) as Results;

describe('validate: non-finite numbers', () => {
  it('Infinity and NaN in an object are named with their path', () => {
    const r = one([1, 2, 3]);
    r.suites[0].measurements[0].warm.median = Infinity;
    r.suites[0].measurements[0].roundMedians = [1, NaN, 3];
    expect(validateResults(r)).toEqual([
      '/suites/0/measurements/0/warm/median: Infinity is not a number a results file can hold',
      '/suites/0/measurements/0/roundMedians/1: NaN is not a number a results file can hold',
    ]);
  });

  it('a null median (a NaN or Infinity that went through JSON) where the summary has samples is invalid; an empty summary may hold nulls', () => {
    const r = one([1, 2, 3]);
    r.suites[0].measurements[0].warm.median = Infinity;
    expect(validateResults(viaJson(r))).toEqual(['/suites/0/measurements/0/warm/median: must be number']);
    const empty = one([]);
    expect(empty.suites[0].measurements[0].warm.n).toBe(0);
    expect(validateResults(viaJson(empty))).toEqual([]);
  });
});

describe('validate: duplicate ids', () => {
  it('the same suite on the same kernel twice', () => {
    const r = results([
      { id: 'guest/mirrordrm', kernel: '6.12', measurements: [] },
      { id: 'guest/mirrordrm', kernel: '6.1', measurements: [] },
      { id: 'guest/mirrordrm', kernel: '6.12', measurements: [] },
    ]);
    expect(validateResults(r)).toEqual(['/suites/2: duplicate suite guest/mirrordrm on kernel 6.12, first at /suites/0']);
  });

  it('merged runs: the same suite under two labels is fine, twice under one label is not', () => {
    const r = results([
      { id: 'host/faults', measurements: [] },
      { id: 'host/faults', measurements: [] },
      { id: 'host/faults', measurements: [] },
    ]);
    r.suites[0].label = 'a';
    r.suites[1].label = 'b';
    r.suites[2].label = 'b';
    expect(validateResults(r)).toEqual(['/suites/2: duplicate suite host/faults (run b), first at /suites/1']);
  });

  it('the same measurement id with the same parameters twice in a suite (in any order of the parameters); other parameters are another measurement', () => {
    const r = results([
      {
        id: 'host/hugepages',
        measurements: [
          { id: 'fault', params: { backing: 'thp', length: 2097152 }, rounds: [1] },
          { id: 'fault', params: { backing: '4K', length: 2097152 }, rounds: [1] },
          { id: 'fault', params: { length: 2097152, backing: 'thp' }, rounds: [2] },
        ],
      },
    ]);
    expect(validateResults(r)).toEqual(['/suites/0/measurements/2: duplicate measurement fault with parameters {"length":2097152,"backing":"thp"}, first at /suites/0/measurements/0']);
  });
});

describe('writing results', () => {
  it('refuses Infinity with its path and writes nothing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-finite-'));
    const r = one([1, 2, 3]);
    r.suites[0].measurements[0].warm.max = -Infinity;
    expect(() => writeResultsJson(r, dir)).toThrow('results hold numbers JSON cannot: /suites/0/measurements/0/warm/max = -Infinity');
  });

  it('bench leaves out a measurement with an Infinity or a NaN where samples exist, with a failing check; the rest stays', () => {
    const r = results([
      {
        id: 'host/faults',
        measurements: [
          { id: 'good', rounds: [1, 2, 3] },
          { id: 'inf', rounds: [1, 2, 3] },
          { id: 'nan', rounds: [1, 2, 3] },
          { id: 'empty', rounds: [] },
        ],
      },
    ]);
    const suite = r.suites[0];
    suite.measurements[1].warm.median = Infinity;
    suite.measurements[2].warm.mean = NaN;
    suite.comparisons.push({ id: 'ratio', title: 'x', a: 'good', b: 'inf', ratio: { median: Infinity, lo: 1, hi: 2 } });
    dropNonFiniteFigures(suite);
    expect(suite.measurements.map((m) => m.id)).toEqual(['good', 'empty']);
    expect(suite.comparisons).toEqual([]);
    expect(suite.checks).toEqual([
      { name: 'measurement inf has finite figures', status: 'fail', reason: 'left out of the results: /warm/median is Infinity' },
      { name: 'measurement nan has finite figures', status: 'fail', reason: 'left out of the results: /warm/mean is NaN' },
      { name: 'ratio ratio has finite figures', status: 'fail', reason: 'left out of the results: /ratio/median is Infinity' },
    ]);
    expect(validateResults(viaJson(r))).toEqual([]);
  });
});

describe('compare: non-finite medians', () => {
  it('an Infinity or NaN median is not-comparable with the reason, never "same", and counts neither way', () => {
    const a = one([100, 101, 102]);
    for (const bad of [Infinity, NaN]) {
      const b = one([100, 101, 102]);
      b.suites[0].measurements[0].warm.median = bad;
      b.suites[0].measurements[0].roundMedians = [bad, bad, bad];
      const r = compareResults(a, b);
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0].verdict).toBe('not-comparable');
      expect(r.rows[0].reason).toBe(`b: warm median is ${bad}`);
      expect(r.rows[0].ratio).toBeNull();
      expect(r.regressions + r.improvements).toBe(0);
      expect(formatCompare(r)).toContain(`not comparable: host/faults/fault/4K{size=4K}: b: warm median is ${bad}`);
    }
    // Both sides, and a finite median with an infinite round median.
    const c = one([100, 101, 102]);
    c.suites[0].measurements[0].roundMedians[0] = Infinity;
    const both = one([100, 101, 102]);
    both.suites[0].measurements[0].warm.median = Infinity;
    expect(compareResults(both, c).rows[0].reason).toBe('a: warm median is Infinity; b: a round median is Infinity');
    expect(compareResults(a, one([100, 101, 102])).rows[0].verdict).toBe('same');
  });
});
