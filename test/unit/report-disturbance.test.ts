// Disturbed suites and between-run spreads in what a run writes: report.html
// (summary badge with the thresholds, the suite's machine-state table, the
// runs column), results.ktap and JUnit (diagnostics/properties), and the
// terminal summary.
import { describe, expect, it } from 'vitest';
import { toJunit } from '../../src/report/exports/junit.js';
import { renderHtml } from '../../src/report/html.js';
import { toKtap } from '../../src/report/ktap.js';
import type { Results, SuiteDisturbance } from '../../src/report/results.js';
import { summaryTable } from '../../src/report/summary-table.js';
import { validateResults } from '../../src/report/validate.js';
import { results } from '../results-fixture.js';

const record = (run: number, flags: string[], steal = 0): SuiteDisturbance => ({
  run,
  intervalMs: 2500,
  cpus: 2,
  load: { before: [0.4, 0.3, 0.2], after: [flags.length ? 3.1 : 0.6, 0.5, 0.3] },
  cpuTime: { user: 0.4, nice: 0, system: 0.1, idle: 0.5 - steal, iowait: 0, irq: 0, softirq: 0, steal },
  processes: { self: 0.45, children: 0, others: 0.05 },
  cpuFreqMHz: { before: { min: 800, max: 2400 }, after: { min: 2400, max: 2400 } },
  pressure: { cpu: { someAvg10Before: 0, someAvg10After: 1.5, someShare: 0.02, fullShare: 0, someTotalUs: 50_000, fullTotalUs: 0 } },
  flags,
});

function fixture(): Results {
  const r = results([
    { id: 'host/faults', measurements: [{ id: 'fault/4K', rounds: [100, 110, 120] }] },
    { id: 'host/uffd-roundtrip', measurements: [{ id: 'roundtrip', rounds: [20, 21, 22] }] },
  ]);
  r.run.repeats = 2;
  r.suites[0].disturbance = [record(1, []), record(2, ['steal 7.3% of CPU time > 5.0%'], 0.073)];
  r.suites[1].disturbance = [record(1, []), record(2, [])];
  r.suites[0].measurements[0].betweenRuns = { n: 2, min: 110, median: 140, max: 170, runs: [{ run: 1, median: 110, lo: 100, hi: 120 }, { run: 2, median: 170, lo: 160, hi: 180 }] };
  r.suites[0].comparisons.push({
    id: 'ratio',
    title: 'JavaScript / native',
    a: 'fault/4K',
    b: 'fault/4K',
    ratio: { median: 1.14, lo: 1.02, hi: 1.24 },
    betweenRuns: { n: 2, min: 1.14, median: 1.55, max: 1.96, runs: [{ run: 1, median: 1.14, lo: 1.02, hi: 1.24 }, { run: 2, median: 1.96, lo: 1.88, hi: 2.04 }] },
  });
  return r;
}

describe('disturbed suites in the outputs', () => {
  const r = fixture();

  it('the fixture is a valid results file', () => {
    expect(validateResults(JSON.parse(JSON.stringify(r)))).toEqual([]);
  });

  it('report.html: the summary badge counts disturbed suites, links them and states the thresholds', () => {
    const html = renderHtml(r);
    expect(html).toContain('<span class="badge disturbed" id="disturbed-count">1 suite disturbed</span> <a href="#s-0">host/faults</a>: the machine was busy');
    expect(html).toContain(
      "Flagged when: steal above 5% of CPU time; 1-minute load average above the number of CPUs (before or after the suite); tasks waiting for a CPU (PSI cpu some) more than 10% of the suite's time",
    );
    expect(html).toContain('tasks stalled on memory (PSI memory some) more than 10% of the suite');
    expect(html).toContain(', 2 runs');
  });

  it('report.html: each suite\'s machine state, a row per run, the disturbed run marked with its reason', () => {
    const html = renderHtml(r);
    const section = html.slice(html.indexOf('<section id="s-0">'), html.indexOf('<section id="s-1">'));
    expect(section).toContain('<h3><span class="badge disturbed">disturbed</span> Machine while it ran</h3>');
    const rows = [...section.matchAll(/<tr class="(disturbed)?"><td>(\d)<\/td><td>2.5 s, 2 CPUs<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td>/g)].map((m) => [m[1] ?? '', m[2], m[3], m[4]]);
    expect(rows).toEqual([
      ['', '1', '0.40 0.30 0.20 &rarr; 0.60 0.50 0.30', 'user 40%, nice 0%, system 10%, idle 50%, iowait 0%, irq 0%, softirq 0%, steal 0%'],
      ['disturbed', '2', '0.40 0.30 0.20 &rarr; 3.10 0.50 0.30', 'user 40%, nice 0%, system 10%, idle 42.7%, iowait 0%, irq 0%, softirq 0%, steal 7.3%'],
    ]);
    expect(section).toContain('<td><span class="badge disturbed">disturbed</span> steal 7.3% of CPU time &gt; 5.0%</td>');
    expect(section).toContain('<td>800 .. 2,400 &rarr; 2,400 .. 2,400 MHz</td>');
    expect(section).toContain('<td>this process 45%, its children 0%, others 5%</td>');
    const other = html.slice(html.indexOf('<section id="s-1">'));
    expect(other).toContain('<h3>Machine while it ran</h3>');
    expect(other).not.toContain('badge disturbed');
  });

  it('report.html: the spread between runs beside the spread within one, for measurements and ratios', () => {
    const html = renderHtml(r);
    expect(html).toContain('<th>rounds lo .. hi</th><th>runs min .. max</th>');
    expect(html).toContain('<td>100 .. 120</td><td>runs 110 .. 170 (median 140, n=2)</td>');
    expect(html).toContain('1.02 .. 1.24<br>runs 1.14 .. 1.96 (median 1.55, n=2)');
    // a suite without between-run figures (one run) has no such column
    expect(renderHtml(results([{ id: 'host/faults', measurements: [{ id: 'a', rounds: [1, 2] }] }]))).not.toContain('runs min .. max</th><th>stable');
  });

  it('KTAP: a diagnostic before the suite\'s result line, naming the run', () => {
    const lines = toKtap(r).split('\n');
    const at = lines.indexOf('# host/faults: disturbed in run 2: steal 7.3% of CPU time > 5.0%');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('ok 1 host/faults');
    expect(lines.filter((l) => l.includes('disturbed'))).toHaveLength(1);
  });

  it('JUnit: properties disturbed and disturbed.reason', () => {
    const xml = toJunit(r);
    expect(xml).toContain('<property name="disturbed" value="true"/>\n      <property name="disturbed.reason" value="run 2: steal 7.3% of CPU time &gt; 5.0%"/>');
    expect(xml.match(/<property name="disturbed" value="false"\/>/g)).toHaveLength(1);
  });

  it('the terminal summary: one line per disturbed run, the ratio with its runs', () => {
    const text = summaryTable(r);
    expect(text).toContain('host/faults: disturbed in run 2: steal 7.3% of CPU time > 5.0%');
    expect(text).toContain('host/faults: JavaScript / native = 1.14 (1.02 .. 1.24, runs 1.14 .. 1.96 (n=2))');
  });
});
