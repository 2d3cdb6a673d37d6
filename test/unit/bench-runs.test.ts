// bench --runs N: the between-run spread (min/median/max of the run medians),
// which run's record stands for the N, and how suites, checks, ratios and
// disturbance records of N runs are combined (src/bench/runs.ts).
import { describe, expect, it } from 'vitest';
import { betweenRunSpread, combineRuns, combineSuite } from '../../src/bench/runs.js';
import type { SuiteDisturbance, SuiteResult } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { kernelSeries } from '../../src/vm/kernels.js';
import { measurement, results } from '../results-fixture.js';

describe('betweenRunSpread', () => {
  it('min, median and max of the run medians; an even count takes the mean of the middle two', () => {
    expect(betweenRunSpread([130, 100, 120])).toEqual({ n: 3, min: 100, median: 120, max: 130 });
    expect(betweenRunSpread([114, 196])).toEqual({ n: 2, min: 114, median: 155, max: 196 });
    expect(betweenRunSpread([7])).toEqual({ n: 1, min: 7, median: 7, max: 7 });
    expect(betweenRunSpread([4, 1, 3, 2])).toEqual({ n: 4, min: 1, median: 2.5, max: 4 });
  });

  it('leaves out values that are not numbers; none at all is an error', () => {
    expect(betweenRunSpread([NaN, 5, Infinity, 3])).toEqual({ n: 2, min: 3, median: 4, max: 5 });
    expect(() => betweenRunSpread([NaN])).toThrow('no finite value');
  });
});

const disturbanceOf = (run: number, flags: string[]): SuiteDisturbance => ({
  run,
  intervalMs: 1000,
  cpus: 2,
  load: 'unreadable',
  cpuTime: 'unreadable',
  processes: 'unreadable',
  cpuFreqMHz: 'unreadable',
  pressure: 'unreadable',
  flags,
});

/** One run's host/x suite: a measurement with these round medians, a ratio, a check. */
function suiteRun(run: number, rounds: number[], ratio: number, check: 'pass' | 'fail' | 'skip' = 'pass', flags: string[] = []): SuiteResult {
  return {
    id: 'host/x',
    title: 'x',
    environment: 'host',
    kernel: null,
    status: 'complete',
    durationMs: 100,
    measurements: [measurement({ id: 'm', params: { size: 4096 }, rounds })],
    comparisons: [{ id: 'r', title: 'a / b', a: 'm', b: 'm', ratio: { median: ratio, lo: ratio * 0.9, hi: ratio * 1.1 } }],
    checks: [{ name: 'verified', status: check, ...(check === 'fail' ? { reason: `bytes differ in run ${run}` } : {}) }],
    plots: [{ kind: 'histogram', title: 'm', measurement: 'm' }],
    disturbance: [disturbanceOf(run, flags)],
  };
}

