import { describe, expect, it } from 'vitest';
import { kernelSeries } from '../../src/vm/kernels.js';
import { repeatUntilStable, toMeasurement } from '../../src/measure/repeat.js';
import { compareResults } from '../../src/report/compare.js';
import type { Measurement, Results, SuiteResult } from '../../src/report/results.js';
import { kernelComparisons } from '../../src/bench/runner.js';

describe('repeatUntilStable', () => {
  it('reports round 0 as cold, drops warm-up rounds and stops once the median settles', async () => {
    const seen: number[] = [];
    const r = await repeatUntilStable(
      (i) => {
        seen.push(i);
        return i === 0 ? [1000, 1000] : i === 1 ? [500] : [10, 11, 12];
      },
      { warmupRounds: 1, minRounds: 3, maxRounds: 20, tolerance: 0.01 },
    );
    expect(r.cold).toEqual([1000, 1000]);
    expect(r.warm).not.toContain(500); // the warm-up round is discarded
    expect(r.roundMedians).toEqual([11, 11, 11]);
    expect(r.stable).toBe(true);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('gives up at maxRounds and says it was not stable', async () => {
    let v = 1;
    const r = await repeatUntilStable(() => [(v *= 2)], { cold: false, warmupRounds: 0, minRounds: 3, maxRounds: 6, tolerance: 0.01 });
    expect(r.roundMedians).toHaveLength(6);
    expect(r.stable).toBe(false);
    expect(r.cold).toEqual([]);
  });
});

function fakeRun(median: number, spread: number[], better: 'lower' | 'higher' = 'lower'): Results {
  const m: Measurement = toMeasurement(
    { id: 'x', title: 'x', unit: 'ns', better, params: { size: 4096 } },
    { cold: [], warm: spread.map((s) => median + s), roundMedians: spread.map((s) => median + s), stable: true, tolerance: 0.02 },
  );
  return {
    schema: 'mirrorlab/results',
    version: 1,
    run: { startedAt: '', finishedAt: '', complete: true, argv: [], quick: false, filters: {} },
    machine: {} as Results['machine'],
    suites: [{ id: 's', title: 's', environment: 'host', kernel: null, status: 'complete', durationMs: 1, measurements: [m], comparisons: [], checks: [], plots: [] }],
    kernelComparisons: [],
  };
}

describe('compareResults', () => {
  it('calls a change beyond both runs\' round-median ranges slower (lower is better)', () => {
    const r = compareResults(fakeRun(100, [-2, 0, 2]), fakeRun(130, [-2, 0, 2]));
    expect(r.rows[0]).toMatchObject({ verdict: 'slower', ratio: 1.3 });
    expect(r.regressions).toBe(1);
  });
  it('calls overlapping ranges the same, however far the medians', () => {
    const r = compareResults(fakeRun(100, [-40, 0, 40]), fakeRun(130, [-40, 0, 40]));
    expect(r.rows[0].verdict).toBe('same');
    expect(r.regressions).toBe(0);
  });
  it('treats a higher throughput as faster', () => {
    const r = compareResults(fakeRun(100, [-1, 0, 1], 'higher'), fakeRun(150, [-1, 0, 1], 'higher'));
    expect(r.rows[0].verdict).toBe('faster');
    expect(r.improvements).toBe(1);
  });
  it('lists measurements present in one run only', () => {
    const b = fakeRun(100, [0]);
    b.suites[0].measurements[0].id = 'y';
    expect(compareResults(fakeRun(100, [0]), b).rows.map((r) => r.verdict)).toEqual(['only-a', 'only-b']);
  });
});

describe('kernelComparisons', () => {
  const suite = (kernel: string, median: number, extra: Partial<SuiteResult> = {}): SuiteResult => ({
    id: 'g',
    title: 'g',
    environment: 'guest',
    kernel: kernelSeries(kernel),
    status: 'complete',
    durationMs: 1,
    measurements: [
      toMeasurement(
        { id: 'fault', title: 'fault', unit: 'ns', params: { entry: 'pmd' } },
        { cold: [], warm: [median - 1, median, median + 1], roundMedians: [median - 1, median, median + 1], stable: true, tolerance: 0.02 },
      ),
    ],
    comparisons: [],
    checks: [],
    plots: [],
    ...extra,
  });

  it('pairs the same measurement on 6.1 and 6.12 as older / newer, with the round-median spread', () => {
    const [k] = kernelComparisons([suite('6.12', 100), suite('6.1', 200)]);
    expect(k).toMatchObject({ suite: 'g', measurement: 'fault', a: '6.1', b: '6.12', unit: 'ns' });
    expect(k.ratio.median).toBe(2);
    expect(k.ratio.lo).toBeCloseTo(199 / 101);
    expect(k.ratio.hi).toBeCloseTo(201 / 99);
  });

  it('leaves out skipped runs, host suites and measurements with other parameters', () => {
    const other = suite('6.1', 200);
    other.measurements[0].params = { entry: 'pud' };
    expect(kernelComparisons([suite('6.12', 100), other])).toEqual([]);
    expect(kernelComparisons([suite('6.12', 100), suite('6.1', 200, { status: 'skipped' })])).toEqual([]);
    expect(kernelComparisons([suite('6.12', 100)])).toEqual([]);
  });
});
