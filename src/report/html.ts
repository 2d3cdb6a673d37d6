// report.html: one self-contained file (Chart.js inlined, no network).
// First screen: the verdicts (checks passed/failed/skipped, targets met or
// NOT MET, key ratios with their spread over rounds, noisy ones marked), how
// the guests ran (kernel release, TCG or KVM), links to results.json and
// results.ktap, and a table of contents. Then the GUP-versus-HMM behaviour
// matrix (guest/behaviour findings), kernel versus kernel as tables with bars
// (one unit per table), and each suite with its charts and statistics.
// Every chart has one unit on its value axis, scaled to its values (µs, MiB,
// ...), with round-median spreads drawn as error bars.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Comparison, Finding, Measurement, ParamValue, Plot, Results, SuiteResult } from './results.js';
import { betweenRunsText, disturbanceSection, disturbanceSummary, DISTURBANCE_STYLE, repeatsText } from './html-disturbance.js';
import { isNoisy, NOISY_SPREAD, quantity, readable, roundRange, scaleFor, spread } from './units.js';

const require = createRequire(import.meta.url);

export interface ChartDataset {
  label: string;
  /** The unit of every value in data, lo and hi: the chart's value-axis unit. */
  unit: string;
  data: (number | null)[];
  /** Error bars: lowest and highest round median per point. */
  lo?: (number | null)[];
  hi?: (number | null)[];
}

export interface ChartSpec {
  /** The id of the chart's box in the page. */
  target: string;
  title: string;
  type: 'bar' | 'line';
  labels: (string | number)[];
  datasets: ChartDataset[];
  logX?: boolean;
  logY?: boolean;
  /** Lowest value on the value axis (histograms: 0.5, so a bin of one sample shows on a log axis). */
  yMin?: number;
  xTitle: string;
  /** The value axis: its one unit. */
  yUnit: string;
  yTitle: string;
  /** Vertical markers on a category axis: index of the bin holding the value. */
  markers?: { label: string; index: number }[];
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

// A merged file's suites carry their run's label (mirrorlab merge): "lab-a:host/faults".
const suiteLabel = (s: SuiteResult): string => `${s.label ? `${s.label}:` : ''}${s.kernel ? `${s.id}@${s.kernel}` : s.id}`;

/** The clock a guest suite's times came from; files written before it was recorded ran on the wall clock. */
const guestClockOf = (s: SuiteResult): 'wall' | 'icount' | null => (s.guest ? (s.guest.clock ?? 'wall') : null);

/** "TCG, icount clock": how a guest ran and what its times measure. */
const guestMode = (s: SuiteResult): string => (s.guest ? `${s.guest.accel.toUpperCase()}, ${guestClockOf(s)} clock` : '');

/** "guest 6.12: 6.12.38+deb13-amd64, TCG, wall clock" or "host". */
function whereRan(s: SuiteResult): string {
  if (!s.kernel) return 'host';
  return s.guest ? `guest ${s.kernel}: ${s.guest.release}, ${guestMode(s)}` : `guest ${s.kernel}`;
}

const CLOCK_TITLES = {
  wall: 'guest times are host time spent running the guest: they vary with the load on the host',
  icount: 'guest times count guest instructions (QEMU -icount shift=0: 1 ns per instruction): the same every run, but not speeds; memory and TLB costs are not in them',
} as const;

function accelBadge(s: SuiteResult): string {
  if (!s.guest) return '';
  const clock = guestClockOf(s)!;
  const accel =
    s.guest.accel === 'tcg'
      ? ' <span class="badge tcg" title="QEMU TCG: the guest CPU is emulated; times are not hardware speeds">TCG (emulated)</span>'
      : ' <span class="badge kvm">KVM</span>';
  return `${accel} <span class="badge clock ${clock}" title="${esc(CLOCK_TITLES[clock])}">${clock} clock</span>`;
}

function noisyMark(lo: number | null | undefined, hi: number | null | undefined): string {
  if (!isNoisy(lo, hi)) return '';
  const s = spread(lo, hi);
  return ` <span class="badge noisy" title="rounds differ more than ${NOISY_SPREAD}x (hi/lo)">noisy ${Number.isFinite(s) ? `${readable(s)}x` : ''}</span>`;
}

function histogram(m: Measurement, title: string, target: string): ChartSpec | null {
  const s = m.samples.filter((v) => v > 0 && Number.isFinite(v));
  if (s.length < 2) return null;
  // scaled to the typical sample, not the slowest: a 7 ms outlier must not write a 15 µs median as 0.015 ms
  const scale = scaleFor(m.unit, [m.warm.median]);
  const lo = Math.log10(Math.min(...s));
  const hi = Math.log10(Math.max(...s));
  const bins = 30;
  const width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of s) counts[Math.min(bins - 1, Math.floor((Math.log10(v) - lo) / width))]++;
  const edge = (i: number) => 10 ** (lo + i * width) / scale.divisor;
  const binOf = (v: number) => Math.max(0, Math.min(bins - 1, Math.floor((Math.log10(v) - lo) / width)));
  return {
    target,
    title,
    type: 'bar',
    labels: counts.map((_, i) => readable(edge(i))),
    datasets: [{ label: `samples, n=${m.samplesTotal}${m.samplesTotal > s.length ? `, ${s.length} kept` : ''}`, unit: 'count', data: counts }],
    logY: true,
    yMin: 0.5,
    xTitle: `${scale.unit} (log bins, lower edge)`,
    yUnit: 'count',
    yTitle: 'count (samples per bin)',
    markers: [
      { label: `p50 ${quantity(m.warm.median, m.unit)}`, index: binOf(m.warm.median) },
      { label: `p99 ${quantity(m.warm.p99, m.unit)}`, index: binOf(m.warm.p99) },
    ],
  };
}

