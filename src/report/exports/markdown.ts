// Markdown (GitHub-flavoured tables): per suite its status, a table of checks
// and a table of measurements, for a CI job summary or a pull request comment.
import type { Results, SuiteResult } from '../results.js';
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

function suiteSection(r: Results, s: SuiteResult): string[] {
  const lines = [`## ${mdCell(suiteName(s))}: ${mdCell(s.title)}`, ''];
  const where = s.environment === 'guest' ? `guest kernel ${kernelRelease(r, s)} (${accelOf(s)})` : `host kernel ${kernelRelease(r, s)}`;
  lines.push(`Status: ${s.status === 'complete' ? 'complete' : `**${s.status}**`}${s.reason ? ` (${mdCell(s.reason)})` : ''}; ${where}; ${(s.durationMs / 1000).toFixed(1)} s`, '');
  if (s.checks.length) lines.push(...table(['Check', 'Status', 'Reason'], s.checks.map((c) => [c.name, STATUS[c.status], c.reason ?? ''])), '');
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
