// KTAP (the kernel's test output format, a TAP 13 dialect) for the pass/fail
// checks inside benchmark suites: one subtest block per suite. The kernel's
// own selftests (guest/selftests) nest one level further: a subtest per
// selftest suite with a line per case, "ok" where the case matched its
// baseline (a skip as SKIP, an expected failure as XFAIL, as kselftest
// writes them), "not ok" with the difference otherwise.
import type { Check, Results, SelftestCaseResult, SelftestSuiteResult } from './results.js';

/** '#' starts a directive in KTAP: keep it out of names. */
const safe = (s: string): string => s.replace(/#/g, 'no.').replace(/\s+/g, ' ').trim();

function caseLine(c: SelftestCaseResult, n: number): string[] {
  const outcomes = Object.keys(c.outcomes);
  const reason = c.reasons?.length ? ` ${safe(c.reasons.join('; '))}` : '';
  if (c.verdict !== 'match' && c.verdict !== 'flaky') {
    return [`not ok ${n} ${safe(c.name)}`, `# ${c.verdict}: expected ${c.expected ?? '?'}, got ${outcomes.join('/') || 'nothing'}${reason}`];
  }
  const only = outcomes.length === 1 ? outcomes[0] : null;
  let directive = '';
  if (c.verdict === 'flaky') directive = ` # flaky, known (${safe(c.expected ?? '')}): ${outcomes.map((o) => `${o} ${c.outcomes[o]}`).join(', ')}`;
  else if (only === 'skip') directive = ` # SKIP${reason}`;
  else if (only === 'fail' || only === 'xfail') directive = ` # XFAIL expected on this kernel${reason}`;
  return [`ok ${n} ${safe(c.name)}${directive}`];
}

function selftestBlock(s: SelftestSuiteResult, check: Check | undefined, n: number): string[] {
  const status = check?.status ?? 'pass';
  const directive = s.skipped !== undefined && status !== 'fail' ? ` # SKIP ${safe(s.skipped)}` : '';
  const lines = ['KTAP version 1', `# Subtest: ${safe(s.suite)}`, `1..${s.cases.length}`];
  s.cases.forEach((c, i) => lines.push(...caseLine(c, i + 1)));
  for (const d of s.suiteDifferences) lines.push(`# ${d.kind}: expected ${d.expected}, got ${d.got}`);
  return [...lines.map((l) => `    ${l}`), `${status === 'fail' ? 'not ok' : 'ok'} ${n} ${safe(s.suite)}${directive}`];
}

export function toKtap(results: Results): string {
  const lines = ['KTAP version 1', `1..${results.suites.length}`];
  results.suites.forEach((suite, i) => {
    // A merged file's suites carry their run's label: "lab-a:host/faults".
    const name = `${suite.label ? `${suite.label}:` : ''}${suite.kernel ? `${suite.id}@${suite.kernel}` : suite.id}`;
    const selftests = suite.selftests?.suites ?? [];
    const own = new Set(selftests.map((s) => s.check));
    const checks = suite.checks.filter((c) => !own.has(c.name));
    const inner: string[] = [];
    selftests.forEach((s, j) => inner.push(...selftestBlock(s, suite.checks.find((c) => c.name === s.check), j + 1)));
    checks.forEach((check, j) => {
      const ok = check.status === 'fail' ? 'not ok' : 'ok';
      const directive = check.status === 'skip' ? ` # SKIP ${check.reason ?? ''}`.trimEnd() : '';
      inner.push(`${ok} ${selftests.length + j + 1} ${check.name}${directive}`);
      if (check.status === 'fail' && check.reason) inner.push(`# ${check.reason}`);
    });
    lines.push(`    KTAP version 1`, `    # Subtest: ${name}`, `    1..${selftests.length + checks.length}`, ...inner.map((l) => `    ${l}`));
    const failed = suite.status === 'failed' || suite.status === 'incomplete' || suite.checks.some((c) => c.status === 'fail');
    const skipped = suite.status === 'skipped';
    const directive = skipped ? ` # SKIP ${suite.reason ?? ''}`.trimEnd() : '';
    if (suite.status === 'incomplete') lines.push(`# ${name}: incomplete${suite.reason ? `: ${suite.reason}` : ''}`);
    lines.push(`${failed ? 'not ok' : 'ok'} ${i + 1} ${name}${directive}`);
  });
  return lines.join('\n') + '\n';
}