/** Split measurements by unit, keeping order: a chart never mixes units. */
function byUnit(list: Measurement[]): Measurement[][] {
  const groups = new Map<string, Measurement[]>();
  for (const m of list) groups.set(m.unit, [...(groups.get(m.unit) ?? []), m]);
  return [...groups.values()];
}

const wide = (values: (number | null)[]): boolean => {
  const v = values.filter((x): x is number => x !== null && x > 0);
  return v.length > 1 && Math.max(...v) / Math.min(...v) > 50;
};

function chartsFor(plot: Plot, suite: SuiteResult, target: string): ChartSpec[] {
  const ms = new Map(suite.measurements.map((m) => [m.id, m]));
  const pick = (ids: string[]) => ids.map((id) => ms.get(id)).filter((m): m is Measurement => !!m);
  if (plot.kind === 'histogram') {
    const m = ms.get(plot.measurement);
    const h = m ? histogram(m, plot.title, target) : null;
    return h ? [h] : [];
  }
  const groups = byUnit(pick(plot.measurements));
  return groups.map((list, gi): ChartSpec => {
    const id = gi ? `${target}-${gi}` : target;
    const title = groups.length > 1 ? `${plot.title} (${list[0].unit})` : plot.title;
    const range = (m: Measurement | undefined) => (m ? roundRange(m) : null);
    if (plot.kind === 'curve') {
      const xs = [...new Set(list.map((m) => Number(m.params[plot.x])))].sort((a, b) => a - b);
      const series = [...new Set(list.map((m) => String(m.params[plot.series])))];
      const at = (name: string, x: number) => list.find((m) => String(m.params[plot.series]) === name && Number(m.params[plot.x]) === x);
      const scale = scaleFor(list[0].unit, list.flatMap((m) => [m.warm.median, ...(roundRange(m) ?? [])]));
      const f = (v: number | null | undefined) => (v === null || v === undefined ? null : v / scale.divisor);
      const sizeAxis = plot.x === 'size';
      return {
        target: id,
        title,
        type: 'line',
        // sizes as readable labels on a category axis keep their order and read as "2 MiB"
        labels: sizeAxis ? xs.map((x) => quantity(x, 'B')) : xs,
        datasets: series.map((name) => ({
          label: name,
          unit: scale.unit,
          data: xs.map((x) => f(at(name, x)?.warm.median)),
          lo: xs.map((x) => f(range(at(name, x))?.[0])),
          hi: xs.map((x) => f(range(at(name, x))?.[1])),
        })),
        logX: sizeAxis ? false : (plot.logX ?? true),
        logY: wide(list.map((m) => m.warm.median)),
        xTitle: sizeAxis ? 'size' : plot.x,
        yUnit: scale.unit,
        yTitle: `median (${scale.unit}), bars: round medians lo..hi`,
      };
    }
    const scale = scaleFor(list[0].unit, list.flatMap((m) => [m.warm.median, m.cold?.median, ...(roundRange(m) ?? [])]));
    const f = (v: number | null | undefined) => (v === null || v === undefined ? null : v / scale.divisor);
    const datasets: ChartDataset[] = [
      { label: 'warm median', unit: scale.unit, data: list.map((m) => f(m.warm.median)), lo: list.map((m) => f(range(m)?.[0])), hi: list.map((m) => f(range(m)?.[1])) },
    ];
    if (list.some((m) => m.cold)) datasets.push({ label: 'cold median', unit: scale.unit, data: list.map((m) => f(m.cold?.median)) });
    return {
      target: id,
      title,
      type: 'bar',
      labels: list.map((m) => {
        const r = roundRange(m);
        const v = m.params[plot.label];
        const label = plot.label === 'size' && typeof v === 'number' ? quantity(v, 'B') : String(v ?? m.id);
        return `${label}${r && isNoisy(r[0], r[1]) ? ' (noisy)' : ''}`;
      }),
      datasets,
      logY: wide(datasets.flatMap((d) => d.data)),
      xTitle: plot.label,
      yUnit: scale.unit,
      yTitle: `median (${scale.unit}), bars: round medians lo..hi`,
    };
  });
}

/** Every chart of the report, in page order, each with its box id. */
export function chartSpecs(results: Results): ChartSpec[] {
  return results.suites.flatMap((suite, si) => suite.plots.flatMap((plot, pi) => chartsFor(plot, suite, `c-${si}-${pi}`)));
}

