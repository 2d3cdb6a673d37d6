// report.html: one self-contained file (Chart.js inlined, no network) with
// the plots a kernel developer looks for: fault-latency histograms on log
// scales with p50/p99 marked, throughput-versus-size curves per mirror mode,
// bars for pte/pmd/pud and for kernel-versus-kernel, and every statistic in
// tables.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fmt } from './compare.js';
import type { Measurement, ParamValue, Plot, Results, SuiteResult } from './results.js';

const require = createRequire(import.meta.url);

interface ChartSpec {
  title: string;
  type: 'bar' | 'line';
  labels: (string | number)[];
  datasets: { label: string; data: (number | null)[] }[];
  logX?: boolean;
  logY?: boolean;
  xTitle: string;
  yTitle: string;
  /** Vertical markers on a category axis: index of the bin holding the value. */
  markers?: { label: string; index: number }[];
}

function histogram(m: Measurement, title: string): ChartSpec | null {
  const s = m.samples.filter((v) => v > 0 && Number.isFinite(v));
  if (s.length < 2) return null;
  const lo = Math.log10(Math.min(...s));
  const hi = Math.log10(Math.max(...s));
  const bins = 30;
  const width = (hi - lo) / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of s) counts[Math.min(bins - 1, Math.floor((Math.log10(v) - lo) / width))]++;
  const edge = (i: number) => 10 ** (lo + i * width);
  const labels = counts.map((_, i) => `${fmt(edge(i))}`);
  const binOf = (v: number) => Math.max(0, Math.min(bins - 1, Math.floor((Math.log10(v) - lo) / width)));
  return {
    title,
    type: 'bar',
    labels,
    datasets: [{ label: `samples (${m.unit}), n=${m.samplesTotal}${m.samplesTotal > s.length ? `, ${s.length} kept` : ''}`, data: counts }],
    logY: true,
    xTitle: `${m.unit} (log bins, lower edge)`,
    yTitle: 'count',
    markers: [
      { label: `p50 ${fmt(m.warm.median)}`, index: binOf(m.warm.median) },
      { label: `p99 ${fmt(m.warm.p99)}`, index: binOf(m.warm.p99) },
    ],
  };
}

function byId(suite: SuiteResult): Map<string, Measurement> {
  return new Map(suite.measurements.map((m) => [m.id, m]));
}

function chartFor(plot: Plot, suite: SuiteResult): ChartSpec | null {
  const ms = byId(suite);
  const pick = (ids: string[]) => ids.map((id) => ms.get(id)).filter((m): m is Measurement => !!m);
  switch (plot.kind) {
    case 'histogram': {
      const m = ms.get(plot.measurement);
      return m ? histogram(m, plot.title) : null;
    }
    case 'curve': {
      const list = pick(plot.measurements);
      if (!list.length) return null;
      const xs = [...new Set(list.map((m) => Number(m.params[plot.x])))].sort((a, b) => a - b);
      const series = [...new Set(list.map((m) => String(m.params[plot.series])))];
      return {
        title: plot.title,
        type: 'line',
        labels: xs,
        datasets: series.map((name) => ({
          label: name,
          data: xs.map((x) => list.find((m) => String(m.params[plot.series]) === name && Number(m.params[plot.x]) === x)?.warm.median ?? null),
        })),
        logX: plot.logX ?? true,
        xTitle: plot.x,
        yTitle: `median (${list[0].unit})`,
      };
    }
    case 'bars': {
      const list = pick(plot.measurements);
      if (!list.length) return null;
      const datasets: ChartSpec['datasets'] = [{ label: `warm median (${list[0].unit})`, data: list.map((m) => m.warm.median) }];
      if (list.some((m) => m.cold)) datasets.push({ label: `cold (${list[0].unit})`, data: list.map((m) => m.cold?.median ?? null) });
      return {
        title: plot.title,
        type: 'bar',
        labels: list.map((m) => String(m.params[plot.label] ?? m.id)),
        datasets,
        logY: true,
        xTitle: plot.label,
        yTitle: list[0].unit,
      };
    }
  }
}

/** Bars of every measurement that ran on more than one guest kernel. */
function kernelCharts(results: Results): ChartSpec[] {
  const groups = new Map<string, SuiteResult[]>();
  for (const s of results.suites) if (s.kernel) groups.set(s.id, [...(groups.get(s.id) ?? []), s]);
  const charts: ChartSpec[] = [];
  for (const [id, suites] of groups) {
    if (suites.length < 2) continue;
    const ids = [...new Set(suites.flatMap((s) => s.measurements.map((m) => m.id)))];
    charts.push({
      title: `${id}: kernel versus kernel (warm medians)`,
      type: 'bar',
      labels: ids,
      datasets: suites.map((s) => ({ label: s.kernel!, data: ids.map((mid) => s.measurements.find((m) => m.id === mid)?.warm.median ?? null) })),
      logY: true,
      xTitle: 'measurement',
      yTitle: 'median (unit per measurement, see tables)',
    });
  }
  return charts;
}

