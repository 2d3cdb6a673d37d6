// KTAP (the kernel's test output format, a TAP 13 dialect) for the pass/fail
// checks inside benchmark suites: one subtest block per suite. The kernel's
// own selftests (guest/selftests) nest one level further: a subtest per
// selftest suite with a line per case, "ok" where the case matched its
// baseline (a skip as SKIP, an expected failure as XFAIL, as kselftest
// writes them), "not ok" with the difference otherwise.
//
// Written to be read by the kernel's own parser (tools/testing/kunit/kunit.py
// parse; test/unit/ktap-kunit.test.ts runs it): a name never holds '#' (the
// parser's result regex ends the name there) or a newline, a diagnostic line
// comes before the result line it belongs to (a line after "not ok" would be
// read as the next test's), and a suite without checks is a result line
// alone (an empty subtest block is "0 tests run!").
import type { Check, Results, SelftestCaseResult, SelftestSuiteResult, SuiteResult } from './results.js';

/**
 * A test name (or directive text, e.g. a SKIP reason) as KTAP allows it: one
 * line, no '#' (it starts a directive: "#3" becomes "no.3"), no surrounding
 * whitespace (a name must read the same in "# Subtest:" and its result line).
 */
export function ktapName(s: string): string {
  const name = s.replace(/#/g, 'no.').replace(/\s+/g, ' ').trim();
  return name || '(unnamed)';
}

/**
 * Text as KTAP diagnostic lines ("# ..."), one per line of the text; blank
 * lines dropped. A line reading "Subtest: x" keeps a second space after '#':
 * "# Subtest: x" would open a subtest.
 */
export function ktapDiagnostic(text: string): string[] {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => (/^\s*Subtest:/.test(l) ? `#  ${l}` : `# ${l}`));
}

const indent = (lines: string[]): string[] => lines.map((l) => `    ${l}`);

/** A subtest: its block (KTAP version, name, plan, the lines inside) then its result line. */
function subtest(name: string, inner: string[], count: number, result: string): string[] {
  if (count === 0) return [result]; // no empty blocks: the result line alone
  return [...indent(['KTAP version 1', `# Subtest: ${name}`, `1..${count}`, ...inner]), result];
}

function caseLines(c: SelftestCaseResult, n: number): string[] {
  const outcomes = Object.keys(c.outcomes);
  const reasons = c.reasons?.length ? c.reasons.join('; ') : '';
  if (c.verdict !== 'match' && c.verdict !== 'flaky') {
    const diff = `${c.verdict}: expected ${c.expected ?? '?'}, got ${outcomes.join('/') || 'nothing'}${reasons ? ` ${reasons}` : ''}`;
    return [...ktapDiagnostic(diff), `not ok ${n} ${ktapName(c.name)}`];
  }
  const only = outcomes.length === 1 ? outcomes[0] : null;
  let directive = '';
  if (c.verdict === 'flaky') directive = ` # ${ktapName(`flaky, known (${c.expected ?? ''}): ${outcomes.map((o) => `${o} ${c.outcomes[o]}`).join(', ')}`)}`;
  else if (only === 'skip') directive = reasons ? ` # SKIP ${ktapName(reasons)}` : ' # SKIP';
  else if (only === 'fail' || only === 'xfail') directive = ` # XFAIL ${ktapName(`expected on this kernel${reasons ? ` ${reasons}` : ''}`)}`;
  return [`ok ${n} ${ktapName(c.name)}${directive}`];
}

function selftestBlock(s: SelftestSuiteResult, check: Check | undefined, n: number): string[] {
  const status = check?.status ?? 'pass';
  const name = ktapName(s.suite);
  const directive = s.skipped !== undefined && status !== 'fail' ? ` # SKIP ${ktapName(s.skipped)}` : '';
  const inner = s.cases.flatMap((c, i) => caseLines(c, i + 1));
  // Differences of the suite as a whole: diagnostics of the suite, before its result line.
  for (const d of s.suiteDifferences) inner.push(...ktapDiagnostic(`${d.kind}: expected ${d.expected}, got ${d.got}`));
  return subtest(name, inner, s.cases.length, `${status === 'fail' ? 'not ok' : 'ok'} ${n} ${name}${directive}`);
}

function checkLines(check: Check, n: number): string[] {
  const name = ktapName(check.name);
  if (check.status === 'skip') return [`ok ${n} ${name} # SKIP${check.reason ? ` ${ktapName(check.reason)}` : ''}`];
  if (check.status === 'fail') return [...(check.reason ? ktapDiagnostic(check.reason) : []), `not ok ${n} ${name}`];
  return [`ok ${n} ${name}`];
}

/** "# host/faults: disturbed: steal 7.3% of CPU time > 5%": the machine was busy while the suite
 * ran (src/measure/disturbance.ts). A diagnostic only: a disturbed run is not a failed test. */
function disturbanceDiagnostics(name: string, suite: SuiteResult): string[] {
  const runs = suite.disturbance ?? [];
  return runs.flatMap((d) => (d.flags.length ? ktapDiagnostic(`${name}: disturbed${runs.length > 1 ? ` in run ${d.run}` : ''}: ${d.flags.join('; ')}`) : []));
}

export function toKtap(results: Results): string {
  const lines = ['KTAP version 1', `1..${results.suites.length}`];
  results.suites.forEach((suite, i) => {
    // A merged file's suites carry their run's label: "lab-a:host/faults".
    const name = ktapName(`${suite.label ? `${suite.label}:` : ''}${suite.kernel ? `${suite.id}@${suite.kernel}` : suite.id}`);
    const selftests = suite.selftests?.suites ?? [];
    const own = new Set(selftests.map((s) => s.check));
    const checks = suite.checks.filter((c) => !own.has(c.name));
    const inner: string[] = [];
    selftests.forEach((s, j) => inner.push(...selftestBlock(s, suite.checks.find((c) => c.name === s.check), j + 1)));
    checks.forEach((check, j) => inner.push(...checkLines(check, selftests.length + j + 1)));
    // Why a suite failed or stopped: diagnostics of the suite, after its
    // cases and before its own result line.
    if (suite.status === 'incomplete') inner.push(...ktapDiagnostic(`${name}: incomplete${suite.reason ? `: ${suite.reason}` : ''}`));
    else if (suite.status === 'failed' && suite.reason) inner.push(...ktapDiagnostic(`${name}: failed: ${suite.reason}`));
    inner.push(...disturbanceDiagnostics(name, suite));
    const count = selftests.length + checks.length;
    const failed = suite.status === 'failed' || suite.status === 'incomplete' || suite.checks.some((c) => c.status === 'fail');
    const directive = suite.status === 'skipped' ? ` # SKIP${suite.reason ? ` ${ktapName(suite.reason)}` : ''}` : '';
    const result = `${failed ? 'not ok' : 'ok'} ${i + 1} ${name}${directive}`;
    // A suite without checks has no block; its diagnostics stand before its result line.
    if (count === 0) lines.push(...inner, result);
    else lines.push(...subtest(name, inner, count, result));
  });
  return lines.join('\n') + '\n';
}
