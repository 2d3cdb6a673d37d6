// KTAP (the kernel's test output format, a TAP 13 dialect) for the pass/fail
// checks inside benchmark suites: one subtest block per suite.
import type { Results } from './results.js';

export function toKtap(results: Results): string {
  const lines = ['KTAP version 1', `1..${results.suites.length}`];
  results.suites.forEach((suite, i) => {
    const name = suite.kernel ? `${suite.id}@${suite.kernel}` : suite.id;
    lines.push(`    KTAP version 1`, `    # Subtest: ${name}`, `    1..${suite.checks.length}`);
    suite.checks.forEach((check, j) => {
      const ok = check.status === 'fail' ? 'not ok' : 'ok';
      const directive = check.status === 'skip' ? ` # SKIP ${check.reason ?? ''}`.trimEnd() : '';
      lines.push(`    ${ok} ${j + 1} ${check.name}${directive}`);
      if (check.status === 'fail' && check.reason) lines.push(`    # ${check.reason}`);
    });
    const failed = suite.status === 'failed' || suite.status === 'incomplete' || suite.checks.some((c) => c.status === 'fail');
    const skipped = suite.status === 'skipped';
    const directive = skipped ? ` # SKIP ${suite.reason ?? ''}`.trimEnd() : '';
    if (suite.status === 'incomplete') lines.push(`# ${name}: incomplete${suite.reason ? `: ${suite.reason}` : ''}`);
    lines.push(`${failed ? 'not ok' : 'ok'} ${i + 1} ${name}${directive}`);
  });
  return lines.join('\n') + '\n';
}
