// compare: identity is suite, kernel, measurement id and params; observed
// values do not take part. The three output formats.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { compareResults, formatCompare, noiseRange, type CompareReport } from '../../src/report/compare.js';
import type { BetweenRuns, Measurement, Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { results } from '../results-fixture.js';

const fault = (observed: Record<string, string | number | boolean>, rounds: number[], params: Record<string, string | number> = { backing: 'thp', length: 2097152 }) => ({
  id: 'fault/thp/touch',
  params,
  observed,
  rounds,
});

describe('compareResults identity', () => {
  it('two runs that differ only in observed values match and are compared', () => {
    const a = results([{ id: 'host/hugepages', measurements: [fault({ verifiedRuns: '21/21', pmdMapped: true }, [100, 101, 102])] }]);
    const b = results([{ id: 'host/hugepages', measurements: [fault({ verifiedRuns: '20/21', pmdMapped: false }, [200, 201, 202])] }]);
    expect(validateResults(a)).toEqual([]);
    expect(validateResults(b)).toEqual([]);
    const r = compareResults(a, b);
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]).toMatchObject({
      key: 'host/hugepages/fault/thp/touch{backing=thp,length=2097152}',
      suite: 'host/hugepages',
      kernel: null,
      id: 'fault/thp/touch',
      params: { backing: 'thp', length: 2097152 },
      a: 101,
      b: 201,
      verdict: 'slower',
    });
    expect(r.regressions).toBe(1);
  });

  it('a differing param, kernel or id does not match', () => {
    const a = results([{ id: 'guest/x', kernel: '6.1', measurements: [fault({}, [100], { backing: 'thp', length: 2097152 })] }]);
    const b = results([{ id: 'guest/x', kernel: '6.1', measurements: [fault({}, [100], { backing: 'thp', length: 4194304 })] }]);
    const r = compareResults(a, b);
    expect(r.rows.map((x) => [x.key, x.verdict])).toEqual([
      ['guest/x@6.1/fault/thp/touch{backing=thp,length=2097152}', 'only-a'],
      ['guest/x@6.1/fault/thp/touch{backing=thp,length=4194304}', 'only-b'],
    ]);
    expect(r.regressions).toBe(0);
    const other = results([{ id: 'guest/x', kernel: '6.12', measurements: [fault({}, [100], { backing: 'thp', length: 2097152 })] }]);
    expect(compareResults(a, other).rows.map((x) => x.verdict)).toEqual(['only-a', 'only-b']);
  });
});

describe('formatCompare', () => {
  const a = results([{ id: 'host/faults', measurements: [{ id: 'fault/4K/mirrorlab', params: { backing: '4K' }, rounds: [100, 102, 104] }, { id: 'a|b', rounds: [5, 5, 5] }] }]);
  const b = results([{ id: 'host/faults', measurements: [{ id: 'fault/4K/mirrorlab', params: { backing: '4K' }, rounds: [50, 51, 52] }, { id: 'a|b', rounds: [5, 5, 5] }] }]);
  const report = compareResults(a, b, 0.05);

  it('text: the table, then the counts', () => {
    const lines = formatCompare(report, 'text').split('\n');
    expect(lines[0]).toMatch(/^measurement +unit +a median +b median +b\/a +verdict +noise a\/b$/);
    expect(lines[1]).toMatch(/^host\/faults\/a\|b +ns +5\.00 +5\.00 +1\.000 +same +rounds\/rounds$/);
    expect(lines[2]).toMatch(/^host\/faults\/fault\/4K\/mirrorlab\{backing=4K\} +ns +102 +51\.0 +0\.500 +faster +rounds\/rounds$/);
    expect(lines.slice(3)).toEqual(['', '0 slower, 1 faster beyond noise']);
  });

  it('md: a Markdown table (header, separator, one row per measurement, pipes escaped)', () => {
    const lines = formatCompare(report, 'md').split('\n');
    expect(lines).toEqual([
      '| measurement | unit | a median | b median | b/a | verdict | noise a/b |',
      '| --- | --- | ---: | ---: | ---: | --- | --- |',
      '| host/faults/a\\|b | ns | 5.00 | 5.00 | 1.000 | same | rounds/rounds |',
      '| host/faults/fault/4K/mirrorlab{backing=4K} | ns | 102 | 51.0 | 0.500 | faster | rounds/rounds |',
      '',
      '0 slower, 1 faster beyond noise',
    ]);
  });

  it('json: the report, rows keyed by suite, kernel, id and params', () => {
    const j = JSON.parse(formatCompare(report, 'json')) as CompareReport;
    expect(j).toEqual({ threshold: 0.05, regressions: 0, improvements: 1, rows: report.rows, clockMismatches: [], disturbed: { a: [], b: [] } });
    expect(j.rows[1]).toEqual({
      key: 'host/faults/fault/4K/mirrorlab{backing=4K}',
      suite: 'host/faults',
      kernel: null,
      id: 'fault/4K/mirrorlab',
      params: { backing: '4K' },
      unit: 'ns',
      a: 102,
      b: 51,
      ratio: 0.5,
      verdict: 'faster',
      spread: { a: 'rounds', b: 'rounds' },
    });
  });
});