describe('combineSuite', () => {
  // Warm medians 101, 202, 150 (rounds of each); ratios 1.14, 1.96, 1.5.
  const runs = [suiteRun(1, [100, 101, 102], 1.14), suiteRun(2, [200, 202, 204], 1.96, 'pass', ['steal 7.3% of CPU time > 5.0%']), suiteRun(3, [149, 150, 160], 1.5)];
  const c = combineSuite(runs.map((suite, i) => ({ run: i + 1, suite })), 3);

  it('per measurement: the spread of the run medians, and each run with its round-median range', () => {
    const m = c.measurements[0];
    expect(m.betweenRuns).toEqual({
      n: 3,
      min: 101,
      median: 150,
      max: 202,
      runs: [
        { run: 1, median: 101, lo: 100, hi: 102 },
        { run: 2, median: 202, lo: 200, hi: 204 },
        { run: 3, median: 150, lo: 149, hi: 160 },
      ],
    });
    // the record kept is run 3's, whose median is the median of the three
    expect(m.roundMedians).toEqual([149, 150, 160]);
    expect(m.warm.median).toBe(150);
  });

  it('per ratio likewise: the run nearest the median of the ratios stands for them', () => {
    const r = c.comparisons[0];
    expect(r.ratio.median).toBe(1.5);
    expect(r.betweenRuns).toMatchObject({ n: 3, min: 1.14, median: 1.5, max: 1.96 });
    expect(r.betweenRuns!.runs.map((x) => x.run)).toEqual([1, 2, 3]);
  });

  it('two runs: the median is the mean of both, and the first run stands for them on the tie', () => {
    const two = combineSuite([{ run: 1, suite: runs[0] }, { run: 2, suite: runs[1] }], 2);
    expect(two.measurements[0].betweenRuns).toMatchObject({ n: 2, min: 101, median: 151.5, max: 202 });
    expect(two.measurements[0].warm.median).toBe(101);
  });

  it('keeps every run\'s disturbance record, sums the durations, keeps one set of plots', () => {
    expect(c.disturbance!.map((d) => [d.run, d.flags])).toEqual([
      [1, []],
      [2, ['steal 7.3% of CPU time > 5.0%']],
      [3, []],
    ]);
    expect(c.durationMs).toBe(300);
    expect(c.plots).toHaveLength(1);
    expect(c.status).toBe('complete');
  });

  it('a check that failed in any run fails, with the runs that failed it', () => {
    const mixed = combineSuite([{ run: 1, suite: suiteRun(1, [1], 1) }, { run: 2, suite: suiteRun(2, [1], 1, 'fail') }, { run: 3, suite: suiteRun(3, [1], 1, 'skip') }], 3);
    expect(mixed.checks).toEqual([{ name: 'verified', status: 'fail', reason: 'run 2/3: bytes differ in run 2' }]);
    const passSkip = combineSuite([{ run: 1, suite: suiteRun(1, [1], 1, 'skip') }, { run: 2, suite: suiteRun(2, [1], 1, 'pass') }], 2);
    expect(passSkip.checks).toEqual([{ name: 'verified', status: 'pass' }]);
  });

  it('the worst status of the runs, with that run\'s reason', () => {
    const failed = { ...suiteRun(2, [1], 1), status: 'failed' as const, reason: 'guest did not boot' };
    const s = combineSuite([{ run: 1, suite: suiteRun(1, [1], 1) }, { run: 2, suite: failed }], 2);
    expect([s.status, s.reason]).toEqual(['failed', 'run 2/2: guest did not boot']);
  });

  it('refuses to combine two different suites', () => {
    expect(() => combineSuite([{ run: 1, suite: suiteRun(1, [1], 1) }, { run: 2, suite: { ...suiteRun(2, [1], 1), kernel: kernelSeries('6.1') } }], 2)).toThrow('cannot combine host/x@6.1 with host/x@null');
  });
});

describe('combineRuns', () => {
  it('one run: its suites unchanged, without betweenRuns', () => {
    const one = [suiteRun(1, [100, 101, 102], 1.2)];
    expect(combineRuns([one])).toBe(one);
    expect(combineRuns([one])[0].measurements[0].betweenRuns).toBeUndefined();
  });

  it('N runs: one suite per planned suite, valid against the schema', () => {
    const r = results([]);
    r.suites = combineRuns([[suiteRun(1, [100], 1.1)], [suiteRun(2, [120], 1.3)]]);
    r.run.repeats = 2;
    expect(r.suites).toHaveLength(1);
    expect(r.suites[0].measurements[0].betweenRuns).toMatchObject({ n: 2, min: 100, median: 110, max: 120 });
    expect(validateResults(JSON.parse(JSON.stringify(r)))).toEqual([]);
  });
});

describe('merge of runs made with --runs N', () => {
  it('keeps each suite\'s between-run spreads and disturbance records, and each run\'s repeats', async () => {
    const { mergeResults } = await import('../../src/report/merge.js');
    const made = (rounds: [number[], number[]], flags: string[]) => {
      const r = results([]);
      r.run.repeats = 2;
      r.suites = combineRuns([[suiteRun(1, rounds[0], 1.1, 'pass', flags)], [suiteRun(2, rounds[1], 1.3)]]);
      return r;
    };
    const merged = mergeResults([
      { label: 'lab-a', source: 'a.json', results: made([[100, 101, 102], [110, 111, 112]], ['1-min load 3.00 > 2 (CPUs)']) },
      { label: 'lab-b', source: 'b.json', results: made([[200, 201, 202], [210, 211, 212]], []) },
    ]);
    expect(validateResults(JSON.parse(JSON.stringify(merged)))).toEqual([]);
    expect(merged.runs!.map((r) => [r.label, r.run.repeats])).toEqual([['lab-a', 2], ['lab-b', 2]]);
    expect(merged.suites.map((s) => [s.label, s.measurements[0].betweenRuns!.min, s.measurements[0].betweenRuns!.max, s.disturbance!.map((d) => d.flags.length)])).toEqual([
      ['lab-a', 101, 111, [1, 0]],
      ['lab-b', 201, 211, [0, 0]],
    ]);
    // the ratio of runs a / b is of the records kept (run 1 of each, nearest the median on the tie)
    expect(merged.machineComparisons![0].ratio.median).toBeCloseTo(101 / 201, 12);
  });
});
