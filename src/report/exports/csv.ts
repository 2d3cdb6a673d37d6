// CSV (RFC 4180): one row per measurement, its warm statistics, for
// spreadsheets and plotting scripts. Fields are quoted where they hold a
// comma, a quote or a line break (quotes doubled); lines end in CRLF.
import type { Results } from '../results.js';
import { paramsText, suiteName } from './common.js';

export const CSV_HEADER = ['suite', 'kernel', 'id', 'params', 'unit', 'min', 'median', 'p99', 'max', 'rounds', 'observed'];

export function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * suite: the suite's id with the kernel ("guest/mirrordrm@6.12"); kernel: the
 * exact release it ran on (the guest's, or the host's for a host suite);
 * params: a JSON object; min/median/p99/max of the warm samples; rounds: how
 * many rounds of repetitions gave them; observed: what the run saw (a JSON
 * object, empty when nothing), kept apart from the params that identify it.
 */
export function toCsv(r: Results): string {
  const rows = [CSV_HEADER];
  for (const s of r.suites)
    for (const m of s.measurements)
      rows.push([suiteName(s), s.guest?.release ?? r.machine.kernelRelease, m.id, paramsText(m.params), m.unit, String(m.warm.min), String(m.warm.median), String(m.warm.p99), String(m.warm.max), String(m.roundMedians.length), paramsText(m.observed ?? {})]);
  return rows.map((row) => row.map(csvField).join(',') + '\r\n').join('');
}