describe('report.html shows params and observed values apart', () => {
  it('labels each, escaped, in the measurement table', async () => {
    const { renderHtml } = await import('../../src/report/html.js');
    const r = results([{ id: 'host/hugepages', measurements: [fault({ verifiedRuns: '20/21', pmdMapped: false, faultSource: '<perf>' }, [100, 101, 102]), { id: 'plain', rounds: [1, 1, 1] }] }]);
    const html = renderHtml(r);
    expect(html).toContain('<td class="params">params: backing=thp, length=2097152<br>observed: verifiedRuns=20/21, pmdMapped=false, faultSource=&lt;perf&gt;</td>');
    expect(html).toContain('<td class="params">params: -</td>');
  });
});

/** A measurement with these round medians and, as after bench --runs N, these run medians. */
function withRuns(r: Results, runMedians: number[]): Results {
  const m = r.suites[0].measurements[0];
  const sorted = [...runMedians].sort((x, y) => x - y);
  const br: BetweenRuns = {
    n: runMedians.length,
    min: sorted[0],
    median: sorted[sorted.length >> 1],
    max: sorted[sorted.length - 1],
    runs: runMedians.map((v, i) => ({ run: i + 1, median: v, lo: v, hi: v })),
  };
  m.betweenRuns = br;
  return r;
}

