// Comparing selftest runs with a baseline, and writing one from runs.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baselineFromRun, compareWithBaseline, formatDifference, type Baseline, type SuiteOutcomes } from '../../src/selftests/baseline.js';
import type { CaseResult } from '../../src/selftests/parse.js';
import { SELFTEST_SUITE_NAMES } from '../../src/selftests/suites.js';

const base: Baseline = {
  series: '7.2',
  release: '7.2.13+deb14-amd64',
  source: { package: 'linux-source-7.2', version: '7.2.13-1' },
  recordedAt: '2026-12-02T00:00:00.000Z',
  runs: { 'hmm-tests': 5, cow: 1, pagemap_ioctl: 1 },
  suites: {
    'hmm-tests': {
      cases: {
        a: { outcome: 'pass' },
        b: { outcome: 'skip', reason: 'DEVICE_COHERENT not available' },
        c: { outcome: 'xfail' },
        d: { outcome: 'pass', flaky: { runs: 5, counts: { pass: 4, fail: 1 } } },
      },
    },
    cow: { cases: { x: { outcome: 'fail' } } },
    pagemap_ioctl: { skipped: 'pagemap_ioctl not built', cases: {} },
  },
};

const run = (suite: string, ...runs: CaseResult[][]): SuiteOutcomes => ({ suite, runs });

describe('compareWithBaseline', () => {
  it('matches a run with the expected outcomes and reports a known flaky case as flaky', () => {
    const r = [
      run('hmm-tests', [
        { name: 'a', outcome: 'pass' },
        { name: 'b', outcome: 'skip', reason: 'DEVICE_COHERENT not available' },
        { name: 'c', outcome: 'xfail' },
        { name: 'd', outcome: 'fail' },
      ]),
      run('cow', [{ name: 'x', outcome: 'fail' }]),
      { suite: 'pagemap_ioctl', skipped: 'not built', runs: [] },
    ];
    const c = compareWithBaseline(base, r);
    expect(c.differences).toEqual([]);
    expect(c.matched).toBe(5);
    expect(c.flaky).toEqual([{ suite: 'hmm-tests', case: 'd', baseline: 'flaky (fail in 1 of 5 runs, pass in 4 of 5 runs)', got: 'fail in 1 of 1 runs' }]);
  });

  it('names every kind of difference', () => {
    const c = compareWithBaseline(base, [
      run('hmm-tests', [
        { name: 'a', outcome: 'fail', reason: 'boom' },
        { name: 'b', outcome: 'skip', reason: 'other reason' },
        { name: 'c', outcome: 'pass' },
        { name: 'd', outcome: 'skip' },
        { name: 'new', outcome: 'pass' },
      ]),
      run('cow', [{ name: 'x', outcome: 'pass' }]),
      run('pagemap_ioctl', [{ name: 'p', outcome: 'pass' }]),
      run('migration', [{ name: 'm', outcome: 'pass' }]),
    ]);
    expect(c.differences.map((d) => [d.suite, d.case, d.kind])).toEqual([
      ['hmm-tests', 'a', 'new failure'],
      ['hmm-tests', 'b', 'skip reason changed'],
      ['hmm-tests', 'c', 'pass where fail expected'],
      ['hmm-tests', 'd', 'outcome changed'],
      ['hmm-tests', 'new', 'unknown case'],
      ['cow', 'x', 'pass where fail expected'],
      ['pagemap_ioctl', null, 'suite ran, expected skipped'],
      ['migration', null, 'no baseline'],
    ]);
    expect(formatDifference(c.differences[0])).toBe('hmm-tests: a: new failure: expected pass, got fail (boom)');
  });

  it('reports missing cases, new skips, a suite newly skipped, and a case flaky in this run only', () => {
    const c = compareWithBaseline(base, [
      run('hmm-tests', [{ name: 'a', outcome: 'skip', reason: 'no device' }, { name: 'b', outcome: 'skip', reason: 'DEVICE_COHERENT not available' }], [{ name: 'a', outcome: 'pass' }, { name: 'b', outcome: 'skip', reason: 'DEVICE_COHERENT not available' }]),
      { suite: 'cow', skipped: 'cow not built', runs: [] },
    ]);
    expect(c.differences.map((d) => [d.case, d.kind, d.got])).toEqual([
      ['a', 'flaky', 'pass in 1 of 2 runs, skip in 1 of 2 runs (no device)'],
      ['c', 'missing case', 'not run'],
      [null, 'suite skipped', 'skipped (cow not built)'],
    ]);
    // d is known flaky with failures: missing counts as failed (the suite ended before it).
    expect(c.flaky).toEqual([{ suite: 'hmm-tests', case: 'd', baseline: 'flaky (fail in 1 of 5 runs, pass in 4 of 5 runs)', got: 'not run (the suite ended before it)' }]);
  });

  it('treats every suite as a difference when the kernel has no baseline', () => {
    const c = compareWithBaseline(null, [run('cow', [{ name: 'x', outcome: 'pass' }])]);
    expect(c.differences).toEqual([{ suite: 'cow', case: null, kind: 'no baseline', expected: 'a baseline entry', got: '1 cases' }]);
  });
});

describe('baselineFromRun', () => {
  it('records agreed outcomes with stable reasons, and flaky cases with their counts', () => {
    const b = baselineFromRun(
      {
        series: '7.2',
        release: 'r',
        source: null,
        suites: [
          run(
            'hmm-tests',
            [{ name: 'a', outcome: 'pass' }, { name: 'b', outcome: 'skip', reason: 'same' }, { name: 'c', outcome: 'fail', reason: 'one' }, { name: 'd', outcome: 'pass' }],
            [{ name: 'a', outcome: 'pass' }, { name: 'b', outcome: 'skip', reason: 'same' }, { name: 'c', outcome: 'fail', reason: 'two' }, { name: 'd', outcome: 'fail' }],
            [{ name: 'a', outcome: 'pass' }, { name: 'b', outcome: 'skip', reason: 'same' }, { name: 'c', outcome: 'fail', reason: 'one' }],
          ),
        ],
      },
      base,
    );
    expect(b.suites['hmm-tests'].cases).toEqual({
      a: { outcome: 'pass' },
      b: { outcome: 'skip', reason: 'same' },
      c: { outcome: 'fail' },
      // Missing from the third run: the suite ended before it, counted as failed.
      d: { outcome: 'fail', flaky: { runs: 3, counts: { pass: 1, fail: 2 } } },
    });
    expect(b.runs['hmm-tests']).toBe(3);
    // Suites this run did not include are kept.
    expect(b.suites.cow).toEqual(base.suites.cow);
    expect(Object.keys(b.suites)).toEqual(['cow', 'hmm-tests', 'pagemap_ioctl']);
  });
});

describe('checked-in baselines', () => {
  const dir = path.join(import.meta.dirname, '../../src/selftests/baselines');
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  it.skipIf(!files.length)('name known suites, the release and source they were recorded on, and valid outcomes', () => {
    for (const f of files) {
      const b = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Baseline;
      expect(`${b.series}.json`).toBe(f);
      expect(b.release).toMatch(/^\d+\.\d+/);
      for (const [suite, s] of Object.entries(b.suites)) {
        expect(SELFTEST_SUITE_NAMES, `${f}: ${suite}`).toContain(suite);
        for (const [name, c] of Object.entries(s.cases)) expect(['pass', 'fail', 'skip', 'xfail', 'xpass'], `${f}: ${suite}: ${name}`).toContain(c.outcome);
      }
    }
  });
});