// ---- summary ---------------------------------------------------------------

function ratioRow(s: SuiteResult, c: Comparison): string {
  const { median, lo, hi } = c.ratio;
  const verdict = c.target ? `<span class="badge ${c.target.met ? 'met' : 'notmet'}">${c.target.met ? 'met' : 'NOT MET'}</span>` : '';
  const target = c.target ? `${c.target.op} ${readable(c.target.value)}` : '';
  return `<tr><td>${verdict}</td><td>${esc(suiteLabel(s))}${accelBadge(s)}</td><td>${esc(c.title)}</td><td class="num"><b>${readable(median)}</b></td><td class="num">${readable(lo)} .. ${readable(hi)}${noisyMark(lo, hi)}${c.betweenRuns ? `<br>${betweenRunsText(c.betweenRuns)}${noisyMark(c.betweenRuns.min, c.betweenRuns.max)}` : ''}</td><td>${esc(target)}</td></tr>`;
}

const RATIO_HEAD = '<tr><th></th><th>suite</th><th>ratio</th><th>median</th><th>spread (rounds lo .. hi; with --runs N, runs min .. max)</th><th>target</th></tr>';

/** Key ratios: every comparison with a target, then the first comparison of each suite run that has none, at most 10 in all. */
function keyRatios(results: Results): { targets: string[]; others: string[] } {
  const targets: string[] = [];
  const others: string[] = [];
  for (const s of results.suites) {
    for (const c of s.comparisons) if (c.target) targets.push(ratioRow(s, c));
    if (!s.comparisons.some((c) => c.target) && s.comparisons.length && targets.length + others.length < 10) others.push(ratioRow(s, s.comparisons[0]));
  }
  return { targets, others };
}

function count<T>(xs: T[], f: (x: T) => boolean): number {
  return xs.reduce((n, x) => n + (f(x) ? 1 : 0), 0);
}

function summary(results: Results): string {
  const checks = results.suites.flatMap((s) => s.checks.map((c) => ({ s, c })));
  const pass = count(checks, (x) => x.c.status === 'pass');
  const fail = count(checks, (x) => x.c.status === 'fail');
  const skip = count(checks, (x) => x.c.status === 'skip');
  const st = (k: SuiteResult['status']) => count(results.suites, (s) => s.status === k);
  const badBadge = (n: number, cls: string, what: string) => `<span class="badge ${n ? cls : 'zero'}">${n} ${what}</span>`;
  const comparisons = results.suites.flatMap((s) => s.comparisons);
  const notMet = count(comparisons, (c) => c.target?.met === false);
  const met = count(comparisons, (c) => c.target?.met === true);
  const noisy = count(comparisons, (c) => isNoisy(c.ratio.lo, c.ratio.hi)) + count(results.kernelComparisons ?? [], (k) => isNoisy(k.ratio.lo, k.ratio.hi));
  const line = [
    `<span class="badge pass">${pass} checks passed</span>`,
    badBadge(fail, 'fail', 'failed'),
    badBadge(skip, 'skip', 'skipped'),
    `<span class="badge ${notMet ? 'notmet' : met ? 'met' : 'zero'}">targets: ${met} met, ${notMet} NOT MET</span>`,
    noisy ? `<span class="badge noisy">${noisy} ratios noisy (&gt;${NOISY_SPREAD}x over rounds)</span>` : '',
    `suites: ${st('complete')} complete, ${st('skipped')} skipped${st('failed') ? `, <b class="failtext">${st('failed')} failed</b>` : ''}${st('incomplete') ? `, <b class="failtext">${st('incomplete')} incomplete</b>` : ''}`,
    results.run.complete ? '' : '<span class="badge fail">run incomplete</span>',
  ].filter(Boolean);
  const guests = results.suites.filter((s) => s.guest);
  const perKernel = new Map<string, string>();
  for (const s of guests) perKernel.set(s.kernel!, `${s.kernel} (${s.guest!.release}, ${guestMode(s)})`);
  const tcg = guests.some((s) => s.guest!.accel === 'tcg');
  const icount = guests.some((s) => guestClockOf(s) === 'icount');
  const guestLine = perKernel.size
    ? `<p class="${tcg ? 'warn' : ''}">Guest kernels: ${esc([...perKernel.values()].join('; '))}.${tcg ? ' <b>TCG guests run on an emulated CPU</b>: their times are not hardware speeds; read ratios within one kernel, and compare kernels only as ratios.' : ''}${icount ? ' <b>icount clock</b>: guest times count guest instructions (1 ns each), the same from run to run; costs that are not instructions (memory, TLB, caches) are not in them.' : ''}</p>`
    : '';
  const { targets, others } = keyRatios(results);
  const failed = checks.filter((x) => x.c.status === 'fail').slice(0, 8);
  const findings = results.suites.flatMap((s) => s.findings ?? []);
  const matrixLine = findings.length
    ? `<p>Behaviour matrix: ${findings.length} cells, <span class="badge coherent">${count(findings, (f) => f.outcome === 'coherent')} coherent</span> <span class="badge stale">${count(findings, (f) => f.outcome === 'stale')} stale</span> <span class="badge error">${count(findings, (f) => f.outcome === 'error')} error</span> (<a href="#behaviour">matrix</a>)</p>`
    : '';
  return `<section id="summary"><h2>Summary</h2>
<p class="verdicts">${line.join(' ')}</p>
${guestLine}
${disturbanceSummary(results, suiteLabel)}
${matrixLine}
${targets.length || others.length ? `<table class="ratios"><thead>${RATIO_HEAD}</thead><tbody>${targets.join('')}${others.join('')}</tbody></table>` : ''}
${failed.length ? `<p class="failtext">Failed: ${failed.map((x) => `${esc(suiteLabel(x.s))}: ${esc(x.c.name)}${x.c.reason ? ` (${esc(x.c.reason)})` : ''}`).join('; ')}</p>` : ''}
</section>`;
}

