// compare: identity is suite, kernel, measurement id and params; observed
// values do not take part. The three output formats.
import { describe, expect, it } from 'vitest';
import { compareResults, formatCompare, type CompareReport } from '../../src/report/compare.js';
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
    expect(lines[0]).toMatch(/^measurement +unit +a median +b median +b\/a +verdict$/);
    expect(lines[1]).toMatch(/^host\/faults\/a\|b +ns +5\.00 +5\.00 +1\.000 +same$/);
    expect(lines[2]).toMatch(/^host\/faults\/fault\/4K\/mirrorlab\{backing=4K\} +ns +102 +51\.0 +0\.500 +faster$/);
    expect(lines.slice(3)).toEqual(['', '0 slower, 1 faster beyond noise']);
  });

  it('md: a Markdown table (header, separator, one row per measurement, pipes escaped)', () => {
    const lines = formatCompare(report, 'md').split('\n');
    expect(lines).toEqual([
      '| measurement | unit | a median | b median | b/a | verdict |',
      '| --- | --- | ---: | ---: | ---: | --- |',
      '| host/faults/a\\|b | ns | 5.00 | 5.00 | 1.000 | same |',
      '| host/faults/fault/4K/mirrorlab{backing=4K} | ns | 102 | 51.0 | 0.500 | faster |',
      '',
      '0 slower, 1 faster beyond noise',
    ]);
  });

  it('json: the report, rows keyed by suite, kernel, id and params', () => {
    const j = JSON.parse(formatCompare(report, 'json')) as CompareReport;
    expect(j).toEqual({ threshold: 0.05, regressions: 0, improvements: 1, rows: report.rows, clockMismatches: [] });
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
