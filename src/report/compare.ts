// `mirrorlab compare a.json b.json`: which measurements got faster or slower
// beyond the noise of both runs.
//
// The noise of one run is the spread of its round medians (each warm round is
// a fresh repetition of the same measurement). A change is reported only when
// the two runs' round-median ranges do not overlap AND the medians differ by
// more than `threshold` (relative). Anything else is "same": within noise.
import type { Measurement, Results } from './results.js';

export type Verdict = 'faster' | 'slower' | 'same' | 'only-a' | 'only-b';

export interface CompareRow {
  key: string;
  unit: string;
  a: number | null;
  b: number | null;
  /** b / a of the warm medians. */
  ratio: number | null;
  verdict: Verdict;
}

export interface CompareReport {
  rows: CompareRow[];
  regressions: number;
  improvements: number;
}

function key(suite: { id: string; kernel: string | null }, m: Measurement): string {
  const params = Object.entries(m.params)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${suite.id}${suite.kernel ? `@${suite.kernel}` : ''}/${m.id}${params ? `{${params}}` : ''}`;
}

function index(r: Results): Map<string, Measurement> {
  const map = new Map<string, Measurement>();
  for (const s of r.suites) for (const m of s.measurements) map.set(key(s, m), m);
  return map;
}

function range(m: Measurement): [number, number] {
  const v = m.roundMedians.length ? m.roundMedians : [m.warm.median];
  return [Math.min(...v), Math.max(...v)];
}

export function compareResults(a: Results, b: Results, threshold = 0.05): CompareReport {
  if (a.version !== b.version) throw new Error(`results versions differ: ${a.version} vs ${b.version}`);
  const ia = index(a);
  const ib = index(b);
  const keys = [...new Set([...ia.keys(), ...ib.keys()])].sort();
  const rows: CompareRow[] = [];
  let regressions = 0;
  let improvements = 0;
  for (const k of keys) {
    const ma = ia.get(k);
    const mb = ib.get(k);
    if (!ma || !mb) {
      const m = (ma ?? mb)!;
      rows.push({ key: k, unit: m.unit, a: ma?.warm.median ?? null, b: mb?.warm.median ?? null, ratio: null, verdict: ma ? 'only-a' : 'only-b' });
      continue;
    }
    const ratio = mb.warm.median / ma.warm.median;
    const [aLo, aHi] = range(ma);
    const [bLo, bHi] = range(mb);
    const separated = bLo > aHi || bHi < aLo;
    let verdict: Verdict = 'same';
    if (separated && Math.abs(ratio - 1) > threshold) {
      const bigger = ratio > 1;
      const worse = ma.better === 'lower' ? bigger : !bigger;
      verdict = worse ? 'slower' : 'faster';
      if (worse) regressions++;
      else improvements++;
    }
    rows.push({ key: k, unit: ma.unit, a: ma.warm.median, b: mb.warm.median, ratio, verdict });
  }
  return { rows, regressions, improvements };
}

export function formatCompare(report: CompareReport): string {
  const header = ['measurement', 'unit', 'a median', 'b median', 'b/a', 'verdict'];
  const body = report.rows.map((r) => [
    r.key,
    r.unit,
    r.a === null ? '-' : fmt(r.a),
    r.b === null ? '-' : fmt(r.b),
    r.ratio === null ? '-' : r.ratio.toFixed(3),
    r.verdict,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...body.map(line), '', `${report.regressions} slower, ${report.improvements} faster beyond noise`].join('\n');
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 0.01 || abs >= 1e6)) return v.toExponential(3);
  return abs >= 100 ? v.toFixed(0) : v.toPrecision(3);
}