// ---- behaviour matrix -------------------------------------------------------

function recordText(f: Finding): string {
  if (!f.records.length) return 'no invalidation';
  const span = (r: Finding['records'][number]) => (r.end < 0 ? `[+${quantity(r.start, 'B')}, ULONG_MAX)` : `[+${quantity(r.start, 'B')}, +${quantity(r.end, 'B')})`);
  const text = (r: Finding['records'][number]) => `${r.event} ${span(r)}${r.blockable ? '' : ' non-blockable'}`;
  if (f.records.length <= 3) return f.records.map(text).join('; ');
  // many page-sized records (migration passes): counted by shape
  const shapes = new Map<string, number>();
  for (const r of f.records) {
    const k = `${r.event} of ${r.end < 0 ? 'all' : quantity(r.end - r.start, 'B')}${r.blockable ? '' : ' non-blockable'}`;
    shapes.set(k, (shapes.get(k) ?? 0) + 1);
  }
  return [...shapes].map(([k, n]) => `${n} x ${k}`).join('; ');
}

function matrixCell(f: Finding | undefined): string {
  if (!f) return '<td class="cell none">not run</td>';
  return `<td class="cell ${f.outcome}"><span class="badge ${f.outcome}">${f.outcome}</span> <span class="detail">${esc(f.detail)}</span><div class="recs">${esc(recordText(f))}</div></td>`;
}

/**
 * Rows: each event, then the kernels it ran on; columns: the modes. Kernels
 * whose cells for an event are the same (outcome, detail and records) share
 * one row, so a difference between kernels stands out as a row of its own.
 */
