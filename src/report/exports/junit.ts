// JUnit XML, the report format GitLab and GitHub render for test results: a
// <testsuite> per suite and kernel, a <testcase> per check (failure and skip
// with their reasons), the kernel release and how QEMU ran it as properties,
// and the measurements (and guest/behaviour's findings) as plain lines in <system-out>. A suite that failed
// or stopped early has one more testcase, "suite run", with the error.
import type { Check, Results, SuiteResult } from '../results.js';
import { accelOf, kernelRelease, paramsText, suiteName } from './common.js';
import { recordText } from './markdown.js';

/** Characters XML 1.0 cannot hold at all (control characters but tab, newline, return). */
// eslint-disable-next-line no-control-regex
const INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

/** Text content: &, < and > escaped. */
export const xmlText = (s: string): string => s.replace(INVALID, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An attribute value in double quotes; newlines and tabs as references, which parsers keep (a literal one becomes a space). */
export const xmlAttr = (s: string): string =>
  xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');

const attrs = (a: Record<string, string | number>): string =>
  Object.entries(a)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

function testcase(classname: string, check: Check): string[] {
  const open = `    <testcase${attrs({ name: check.name, classname })}`;
  if (check.status === 'pass') return [`${open}/>`];
  const reason = check.reason ?? '';
  const inner =
    check.status === 'fail'
      ? `      <failure${attrs({ message: reason || 'check failed', type: 'check' })}>${xmlText(reason)}</failure>`
      : `      <skipped${attrs({ message: reason })}/>`;
  return [`${open}>`, inner, '    </testcase>'];
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function suiteXml(r: Results, s: SuiteResult): { lines: string[]; counts: Counts } {
  const name = suiteName(s);
  const cases = s.checks.flatMap((c) => testcase(name, c));
  const counts: Counts = {
    tests: s.checks.length,
    failures: s.checks.filter((c) => c.status === 'fail').length,
    errors: 0,
    skipped: s.checks.filter((c) => c.status === 'skip').length,
  };
  if (s.status === 'failed' || s.status === 'incomplete') {
    const message = `${s.status}${s.reason ? `: ${s.reason}` : ''}`;
    cases.push(`    <testcase${attrs({ name: 'suite run', classname: name })}>`, `      <error${attrs({ message, type: s.status })}>${xmlText(s.reason ?? '')}</error>`, '    </testcase>');
    counts.tests++;
    counts.errors++;
  } else if (s.status === 'skipped' && s.checks.length === 0) {
    cases.push(`    <testcase${attrs({ name: 'suite run', classname: name })}>`, `      <skipped${attrs({ message: s.reason ?? '' })}/>`, '    </testcase>');
    counts.tests++;
    counts.skipped++;
  }
  const properties: [string, string][] = [
    ['suite.id', s.id],
    ['suite.title', s.title],
    ['suite.status', s.status],
    ['environment', s.environment],
    ['kernel.series', s.kernel ?? 'host'],
    ['kernel.release', kernelRelease(r, s)],
    ['accel', accelOf(s)],
  ];
  if (s.reason) properties.push(['suite.reason', s.reason]);
  properties.push(...disturbanceProperties(s));
  // One line per measurement: what a reader of the CI page needs to see a change.
  const out = s.measurements.map(
    (m) => `${m.id} ${paramsText(m.params)}: median ${m.warm.median} ${m.unit} (min ${m.warm.min}, p99 ${m.warm.p99}, max ${m.warm.max}; ${m.roundMedians.length} rounds, n ${m.warm.n})`,
  );
  const oneLine = (t: string) => t.replace(/\s*\n\s*/g, ' ');
  for (const f of s.findings ?? []) out.push(oneLine(`${f.event} / ${f.mode}: ${f.outcome} (${f.detail}); invalidations: ${f.records.map(recordText).join('; ') || 'none'}`));
  // timestamp: the JUnit schema's form, ISO 8601 without a zone (the run's start, UTC).
  const lines = [
    `  <testsuite${attrs({ name, tests: counts.tests, failures: counts.failures, errors: counts.errors, skipped: counts.skipped, time: seconds(s.durationMs), timestamp: r.run.startedAt.replace(/Z$/, ''), hostname: r.machine.hostname })}>`,
    '    <properties>',
    ...properties.map(([k, v]) => `      <property${attrs({ name: k, value: v })}/>`),
    '    </properties>',
    ...cases,
    ...(out.length ? [`    <system-out>${xmlText(out.join('\n'))}</system-out>`] : []),
    '  </testsuite>',
  ];
  return { lines, counts };
}

/** Whether the machine was disturbed while the suite ran (src/measure/disturbance.ts): a property
 * "disturbed" (true/false) and one "disturbed.reason" per threshold passed; none for a suite that did not run. */
function disturbanceProperties(s: SuiteResult): [string, string][] {
  const runs = s.disturbance ?? [];
  if (!runs.length) return [];
  const reasons = runs.flatMap((d) => d.flags.map((f) => (runs.length > 1 ? `run ${d.run}: ${f}` : f)));
  return [['disturbed', String(reasons.length > 0)], ...reasons.map((f): [string, string] => ['disturbed.reason', f])];
}

export function toJunit(r: Results): string {
  const suites = r.suites.map((s) => suiteXml(r, s));
  const total = suites.reduce<Counts>(
    (t, { counts: c }) => ({ tests: t.tests + c.tests, failures: t.failures + c.failures, errors: t.errors + c.errors, skipped: t.skipped + c.skipped }),
    { tests: 0, failures: 0, errors: 0, skipped: 0 },
  );
  const time = r.suites.reduce((t, s) => t + s.durationMs, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'mirrorlab', ...total, time: seconds(time) })}>`,
    ...suites.flatMap((s) => s.lines),
    '</testsuites>',
    '',
  ].join('\n');
}
