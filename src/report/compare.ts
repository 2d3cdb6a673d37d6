// `mirrorlab compare a.json b.json`: which measurements got faster or slower
// beyond the noise of both runs.
//
// The noise of one run is the spread of its round medians (each warm round is
// a fresh repetition of the same measurement). A change is reported only when
// the two runs' round-median ranges do not overlap AND the medians differ by
// more than `threshold` (relative). Anything else is "same": within noise.
//
// With bench --runs N a measurement has two spreads: within the run (its
// round medians) and between the runs (min .. max of the N run medians). The
// wider of the two, by hi/lo, is the noise compared; each row says which
// it used. The disturbed suites of each run (src/measure/disturbance.ts)
// are listed after the table: a change there may be the machine's.
//
// A measurement's identity is its suite, kernel, id and params: what was
// measured. Its `observed` values (what the run saw: how many repetitions
// verified, pool sizes before the run) are not part of it, so a run where one
// repetition of 21 did not verify is still compared with the other run.
//
// A guest suite whose guests ran on different clocks in A and B (wall: host
// time; icount: instruction counts) is not compared at all: its rows say
// 'not-comparable' and count neither as slower nor as faster. So is a
// measurement whose median or noise is not a finite number (a library caller's
// NaN or Infinity; a results file cannot hold them): no verdict rests on it.
import type { Measurement, ParamValue, Results, SuiteResult } from './results.js';

export type Verdict = 'faster' | 'slower' | 'same' | 'only-a' | 'only-b' | 'not-comparable';

export interface CompareRow {
  /** suite[@kernel]/id{params}: the identity in one string, as the text table shows it. */
  key: string;
  suite: string;
  kernel: string | null;
  id: string;
  params: Record<string, ParamValue>;
  unit: string;
  a: number | null;
  b: number | null;
  /** b / a of the warm medians. */
  ratio: number | null;
  verdict: Verdict;
  /** Why a row is 'not-comparable' for its numbers: "a: warm median is Infinity". */
  reason?: string;
  /** The noise used for each side: 'rounds' (within its run) or 'runs' (between the runs of bench
   * --runs N), whichever was wider; null for a side the measurement is not in. */
  spread: { a: SpreadKind | null; b: SpreadKind | null };
}

export type SpreadKind = 'rounds' | 'runs';

/** A suite of one input whose machine was disturbed while it ran, with the thresholds passed. */
export interface DisturbedSuite {
  suite: string;
  kernel: string | null;
  /** "run 2: steal 7.3% of CPU time > 5%", one per flag of each run. */
  flags: string[];
}

/** A guest suite (on one kernel) whose guests ran on one clock in A and another in B. */
export interface ClockMismatch {
  suite: string;
  kernel: string | null;
  a: string;
  b: string;
}

export interface CompareReport {
  threshold: number;
  rows: CompareRow[];
  /** Suites not compared because their guest clocks differ. */
  clockMismatches: ClockMismatch[];
  regressions: number;
  improvements: number;
  /** The suites of A and of B that ran on a disturbed machine. */
  disturbed: { a: DisturbedSuite[]; b: DisturbedSuite[] };
}