describe('compare with bench --runs N: the wider of the two spreads', () => {
  const run = (rounds: number[]) => results([{ id: 'host/uffd-roundtrip', measurements: [{ id: 'roundtrip', rounds }] }]);

  it('noiseRange: rounds, unless the run medians spread wider (by hi/lo)', () => {
    const m = (r: Results): Measurement => r.suites[0].measurements[0];
    expect(noiseRange(m(run([100, 102, 104])))).toEqual({ range: [100, 104], kind: 'rounds' });
    expect(noiseRange(m(withRuns(run([100, 102, 104]), [102, 130])))).toEqual({ range: [102, 130], kind: 'runs' });
    // narrower between runs than within: the rounds stay
    expect(noiseRange(m(withRuns(run([90, 102, 120]), [101, 103])))).toEqual({ range: [90, 120], kind: 'rounds' });
    // one run only is no between-run spread
    expect(noiseRange(m(withRuns(run([100, 102, 104]), [50])))).toEqual({ range: [100, 104], kind: 'rounds' });
  });

  it('a change beyond the rounds but within the runs is no change, and the row says it used the runs', () => {
    // a: rounds 100..104; b: rounds 120..124. Rounds alone: slower (ranges apart, +20%).
    const a = run([100, 102, 104]);
    const b = run([120, 122, 124]);
    expect(compareResults(a, b).rows[0]).toMatchObject({ verdict: 'slower', spread: { a: 'rounds', b: 'rounds' } });
    // The runs of a spread 100..125 (1.14 one run, 1.96 an hour later, as on a shared machine): within noise.
    const r = compareResults(withRuns(run([100, 102, 104]), [102, 125]), b);
    expect(r.rows[0]).toMatchObject({ verdict: 'same', spread: { a: 'runs', b: 'rounds' } });
    expect(r.regressions).toBe(0);
    expect(formatCompare(r).split('\n')[1]).toMatch(/^host\/uffd-roundtrip\/roundtrip +ns +102 +122 +1\.196 +same +runs\/rounds$/);
  });

  it('lists the disturbed suites of each input after the table', () => {
    const a = run([100, 102, 104]);
    const b = run([100, 102, 104]);
    const flagged = (run: number, flags: string[]) => ({ run, intervalMs: 500, cpus: 2, load: 'unreadable' as const, cpuTime: 'unreadable' as const, processes: 'unreadable' as const, cpuFreqMHz: 'unreadable' as const, pressure: 'unreadable' as const, flags });
    a.suites[0].disturbance = [flagged(1, [])];
    b.suites[0].disturbance = [flagged(1, ['1-min load 7.00 > 2 (CPUs)']), flagged(2, ['steal 7.3% of CPU time > 5.0%'])];
    expect(validateResults(JSON.parse(JSON.stringify(b)))).toEqual([]);
    const r = compareResults(a, b);
    expect(r.disturbed).toEqual({ a: [], b: [{ suite: 'host/uffd-roundtrip', kernel: null, flags: ['run 1: 1-min load 7.00 > 2 (CPUs)', 'run 2: steal 7.3% of CPU time > 5.0%'] }] });
    expect(formatCompare(r).split('\n').slice(-2)).toEqual([
      '0 slower, 0 faster beyond noise',
      'disturbed in b: host/uffd-roundtrip: run 1: 1-min load 7.00 > 2 (CPUs); run 2: steal 7.3% of CPU time > 5.0%',
    ]);
    expect(formatCompare(r, 'md').split('\n').at(-1)).toBe('- disturbed in b: host/uffd-roundtrip: run 1: 1-min load 7.00 > 2 (CPUs); run 2: steal 7.3% of CPU time > 5.0%');
  });
});

describe('compare --pair (a patch A/B across kernel names)', () => {
  const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
  it.skipIf(!fs.existsSync(cli))('B on kernel KB is matched as if on KA: the same rows as A against itself; a pair naming an absent kernel is a usage error', () => {
    const a = results([{ id: 'guest/x', kernel: '7.2-test', measurements: [fault({}, [100, 101, 102])] }]);
    const b = results([{ id: 'guest/x', kernel: '7.2-test+fix', measurements: [fault({}, [200, 201, 202])] }]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-pair-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(a));
      fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify(b));
      const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'compare', path.join(dir, 'a.json'), path.join(dir, 'b.json'), ...args], { encoding: 'utf8' });
      const json = run('--pair', '7.2-test=7.2-test+fix', '--format', 'json');
      const report = JSON.parse(json.stdout) as CompareReport;
      expect(report.rows).toHaveLength(1);
      expect(report.rows[0]).toMatchObject({ kernel: '7.2-test', a: 101, b: 201, verdict: 'slower' });
      expect(json.status).toBe(1);
      expect(run('--pair', '7.2-test=7.2-test+fix').stdout).toMatch(/^paired: 7\.2-test in A with 7\.2-test\+fix in B$/m);
      // unpaired, the two kernels' rows do not meet
      expect((JSON.parse(run('--format', 'json').stdout) as CompareReport).rows.every((r) => r.a === null || r.b === null)).toBe(true);
      for (const bad of ['7.2=7.2-test+fix', '7.2-test=7.2', '7.2-test']) {
        const r = run('--pair', bad);
        expect(r.status, bad).toBe(2);
        expect(r.stderr, bad).toMatch(/--pair/);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
