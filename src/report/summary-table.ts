// The terminal summary printed at the end of a run.
import { fmt } from './compare.js';
import type { Results } from './results.js';

export function summaryTable(results: Results): string {
  const head = ['suite', 'measurement', 'unit', 'cold', 'min', 'median', 'p99', 'max', 'n'];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of results.suites) {
    const suite = s.kernel ? `${s.id}@${s.kernel}` : s.id;
    if (s.status !== 'complete') notes.push(`${suite}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`);
    for (const m of s.measurements) {
      const w = m.warm;
      rows.push([suite, m.title, m.unit, m.cold ? fmt(m.cold.median) : '-', fmt(w.min), fmt(w.median), fmt(w.p99), fmt(w.max), String(w.n)]);
    }
    for (const c of s.comparisons) {
      const t = c.target ? `  target ${c.target.op} ${c.target.value}: ${c.target.met ? 'met' : 'NOT MET'}` : '';
      const runs = c.betweenRuns ? `, runs ${fmt(c.betweenRuns.min)} .. ${fmt(c.betweenRuns.max)} (n=${c.betweenRuns.n})` : '';
      notes.push(`${suite}: ${c.title} = ${fmt(c.ratio.median)} (${fmt(c.ratio.lo)} .. ${fmt(c.ratio.hi)}${runs})${t}`);
    }
    // The machine was busy while the suite ran (src/measure/disturbance.ts).
    const several = (s.disturbance?.length ?? 0) > 1;
    for (const d of s.disturbance ?? []) if (d.flags.length) notes.push(`${suite}: disturbed${several ? ` in run ${d.run}` : ''}: ${d.flags.join('; ')}`);
  }
  // The behaviour matrix (guest/behaviour): one line per event, the outcome per mode.
  for (const s of results.suites) {
    const suite = s.kernel ? `${s.id}@${s.kernel}` : s.id;
    const events = [...new Set((s.findings ?? []).map((f) => f.event))];
    for (const ev of events)
      notes.push(`${suite}: ${ev}: ${s.findings!.filter((f) => f.event === ev).map((f) => `${f.mode} ${f.outcome}`).join(', ')}`);
  }
  for (const k of results.kernelComparisons ?? [])
    notes.push(`${k.suite}: ${k.title} = ${fmt(k.ratio.median)} (${fmt(k.ratio.lo)} .. ${fmt(k.ratio.hi)})`);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', ...notes].join('\n');
}
