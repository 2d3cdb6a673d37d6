// Markdown (GitHub-flavoured tables): per suite its status, a table of checks
// and a table of measurements, for a CI job summary or a pull request comment.
import type { FindingRecord, Results, SuiteResult } from '../results.js';
import { accelOf, kernelRelease, paramsText, suiteName } from './common.js';

/** A table cell: pipes escaped, line breaks as <br>, so that one value stays one cell. */
export const mdCell = (v: string | number): string =>
  String(v)
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, '<br>');

const row = (cells: (string | number)[]): string => `| ${cells.map(mdCell).join(' | ')} |`;
const table = (head: string[], rows: (string | number)[][]): string[] => [row(head), `|${head.map(() => ' --- |').join('')}`, ...rows.map(row)];

const STATUS = { pass: 'pass', fail: '**FAIL**', skip: 'skip' } as const;

/** An invalidation record in one line: "CLEAR 0x0-0x200000 blockable" (end -1: to the end of the address space). */
export const recordText = (r: FindingRecord): string =>
  `${r.event} 0x${r.start.toString(16)}-${r.end < 0 ? 'end' : `0x${r.end.toString(16)}`}${r.blockable ? ' blockable' : ' non-blockable'}`;

function suiteSection(r: Results, s: SuiteResult): string[] {
  const lines = [`## ${mdCell(suiteName(s))}: ${mdCell(s.title)}`, ''];
  const where = s.environment === 'guest' ? `guest kernel ${kernelRelease(r, s)} (${accelOf(s)})` : `host kernel ${kernelRelease(r, s)}`;
  lines.push(`Status: ${s.status === 'complete' ? 'complete' : `**${s.status}**`}${s.reason ? ` (${mdCell(s.reason)})` : ''}; ${where}; ${(s.durationMs / 1000).toFixed(1)} s`, '');
  if (s.checks.length) lines.push(...table(['Check', 'Status', 'Reason'], s.checks.map((c) => [c.name, STATUS[c.status], c.reason ?? ''])), '');
  // guest/behaviour: what each mirror mode saw after each CPU-side event, with the invalidation records behind it
  if (s.findings?.length)
    lines.push(
      ...table(
        ['Event', 'Mode', 'Outcome', 'Detail', 'Invalidations (range from the buffer start)'],
        s.findings.map((f) => [f.event, f.mode, f.outcome === 'coherent' ? 'coherent' : `**${f.outcome}**`, f.detail, f.records.map(recordText).join('; ') || 'none']),
      ),
      '',
    );
  if (s.measurements.length)
    lines.push(
      ...table(
        ['Measurement', 'Params', 'Unit', 'Min', 'Median', 'p99', 'Max', 'Rounds'],
        s.measurements.map((m) => [m.id, paramsText(m.params), m.unit, m.warm.min, m.warm.median, m.warm.p99, m.warm.max, m.roundMedians.length]),
      ),
      '',
    );
  return lines;
}

export function toMarkdown(r: Results): string {
  const failed = r.suites.filter((s) => s.status === 'failed' || s.checks.some((c) => c.status === 'fail')).length;
  const lines = [
    '# mirrorlab results',
    '',
    `Run ${r.run.startedAt}${r.run.complete ? '' : ' (**incomplete**)'} on ${mdCell(r.machine.hostname)}: ${mdCell(r.machine.cpuModel)}, ${r.machine.cores} cores, kernel ${r.machine.kernelRelease}; ${r.suites.length} suites, ${failed} failed.`,
    '',
    ...r.suites.flatMap((s) => suiteSection(r, s)),
  ];
  return lines.join('\n');
}
