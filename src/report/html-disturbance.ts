// The parts of report.html about how the machine was while suites ran
// (src/measure/disturbance.ts) and about bench --runs N: the summary badge
// "N suites disturbed" with the thresholds, a machine-state table per suite,
// and the between-run spread beside the within-run one. Kept apart from
// html.ts, which calls these functions.
import { THRESHOLDS, type PressureDelta } from '../measure/disturbance.js';
import type { BetweenRuns, Results, SuiteDisturbance, SuiteResult } from './results.js';
import { readable } from './units.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (v: number) => `${readable(100 * v)}%`;

/** The thresholds in words, as the report and docs/benchmarks.md state them. */
export const THRESHOLDS_TEXT = [
  `steal above ${pct(THRESHOLDS.stealShare)} of CPU time`,
  `1-minute load average above ${THRESHOLDS.loadPerCpu === 1 ? 'the number of CPUs' : `${THRESHOLDS.loadPerCpu} x the CPUs`} (before or after the suite)`,
  `tasks waiting for a CPU (PSI cpu some) more than ${pct(THRESHOLDS.cpuPressureShare)} of the suite's time, or its avg10 above ${pct(THRESHOLDS.cpuPressureShare)} at the end`,
  `tasks stalled on memory (PSI memory some) more than ${pct(THRESHOLDS.memoryPressureShare)} of the suite's time`,
].join('; ');

export const isDisturbed = (s: SuiteResult): boolean => (s.disturbance ?? []).some((d) => d.flags.length > 0);

/** The summary's badge and the list of disturbed suites (links to their sections); '' when none ran. */
export function disturbanceSummary(results: Results, suiteLabel: (s: SuiteResult) => string): string {
  const recorded = results.suites.filter((s) => s.disturbance?.length);
  if (!recorded.length) return '';
  const disturbed = results.suites.map((s, si) => ({ s, si })).filter(({ s }) => isDisturbed(s));
  const badge = `<span class="badge ${disturbed.length ? 'disturbed' : 'zero'}" id="disturbed-count">${disturbed.length} suite${disturbed.length === 1 ? '' : 's'} disturbed</span>`;
  const list = disturbed.map(({ s, si }) => `<a href="#s-${si}">${esc(suiteLabel(s))}</a>`).join(', ');
  return `<p class="${disturbed.length ? 'warn' : ''}">${badge} ${disturbed.length ? `${list}: the machine was busy while they ran, read their figures with care. ` : ''}Flagged when: ${esc(THRESHOLDS_TEXT)}.</p>`;
}

function pressureCell(p: PressureDelta | undefined): string {
  if (!p) return 'not offered';
  return `some ${pct(p.someShare)}${p.fullShare === null ? '' : `, full ${pct(p.fullShare)}`} (avg10 ${readable(p.someAvg10Before)}% &rarr; ${readable(p.someAvg10After)}%)`;
}

function runRow(d: SuiteDisturbance, several: boolean): string {
  const load = d.load === 'unreadable' ? 'unreadable' : `${d.load.before.map((v) => v.toFixed(2)).join(' ')} &rarr; ${d.load.after.map((v) => v.toFixed(2)).join(' ')}`;
  const cpu =
    d.cpuTime === 'unreadable'
      ? 'unreadable'
      : (Object.entries(d.cpuTime) as [string, number][]).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
  const procs = d.processes === 'unreadable' ? 'unreadable' : `this process ${pct(d.processes.self)}, its children ${pct(d.processes.children)}, others ${pct(d.processes.others)}`;
  const freq = d.cpuFreqMHz === 'unreadable' ? 'unreadable' : `${readable(d.cpuFreqMHz.before.min)} .. ${readable(d.cpuFreqMHz.before.max)} &rarr; ${readable(d.cpuFreqMHz.after.min)} .. ${readable(d.cpuFreqMHz.after.max)} MHz`;
  const psi = d.pressure === 'unreadable' ? ['unreadable', 'unreadable', 'unreadable'] : [pressureCell(d.pressure.cpu), pressureCell(d.pressure.memory), pressureCell(d.pressure.io)];
  const verdict = d.flags.length ? `<span class="badge disturbed">disturbed</span> ${d.flags.map(esc).join('; ')}` : 'not disturbed';
  const cells = [...(several ? [String(d.run)] : []), `${readable(d.intervalMs / 1000)} s, ${d.cpus} CPUs`, load, cpu, procs, freq, ...psi, verdict];
  return `<tr class="${d.flags.length ? 'disturbed' : ''}">${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
}

/** A suite's machine state: one row per run; '' when none was recorded (a skipped suite). */
export function disturbanceSection(suite: SuiteResult): string {
  const runs = suite.disturbance ?? [];
  if (!runs.length) return '';
  const several = runs.length > 1;
  const head = [...(several ? ['run'] : []), 'interval', 'load 1/5/15 before &rarr; after', 'CPU time (all CPUs)', 'CPU time by', 'CPU frequency', 'cpu pressure', 'memory pressure', 'io pressure', 'verdict'];
  const title = isDisturbed(suite) ? '<span class="badge disturbed">disturbed</span> ' : '';
  return `<h3>${title}Machine while it ran</h3><table class="disturbance"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${runs.map((d) => runRow(d, several)).join('')}</tbody></table>`;
}

/** The between-run spread of a figure, scaled by `scale` (values are divided by it): "runs 1.2 .. 1.4 (median 1.3, n=3)". */
export function betweenRunsText(br: BetweenRuns | undefined, scale = 1): string {
  if (!br) return '';
  const v = (x: number) => readable(x / scale);
  return `runs ${v(br.min)} .. ${v(br.max)} (median ${v(br.median)}, n=${br.n})`;
}

/** "3 runs" for the page's header line; '' for a single run. */
export const repeatsText = (results: Results): string => (results.run.repeats && results.run.repeats > 1 ? `, ${results.run.repeats} runs` : '');

export const DISTURBANCE_STYLE = `.badge.disturbed{background:#b03a2e}tr.disturbed td{background:#fdedec}table.disturbance{font-size:11px}`;