function kernelRatioTable(results: Results): string {
  const rows = (results.kernelComparisons ?? []).map(
    (k) => `<tr><td>${esc(k.suite)}</td><td>${esc(k.title)}</td><td>${esc(k.unit)}</td><td>${fmt(k.ratio.median)}</td><td>${fmt(k.ratio.lo)}</td><td>${fmt(k.ratio.hi)}</td></tr>`,
  );
  if (!rows.length) return '';
  return `<table><thead><tr><th>suite</th><th>measurement</th><th>unit</th><th>ratio (median)</th><th>lo</th><th>hi</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

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
    rows.get(rowKey(c.suite, c.kernel, c.measurement, params))?.ratios.set(`${c.a} / ${c.b}`, `${fmt(c.ratio.median)} (${fmt(c.ratio.lo)}..${fmt(c.ratio.hi)})`);
  }
  const head = ['suite', 'measurement', 'unit', ...labels.map((l) => `${l} median`), ...pairs];
  const body = [...rows.values()].map((r) => {
    const cells = [r.suite, r.title, r.unit, ...labels.map((l) => (r.medians.has(l) ? fmt(r.medians.get(l)!) : '-')), ...pairs.map((p) => r.ratios.get(p) ?? '-')];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<section><h2>Runs compared</h2><ul>${machines.join('')}</ul><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table></section>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function table(suite: SuiteResult): string {
  const head = ['measurement', 'unit', 'cold median', 'min', 'median', 'mean', 'stddev', 'p90', 'p99', 'max', 'n', 'stable', 'parameters and observed'];
  const rows = suite.measurements.map((m) => {
    const w = m.warm;
    const cells = [m.title, m.unit, m.cold ? fmt(m.cold.median) : '-', fmt(w.min), fmt(w.median), fmt(w.mean), fmt(w.stddev), fmt(w.p90), fmt(w.p99), fmt(w.max), String(w.n), m.stable ? 'yes' : 'no'];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}<td class="params">${paramsCell(m)}</td></tr>`;
  });
  const cmp = suite.comparisons.map((c) => {
    const t = c.target ? ` target ${c.target.op} ${c.target.value}: ${c.target.met ? 'met' : 'NOT met'}` : '';
    return `<li>${esc(c.title)}: ${fmt(c.ratio.median)} (range ${fmt(c.ratio.lo)} to ${fmt(c.ratio.hi)})${esc(t)}</li>`;
  });
  const checks = suite.checks.map((c) => `<li class="${c.status}">${c.status}: ${esc(c.name)}${c.reason ? ` (${esc(c.reason)})` : ''}</li>`);
  return [
    `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`,
    cmp.length ? `<h3>Ratios</h3><ul>${cmp.join('')}</ul>` : '',
    checks.length ? `<h3>Checks</h3><ul>${checks.join('')}</ul>` : '',
  ].join('\n');
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

const PAGE_SCRIPT = `
const specs = JSON.parse(document.getElementById('chart-data').textContent);
const markers = {
  id: 'markers',
  afterDatasetsDraw(chart, args, opts) {
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
let rendered = 0;
for (const spec of specs) {
  const box = document.getElementById(spec.target);
  const canvas = document.createElement('canvas');
  box.appendChild(canvas);
  new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets: spec.datasets.map((d) => ({ ...d, spanGaps: true })) },
    options: {
      animation: false,
      responsive: true,
      plugins: { title: { display: true, text: spec.title }, markers: { list: spec.markers || [] } },
      scales: {
        x: { type: spec.logX ? 'logarithmic' : 'category', title: { display: true, text: spec.xTitle } },
        y: { type: spec.logY ? 'logarithmic' : 'linear', title: { display: true, text: spec.yTitle } },
      },
    },
    plugins: [markers],
  });
  rendered++;
}
document.body.dataset.chartsRendered = String(rendered);
`;

export function renderHtml(results: Results): string {
  const chartJs = readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
  const specs: (ChartSpec & { target: string })[] = [];
  const sections: string[] = [];
  results.suites.forEach((suite, si) => {
    const name = `${suite.label ? `${suite.label}: ` : ''}${suite.kernel ? `${suite.title} (guest ${suite.kernel})` : `${suite.title} (host)`}`;
    const boxes: string[] = [];
    suite.plots.forEach((plot, pi) => {
      const spec = chartFor(plot, suite);
      if (!spec) return;
      const target = `c-${si}-${pi}`;
      specs.push({ ...spec, target });
      boxes.push(`<div class="chart" id="${target}"></div>`);
    });
    const status = suite.status === 'complete' ? '' : ` <span class="status">${suite.status}${suite.reason ? `: ${esc(suite.reason)}` : ''}</span>`;
    sections.push(`<section><h2>${esc(name)}${status}</h2>${selftestsTables(suite)}<div class="charts">${boxes.join('')}</div>${table(suite)}</section>`);
  });
  const kc = kernelCharts(results).map((spec, i) => ({ ...spec, target: `k-${i}` }));
  specs.push(...kc);
  const m = results.machine;
  const info = [
    `${esc(m.cpuModel)}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`,
    `kernel ${esc(m.kernelRelease)}${m.virtualization.hypervisor ? `, virtual machine (${esc(m.virtualization.vendor ?? 'unknown')})` : ''}`,
    `THP ${m.thp.enabled}/${m.thp.defrag}, node ${m.nodeVersion}, mirrorlab ${m.mirrorlabVersion}${m.gitCommit ? ` (${m.gitCommit.slice(0, 12)})` : ''}`,
    `run ${results.run.startedAt}${results.run.complete ? '' : ' <b>INCOMPLETE</b>'}`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mirrorlab report</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
td:first-child,th:first-child,td.params{text-align:left}td.params{font-size:11px;color:#555}.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{width:560px}.status{color:#c0392b;font-size:70%}.fail{color:#c0392b}.skip{color:#888}
</style>
<script>${chartJs.replace(/<\/script/gi, '<\\/script')}</script>
</head><body>
<h1>mirrorlab report</h1>
<p>${info.join('<br>')}</p>
${kc.length || results.kernelComparisons?.length ? `<section><h2>Kernel versus kernel</h2><div class="charts">${kc.map((s) => `<div class="chart" id="${s.target}"></div>`).join('')}</div>${kernelRatioTable(results)}</section>` : ''}
${runsTable(results)}
${sections.join('\n')}
<script type="application/json" id="chart-data">${JSON.stringify(specs).replace(/</g, '\\u003c')}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}
