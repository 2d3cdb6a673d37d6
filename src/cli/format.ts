// Terminal formatting shared by the commands.
import type { Summary } from '../stats/index.js';

/** ns as a short human duration: 850 ns, 2.31 us, 1.23 ms, 1.02 s. */
export function ns(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v < 1e3) return `${v.toFixed(0)} ns`;
  if (v < 1e6) return `${(v / 1e3).toFixed(2)} us`;
  if (v < 1e9) return `${(v / 1e6).toFixed(2)} ms`;
  return `${(v / 1e9).toFixed(2)} s`;
}

export function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [fmt(header), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(fmt)].join('\n');
}

export function spreadCells(s: Summary, unit: (v: number) => string = ns): string[] {
  return [String(s.n), unit(s.min), unit(s.median), unit(s.p90), unit(s.p99), unit(s.max)];
}