function behaviourMatrix(results: Results): string {
  const runs = results.suites.filter((s) => s.findings?.length);
  if (!runs.length) return '';
  const events = [...new Set(runs.flatMap((s) => s.findings!.map((f) => f.event)))];
  const modes = [...new Set(runs.flatMap((s) => s.findings!.map((f) => f.mode)))];
  const kernelName = (s: SuiteResult) => `${s.kernel ?? 'host'}${s.guest ? ` (${s.guest.release}, ${guestMode(s)})` : ''}`;
  const rows = events.flatMap((ev) => {
    const groups = new Map<string, { runs: SuiteResult[]; cells: string[] }>();
    for (const s of runs) {
      const cells = modes.map((mode) => matrixCell(s.findings!.find((x) => x.event === ev && x.mode === mode)));
      const key = cells.join('');
      const g = groups.get(key);
      if (g) g.runs.push(s);
      else groups.set(key, { runs: [s], cells });
    }
    const list = [...groups.values()];
    return list.map((g, i) => {
      const head = i === 0 ? `<th class="event" rowspan="${list.length}">${esc(ev)}${list.length > 1 ? ' <span class="badge differs">kernels differ</span>' : ''}</th>` : '';
      const kernels = g.runs.map((s) => esc(kernelName(s))).join('<br>');
      return `<tr data-kernels="${esc(g.runs.map((s) => s.kernel ?? 'host').join(' '))}">${head}<td class="kernels">${kernels}</td>${g.cells.join('')}</tr>`;
    });
  });
  return `<section id="behaviour"><h2>Behaviour matrix: GUP vs GUP-longterm vs HMM</h2>
<p>Each cell: what the device read after the event against what the CPU sees at the same address, from the guest runs (not assumed per mode):
<span class="badge coherent">coherent</span> the same bytes, <span class="badge stale">stale</span> other bytes, or bytes of a page the CPU no longer maps,
<span class="badge error">error</span> the device access failed. Under it, the invalidation records the driver got (event, byte range in the buffer; non-blockable if so).
Kernels that behaved the same share a row.</p>
<table class="matrix"><thead><tr><th>event</th><th>kernel</th>${modes.map((m) => `<th>${esc(m)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

// ---- kernel versus kernel -----------------------------------------------------

/** Per guest suite run on several kernels: one table per unit, a bar per kernel scaled within the table. */
function kernelTables(results: Results): string {
  const groups = new Map<string, SuiteResult[]>();
  for (const s of results.suites) if (s.kernel && s.measurements.length) groups.set(s.id, [...(groups.get(s.id) ?? []), s]);
  const out: string[] = [];
  for (const [id, suites] of groups) {
    if (suites.length < 2) continue;
    const all = suites.flatMap((s) => s.measurements);
    const units = [...new Set(all.map((m) => m.unit))];
    for (const unit of units) {
      const ids = [...new Set(all.filter((m) => m.unit === unit).map((m) => m.id))];
      const scale = scaleFor(unit, all.filter((m) => m.unit === unit).flatMap((m) => roundRange(m) ?? []));
      const max = Math.max(...all.filter((m) => m.unit === unit).flatMap((m) => roundRange(m) ?? [0]), 0) || 1;
      const pct = (v: number) => `${Math.max(0, Math.min(100, (100 * v) / max)).toFixed(1)}%`;
      const rows = ids.map((mid) => {
        const cells = suites.map((s) => {
          const m = s.measurements.find((x) => x.id === mid);
          if (!m) return '<td>-</td>';
          const r = roundRange(m) ?? [m.warm.median, m.warm.median];
          return `<td class="bar"><div class="track"><div class="fill" style="width:${pct(m.warm.median)}"></div><div class="err" style="left:${pct(r[0])};width:calc(${pct(r[1])} - ${pct(r[0])})"></div></div><span>${readable(m.warm.median / scale.divisor)} (${readable(r[0] / scale.divisor)} .. ${readable(r[1] / scale.divisor)})${noisyMark(r[0], r[1])}</span></td>`;
        });
        const title = suites.map((s) => s.measurements.find((x) => x.id === mid)?.title).find(Boolean) ?? mid;
        return `<tr><td>${esc(title)}</td>${cells.join('')}</tr>`;
      });
      const clocks = new Set(suites.map(guestClockOf));
      const mixed = clocks.size > 1 ? ` <span class="badge notcomparable" title="a wall-clock time and an instruction count are not the same quantity">not comparable: guest clocks differ (${esc([...clocks].join(', '))})</span>` : '';
      out.push(`<h3>${esc(id)}: ${esc(scale.unit)} (warm median, rounds lo .. hi)${mixed}</h3><table class="kvk" data-unit="${esc(scale.unit)}"><thead><tr><th>measurement</th>${suites.map((s) => `<th>${esc(whereRan(s))}${accelBadge(s)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`);
    }
  }
  const ratios = (results.kernelComparisons ?? []).map((k) => `<tr><td>${esc(k.suite)}</td><td>${esc(k.title)}</td><td>${esc(k.a)} / ${esc(k.b)}</td><td class="num">${readable(k.ratio.median)}</td><td class="num">${readable(k.ratio.lo)} .. ${readable(k.ratio.hi)}${noisyMark(k.ratio.lo, k.ratio.hi)}</td></tr>`);
  if (!out.length && !ratios.length) return '';
  const noisy = count(results.kernelComparisons ?? [], (k) => isNoisy(k.ratio.lo, k.ratio.hi));
  return `<section id="kernels"><h2>Kernel versus kernel</h2>${out.join('\n')}
${ratios.length ? `<details><summary>${ratios.length} kernel ratios (older over newer)${noisy ? `, ${noisy} noisy` : ''}</summary><table><thead><tr><th>suite</th><th>measurement</th><th>kernels</th><th>ratio</th><th>spread</th></tr></thead><tbody>${ratios.join('')}</tbody></table></details>` : ''}</section>`;
}

// ---- suites -----------------------------------------------------------------

/** What a measurement varied and, labelled apart, what its run saw (compare matches on the first only). */
function paramsCell(m: Measurement): string {
  const list = (r: Record<string, ParamValue>) => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(', ');
  const lines = [`params: ${list(m.params) || '-'}`];
  if (m.observed && Object.keys(m.observed).length) lines.push(`observed: ${list(m.observed)}`);
  return lines.map(esc).join('<br>');
}

/**
 * A merged file (mirrorlab merge): one row per measurement, the warm median
 * of each run in its own column, then the ratio of each pair of runs (with
 * its spread from the round medians) where both ran it.
 */
function runsTable(results: Results): string {
  const runs = results.runs ?? [];
  if (!runs.length) return '';
  const labels = runs.map((r) => r.label);
  const machines = runs.map((r) => `<li><b>${esc(r.label)}</b> (${esc(r.source)}): ${esc(r.machine.cpuModel)}, ${r.machine.cores} cores, kernel ${esc(r.machine.kernelRelease)}, run ${esc(r.run.startedAt)}</li>`);
  const pairs = (results.machineComparisons ?? []).reduce<string[]>((acc, c) => (acc.includes(`${c.a} / ${c.b}`) ? acc : [...acc, `${c.a} / ${c.b}`]), []);
  const rows = new Map<string, { suite: string; title: string; unit: string; medians: Map<string, number>; ratios: Map<string, string> }>();
  const rowKey = (suite: string, kernel: string | null, id: string, params: string) => `${suite}@${kernel ?? 'host'}/${id}${params}`;
  for (const s of results.suites) {
    for (const m of s.measurements) {
      const params = JSON.stringify(Object.entries(m.params).sort(([x], [y]) => x.localeCompare(y)));
      const k = rowKey(s.id, s.kernel, m.id, params);
      const row = rows.get(k) ?? { suite: s.kernel ? `${s.id} (${s.kernel})` : s.id, title: m.title, unit: m.unit, medians: new Map(), ratios: new Map() };
      row.medians.set(s.label ?? '', m.warm.median);
      rows.set(k, row);
    }
  }
  for (const c of results.machineComparisons ?? []) {
    const params = JSON.stringify(Object.entries(c.params).sort(([x], [y]) => x.localeCompare(y)));
    rows.get(rowKey(c.suite, c.kernel, c.measurement, params))?.ratios.set(`${c.a} / ${c.b}`, `${readable(c.ratio.median)} (${readable(c.ratio.lo)} .. ${readable(c.ratio.hi)})`);
  }
  const head = ['suite', 'measurement', 'unit', ...labels.map((l) => `${l} median`), ...pairs];
  const body = [...rows.values()].map((r) => {
    const cells = [r.suite, r.title, r.unit, ...labels.map((l) => (r.medians.has(l) ? readable(r.medians.get(l)!) : '-')), ...pairs.map((p) => r.ratios.get(p) ?? '-')];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<section id="runs"><h2>Runs compared</h2><ul>${machines.join('')}</ul><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table></section>`;
}

function statsTable(suite: SuiteResult): string {
  if (!suite.measurements.length) return '';
  // bench --runs N: the spread of the run medians beside that of the rounds.
  const runs = suite.measurements.some((m) => m.betweenRuns);
  const head = ['measurement', 'unit', 'cold median', 'min', 'median', 'p90', 'p99', 'max', 'stddev', 'n', 'rounds lo .. hi', ...(runs ? ['runs min .. max'] : []), 'stable', 'parameters and observed'];
  const rows = suite.measurements.map((m) => {
    const w = m.warm;
    const r = roundRange(m);
    const scale = scaleFor(m.unit, [w.median]);
    const v = (x: number | null | undefined) => (x === null || x === undefined ? '-' : readable(x / scale.divisor));
    const cells = [esc(m.title), esc(scale.unit), m.cold ? v(m.cold.median) : '-', v(w.min), `<b>${v(w.median)}</b>`, v(w.p90), v(w.p99), v(w.max), v(w.stddev), String(w.n), r ? `${v(r[0])} .. ${v(r[1])}${noisyMark(r[0], r[1])}` : '-', ...(runs ? [m.betweenRuns ? `${betweenRunsText(m.betweenRuns, scale.divisor)}${noisyMark(m.betweenRuns.min, m.betweenRuns.max)}` : '-'] : []), m.stable ? 'yes' : 'no'];
    return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}<td class="params">${paramsCell(m)}</td></tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function checksList(suite: SuiteResult): string {
  if (!suite.checks.length) return '';
  const items = suite.checks.map((c) => `<li><span class="badge ${c.status}">${c.status}</span> ${esc(c.name)}${c.reason ? ` (${esc(c.reason)})` : ''}</li>`);
  return `<h3>Checks</h3><ul class="checks">${items.join('')}</ul>`;
}

/** The kernel's own selftests of a guest suite: counts per selftest suite, every difference from the baseline flagged. */
function selftestsTables(suite: SuiteResult): string {
  const st = suite.selftests;
  if (!st) return '';
  const outcomes = ['pass', 'fail', 'skip', 'xfail', 'xpass'];
  const rows = st.suites.map((s) => {
    const bad = s.suiteDifferences.length + s.cases.filter((c) => c.verdict !== 'match' && c.verdict !== 'flaky').length;
    const flaky = s.cases.filter((c) => c.verdict === 'flaky').length;
    const verdict = s.skipped !== undefined && !bad ? `skipped: ${s.skipped}` : bad ? `${bad} difference(s)` : flaky ? `matches (${flaky} known flaky)` : 'matches';
    const secs = s.durationsMs.map((ms) => (ms / 1000).toFixed(1)).join(', ');
    const cells = [s.suite, String(s.runs), ...outcomes.map((o) => String(s.counts[o] ?? 0)), secs ? `${secs} s` : '-', verdict];
    return `<tr class="${bad ? 'fail' : s.skipped !== undefined ? 'skip' : ''}">${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  const diffs: string[] = [];
  const flaky: string[] = [];
  for (const s of st.suites) {
    for (const d of s.suiteDifferences) diffs.push(`<li class="fail">${esc(s.suite)}: ${esc(d.kind)}: expected ${esc(d.expected)}, got ${esc(d.got)}</li>`);
    for (const c of s.cases) {
      const got = Object.entries(c.outcomes).map(([o, n]) => `${o} ${n}`).join(', ') + (c.reasons?.length ? ` (${c.reasons.join('; ')})` : '');
      if (c.verdict === 'flaky') flaky.push(`<li>${esc(s.suite)}: ${esc(c.name)}: ${esc(got)}; baseline ${esc(c.expected ?? '')}</li>`);
      else if (c.verdict !== 'match') diffs.push(`<li class="fail">${esc(s.suite)}: ${esc(c.name)}: ${esc(c.verdict)}: expected ${esc(c.expected ?? '?')}, got ${esc(got)}</li>`);
    }
  }
  const src = st.source ? `${st.source.package} ${st.source.version}` : 'no build';
  return [
    `<h3>Kernel selftests (${esc(src)}; baseline ${esc(st.baseline)}${st.baselineRelease ? `, recorded on ${esc(st.baselineRelease)}` : ', none'}; test_hmm.ko: ${esc(st.testHmm)}; ${st.cpus} vCPUs; swap: ${esc(st.swap)})</h3>`,
    `<table><thead><tr>${['suite', 'runs', ...outcomes, 'guest time', 'baseline'].map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`,
    diffs.length ? `<h3>Differences from the baseline</h3><ul>${diffs.join('')}</ul>` : '<p>Every outcome matches the baseline.</p>',
    flaky.length ? `<h3>Known flaky cases</h3><ul>${flaky.join('')}</ul>` : '',
  ].join('\n');
}

function suiteSection(suite: SuiteResult, si: number, charts: ChartSpec[]): string {
  const status = suite.status === 'complete' ? '' : ` <span class="badge ${suite.status === 'skipped' ? 'skip' : 'fail'}">${suite.status}${suite.reason ? `: ${esc(suite.reason)}` : ''}</span>`;
  const ratios = suite.comparisons.length ? `<h3>Ratios</h3><table class="ratios"><thead>${RATIO_HEAD}</thead><tbody>${suite.comparisons.map((c) => ratioRow(suite, c)).join('')}</tbody></table>` : '';
  const findings = suite.findings?.length ? `<p>${suite.findings.length} findings: see the <a href="#behaviour">behaviour matrix</a>.</p>` : '';
  return `<section id="s-${si}"><h2>${suite.label ? `${esc(suite.label)}: ` : ''}${esc(suite.title)} <small>(${esc(whereRan(suite))})</small>${accelBadge(suite)}${status}</h2>
${findings}${selftestsTables(suite)}<div class="charts">${charts.map((c) => `<div class="chart" id="${c.target}"></div>`).join('')}</div>${statsTable(suite)}${ratios}${checksList(suite)}${disturbanceSection(suite)}</section>`;
}

// ---- page -------------------------------------------------------------------

const PAGE_SCRIPT = `
const specs = JSON.parse(document.getElementById('chart-data').textContent);
// Numbers without exponents, as src/report/units.ts readable() prints them.
function readable(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 1) return String(Number(v.toPrecision(3)));
  return v.toFixed(Math.min(20, 2 - Math.floor(Math.log10(a)))).replace(/(\\.\\d*?)0+$/, '$1').replace(/\\.$/, '');
}
const markers = {
  id: 'markers',
  afterDatasetsDraw(chart) {
    const list = chart.config.options.plugins.markers.list || [];
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    list.forEach((m, i) => {
      const x = scales.x.getPixelForValue(m.index);
      ctx.strokeStyle = i ? '#c0392b' : '#2c3e50';
      ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(x, chartArea.top); ctx.lineTo(x, chartArea.bottom); ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle;
      const right = x > chartArea.right - 80;
      ctx.textAlign = right ? 'right' : 'left';
      ctx.fillText(m.label, right ? x - 3 : x + 3, chartArea.top + 10 + 12 * i);
    });
    ctx.restore();
  },
};
// Error bars: a whisker from the lowest to the highest round median of each point.
const errorBars = {
  id: 'errorBars',
  afterDatasetsDraw(chart) {
    const { ctx, scales } = chart;
    ctx.save();
    ctx.strokeStyle = '#333';
    ctx.lineWidth = 1;
    chart.data.datasets.forEach((d, di) => {
      if (!d.lo || !chart.isDatasetVisible(di)) return;
      chart.getDatasetMeta(di).data.forEach((el, i) => {
        const lo = d.lo[i];
        const hi = d.hi[i];
        if (lo === null || hi === null || lo === undefined || hi === undefined) return;
        const y0 = scales.y.getPixelForValue(lo);
        const y1 = scales.y.getPixelForValue(hi);
        ctx.beginPath();
        ctx.moveTo(el.x, y0); ctx.lineTo(el.x, y1);
        ctx.moveTo(el.x - 4, y0); ctx.lineTo(el.x + 4, y0);
        ctx.moveTo(el.x - 4, y1); ctx.lineTo(el.x + 4, y1);
        ctx.stroke();
      });
    });
    ctx.restore();
  },
};
let rendered = 0;
for (const spec of specs) {
  const box = document.getElementById(spec.target);
  const canvas = document.createElement('canvas');
  box.appendChild(canvas);
  const tick = (axis) => function (value) {
    // category axes: the label itself; numeric axes: the value, readable
    return axis.type === 'category' ? this.getLabelForValue(value) : readable(value);
  };
  const x = { type: spec.logX ? 'logarithmic' : 'category', title: { display: true, text: spec.xTitle } };
  const y = { type: spec.logY ? 'logarithmic' : 'linear', title: { display: true, text: spec.yTitle } };
  if (spec.yMin !== undefined) y.min = spec.yMin;
  x.ticks = { callback: tick(x) };
  y.ticks = { callback: tick(y) };
  const chart = new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets: spec.datasets.map((d) => ({ ...d, spanGaps: true })) },
    options: {
      animation: false,
      responsive: true,
      plugins: { title: { display: true, text: spec.title }, markers: { list: spec.markers || [] } },
      scales: { x, y },
    },
    plugins: [markers, errorBars],
  });
  // What each axis really shows, for the report's own checks.
  box.dataset.ticks = JSON.stringify({ x: chart.scales.x.ticks.map((t) => t.label), y: chart.scales.y.ticks.map((t) => t.label) });
  rendered++;
}
document.body.dataset.chartsRendered = String(rendered);
`;

const STYLE = `
body{font:14px system-ui,sans-serif;margin:1em 1.5em;color:#222}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:18px 0 6px;border-bottom:1px solid #ddd}h3{font-size:14px;margin:10px 0 4px}
.meta{color:#555;font-size:12px;margin:0 0 6px}
table{border-collapse:collapse;font-size:12px;margin:4px 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
td.num{text-align:right;white-space:nowrap}td.params{font-size:11px;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{width:560px}
.badge{display:inline-block;border-radius:9px;padding:1px 8px;font-size:12px;font-weight:600;color:#fff;background:#7f8c8d;white-space:nowrap}
.badge.pass,.badge.met,.badge.coherent{background:#1e8449}.badge.fail,.badge.notmet,.badge.error{background:#c0392b}
.badge.skip,.badge.zero{background:#95a5a6}.badge.stale,.badge.noisy{background:#d68910}.badge.tcg{background:#6c3483}.badge.clock.wall{background:#7f8c8d}.badge.clock.icount{background:#117a65}.badge.notcomparable{background:#c0392b}.badge.kvm{background:#2471a3}
.failtext,tr.fail,li.fail{color:#c0392b}tr.skip{color:#888}.warn{background:#fdf2e9;border-left:4px solid #d68910;padding:4px 8px}
.verdicts .badge{font-size:13px;margin-right:4px}
nav{font-size:13px;margin:8px 0}nav a{margin-right:12px}
.matrix td.cell{width:300px}.matrix .detail{font-size:12px}.matrix .recs{font-size:11px;color:#555;font-family:monospace;margin-top:2px}
.matrix td.kernels{font-size:11px;white-space:nowrap;color:#444}.badge.differs{background:#6c3483}
.matrix td.coherent{background:#eafaf1}.matrix td.stale{background:#fef5e7}.matrix td.error{background:#fdedec}.matrix th.event{max-width:180px}
.kvk td.bar{min-width:220px}.track{position:relative;height:8px;background:#eee;margin:2px 0}.fill{height:8px;background:#5d6d7e}
.err{position:absolute;top:3px;height:2px;background:#c0392b}
ul.checks{list-style:none;padding-left:0}ul.checks li{margin:1px 0}
`;

export function renderHtml(results: Results): string {
  const chartJs = readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
  const specs = chartSpecs(results);
  const sections = results.suites.map((suite, si) => suiteSection(suite, si, specs.filter((c) => c.target.startsWith(`c-${si}-`))));
  const m = results.machine;
  const info = [
    `${esc(m.cpuModel)}, ${m.cores} cores, ${quantity(m.memoryBytes, 'B')}`,
    `host kernel ${esc(m.kernelRelease)}${m.virtualization.hypervisor ? `, virtual machine (${esc(m.virtualization.vendor ?? 'unknown')})` : ''}`,
    `THP ${esc(String(m.thp.enabled))}/${esc(String(m.thp.defrag))}, node ${esc(m.nodeVersion)}, mirrorlab ${esc(m.mirrorlabVersion)}${m.gitCommit ? ` (${esc(m.gitCommit.slice(0, 12))})` : ''}`,
    `run ${esc(results.run.startedAt)}${results.run.quick ? ' (--quick)' : ''}${repeatsText(results)}${results.run.complete ? '' : ' <b>INCOMPLETE</b>'}`,
  ];
  const matrix = behaviourMatrix(results);
  const kernels = kernelTables(results);
  const toc = [
    '<a href="#summary">Summary</a>',
    matrix ? '<a href="#behaviour">Behaviour matrix</a>' : '',
    kernels ? '<a href="#kernels">Kernel versus kernel</a>' : '',
    results.runs?.length ? '<a href="#runs">Runs compared</a>' : '',
    ...results.suites.map((s, si) => `<a href="#s-${si}">${esc(suiteLabel(s))}</a>`),
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mirrorlab report</title>
<style>${STYLE}${DISTURBANCE_STYLE}</style>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
</head><body>
<h1>mirrorlab report</h1>
<p class="meta">${info.join(' · ')} · data: <a href="results.json">results.json</a> · <a href="results.ktap">results.ktap</a></p>
${summary(results)}
<nav id="toc"><b>Contents:</b> ${toc.join(' ')}</nav>
${matrix}
${kernels}
${runsTable(results)}
${sections.join('\n')}
<script type="application/json" id="chart-data">${JSON.stringify(specs).replace(/</g, '\\u003c')}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