function key(suite: { id: string; kernel: string | null }, m: Measurement): string {
  const params = Object.entries(m.params)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${suite.id}${suite.kernel ? `@${suite.kernel}` : ''}/${m.id}${params ? `{${params}}` : ''}`;
}

interface Entry {
  suite: string;
  kernel: string | null;
  /** The guest clock, null on the host. */
  clock: string | null;
  /** QEMU's -cpu model of the guest, null on the host. */
  cpu: string | null;
  m: Measurement;
}

/** A guest suite's clock; files written before it was recorded ran on the wall clock. */
const clockOf = (s: SuiteResult): string | null => (s.guest ? (s.guest.clock ?? 'wall') : null);
/** A guest suite's CPU model; files written before it was recorded ran on 'max'. */
const cpuOf = (s: SuiteResult): string | null => (s.guest ? (s.guest.cpu ?? 'max') : null);

function index(r: Results): Map<string, Entry> {
  const map = new Map<string, Entry>();
  for (const s of r.suites) for (const m of s.measurements) map.set(key(s, m), { suite: s.id, kernel: s.kernel, clock: clockOf(s), cpu: cpuOf(s), m });
  return map;
}

/** The noise of one measurement: the wider (by hi/lo) of its round-median range and, after bench
 * --runs N, the range of its N run medians; on a tie the rounds. */
export function noiseRange(m: Measurement): { range: [number, number]; kind: SpreadKind } {
  const v = m.roundMedians.length ? m.roundMedians : [m.warm.median];
  const rounds: [number, number] = [Math.min(...v), Math.max(...v)];
  const br = m.betweenRuns;
  if (!br || br.n < 2) return { range: rounds, kind: 'rounds' };
  const runs: [number, number] = [br.min, br.max];
  return spread(runs) > spread(rounds) ? { range: runs, kind: 'runs' } : { range: rounds, kind: 'rounds' };
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** What keeps a measurement's figures out of a verdict (a median or a noise bound not a finite number), or undefined. */
export function nonFiniteFigure(m: Measurement): string | undefined {
  if (!isFiniteNumber(m.warm.median)) return `warm median is ${String(m.warm.median)}`;
  const bad = m.roundMedians.find((v) => !isFiniteNumber(v));
  if (bad !== undefined) return `a round median is ${String(bad)}`;
  const br = m.betweenRuns;
  if (br && !(isFiniteNumber(br.min) && isFiniteNumber(br.max))) return `the between-runs range is ${String(br.min)} .. ${String(br.max)}`;
  return undefined;
}

/** hi / lo of a range; a range reaching 0 or below is as wide as it gets. */
function spread([lo, hi]: [number, number]): number {
  if (hi === lo) return 1;
  return lo > 0 ? hi / lo : Infinity;
}

/** Every suite of a run with a disturbance flag in any of its runs. */
export function disturbedSuites(r: Results): DisturbedSuite[] {
  const several = (s: SuiteResult) => (s.disturbance?.length ?? 0) > 1;
  return r.suites.flatMap((s) => {
    const flags = (s.disturbance ?? []).flatMap((d) => d.flags.map((f) => (several(s) ? `run ${d.run}: ${f}` : f)));
    return flags.length ? [{ suite: `${s.label ? `${s.label}:` : ''}${s.id}`, kernel: s.kernel, flags }] : [];
  });
}

export function compareResults(a: Results, b: Results, threshold = 0.05): CompareReport {
  if (a.version !== b.version) throw new Error(`results versions differ: ${a.version} vs ${b.version}`);
  const ia = index(a);
  const ib = index(b);
  const keys = [...new Set([...ia.keys(), ...ib.keys()])].sort();
  const rows: CompareRow[] = [];
  let regressions = 0;
  let improvements = 0;
  const mismatches = new Map<string, ClockMismatch>();
  for (const k of keys) {
    const ea = ia.get(k);
    const eb = ib.get(k);
    const { suite, kernel, m } = (ea ?? eb)!;
    const identity = { key: k, suite, kernel, id: m.id, params: m.params };
    const ma = ea?.m;
    const mb = eb?.m;
    if (!ma || !mb) {
      const spread = { a: ma ? noiseRange(ma).kind : null, b: mb ? noiseRange(mb).kind : null };
      rows.push({ ...identity, unit: m.unit, a: ma?.warm.median ?? null, b: mb?.warm.median ?? null, ratio: null, verdict: ma ? 'only-a' : 'only-b', spread });
      continue;
    }
    const ratio = mb.warm.median / ma.warm.median;
    if (ea.clock !== eb.clock) {
      mismatches.set(`${suite}@${kernel}`, { suite, kernel, a: ea.clock ?? 'host', b: eb.clock ?? 'host' });
      rows.push({ ...identity, unit: ma.unit, a: ma.warm.median, b: mb.warm.median, ratio, verdict: 'not-comparable', spread: { a: null, b: null } });
      continue;
    }
    if (ea.cpu !== eb.cpu) {
      // Under TCG the CPU model decides which copy and clear instructions
      // the guest runs, and with them its copy-heavy figures (several-fold).
      const reason = `guest CPU models differ: -cpu ${ea.cpu} in A, -cpu ${eb.cpu} in B`;
      rows.push({ ...identity, unit: ma.unit, a: ma.warm.median, b: mb.warm.median, ratio, verdict: 'not-comparable', reason, spread: { a: null, b: null } });
      continue;
    }
    const unusable = [['a', ma], ['b', mb]].flatMap(([side, m]) => {
      const why = nonFiniteFigure(m as Measurement);
      return why ? [`${side as string}: ${why}`] : [];
    });
    if (unusable.length) {
      rows.push({ ...identity, unit: ma.unit, a: ma.warm.median, b: mb.warm.median, ratio: isFiniteNumber(ratio) ? ratio : null, verdict: 'not-comparable', reason: unusable.join('; '), spread: { a: null, b: null } });
      continue;
    }
    const na = noiseRange(ma);
    const nb = noiseRange(mb);
    const [aLo, aHi] = na.range;
    const [bLo, bHi] = nb.range;
    const separated = bLo > aHi || bHi < aLo;
    let verdict: Verdict = 'same';
    if (separated && Math.abs(ratio - 1) > threshold) {
      const bigger = ratio > 1;
      const worse = ma.better === 'lower' ? bigger : !bigger;
      verdict = worse ? 'slower' : 'faster';
      if (worse) regressions++;
      else improvements++;
    }
    rows.push({ ...identity, unit: ma.unit, a: ma.warm.median, b: mb.warm.median, ratio, verdict, spread: { a: na.kind, b: nb.kind } });
  }
  return { threshold, rows, clockMismatches: [...mismatches.values()], regressions, improvements, disturbed: { a: disturbedSuites(a), b: disturbedSuites(b) } };
}

export const COMPARE_FORMATS = ['text', 'md', 'json'] as const;
export type CompareFormat = (typeof COMPARE_FORMATS)[number];

const HEADER = ['measurement', 'unit', 'a median', 'b median', 'b/a', 'verdict', 'noise a/b'];

/** The report as `mirrorlab compare --format` prints it: a table, a Markdown table or JSON. */
export function formatCompare(report: CompareReport, format: CompareFormat = 'text'): string {
  if (format === 'json') return JSON.stringify(report, null, 2);
  const body = cells(report);
  const clocks = report.clockMismatches.map(
    (c) => `not comparable: ${c.suite}${c.kernel ? `@${c.kernel}` : ''} ran on the ${c.a} clock in A and the ${c.b} clock in B (host time against instruction counts): its measurements are not judged`,
  );
  const numbers = report.rows.flatMap((r) => (r.reason ? [`not comparable: ${r.key}: ${r.reason}`] : []));
  const summary = [...clocks, ...numbers, `${report.regressions} slower, ${report.improvements} faster beyond noise`].join('\n');
  const disturbed = disturbedLines(report);
  if (format === 'md') {
    // A pipe inside a cell would end it; Markdown tables take it escaped.
    const row = (r: string[]) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
    return [row(HEADER), `| --- | --- | ---: | ---: | ---: | --- | --- |`, ...body.map(row), '', summary, ...disturbed.map((l) => `- ${l}`)].join('\n');
  }
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(HEADER), ...body.map(line), '', summary, ...disturbed].join('\n');
}

/** "disturbed in a: host/faults: steal 7.3% of CPU time > 5%", one line per suite of each input. */
function disturbedLines(report: CompareReport): string[] {
  return (['a', 'b'] as const).flatMap((side) =>
    report.disturbed[side].map((d) => `disturbed in ${side}: ${d.suite}${d.kernel ? `@${d.kernel}` : ''}: ${d.flags.join('; ')}`),
  );
}

function cells(report: CompareReport): string[][] {
  return report.rows.map((r) => [
    r.key,
    r.unit,
    r.a === null ? '-' : fmt(r.a),
    r.b === null ? '-' : fmt(r.b),
    r.ratio === null ? '-' : r.ratio.toFixed(3),
    r.verdict,
    `${r.spread.a ?? '-'}/${r.spread.b ?? '-'}`,
  ]);
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 0.01 || abs >= 1e6)) return v.toExponential(3);
  return abs >= 100 ? v.toFixed(0) : v.toPrecision(3);
}
