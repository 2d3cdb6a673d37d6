// mirrorlab selftests [--kernel K[,K]] [--suite NAME]... [--repeat N] [--json]
//                     [--write-baseline] [--list]
// Runs the kernel's own mm/HMM selftests in guests and compares the outcomes
// with the checked-in baselines: exit 0 when they match, 1 otherwise, 2 for
// bad arguments (refused before anything boots).
import { guestClockOption, guestClockProblem, kernelProblem } from '../cli/checks.js';
import type { GuestClock } from '../vm/vm.js';
import { table } from '../cli/format.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, kernelSeries, type KernelSeries } from '../vm/kernels.js';
import { baselineFromRun, baselinePath, compareWithBaseline, formatDifference, loadBaseline, writeBaseline, type BaselineComparison, type SuiteOutcomes } from './baseline.js';
import { countOutcomes, OUTCOMES } from './parse.js';
import { runSelftests, type SelftestsRun } from './run.js';
import { DEFAULT_SELFTEST_SUITES, SELFTEST_SUITES, SELFTEST_SUITE_NAMES } from './suites.js';

const suiteProblem = (name: string) =>
  SELFTEST_SUITE_NAMES.includes(name) ? undefined : `unknown suite ${JSON.stringify(name)} (suites: ${SELFTEST_SUITE_NAMES.join(', ')})`;

export const selftestsSpec = {
  name: 'selftests',
  summary: "Runs the kernel's own mm/HMM selftests in guests of each kernel and compares them with the checked-in baselines.",
  options: {
    kernel: { type: 'string', list: true, check: kernelProblem, arg: KERNEL_SERIES.join('|'), help: `kernel series (default ${DEFAULT_KERNELS.join(',')}); or a kernel we build: S-test, S-debug, S-test+NAME` },
    suite: { type: 'string', list: true, check: suiteProblem, arg: 'NAME', help: 'only these selftest suites (see --list)' },
    repeat: { type: 'integer', min: 1, default: 1, arg: 'N', help: 'runs of each suite' },
    json: { type: 'boolean', help: 'print the runs and comparisons as JSON' },
    'write-baseline': { type: 'boolean', help: 'write the outcomes as the new baseline of each kernel (review before committing)' },
    'guest-clock': guestClockOption('default wall'),
    list: { type: 'boolean', help: 'list the selftest suites and run nothing' },
  },
  notes: 'exit status: 0 every outcome matches the baselines, 1 a difference, 2 a usage error (nothing boots).',
} as const satisfies CommandSpec;

/** The outcomes of a run, per suite and repetition, as the baseline compares them. */
export function outcomesOf(run: SelftestsRun): SuiteOutcomes[] {
  return run.suites.map((s) => (s.skipped !== undefined ? { suite: s.suite, skipped: s.skipped, runs: [] } : { suite: s.suite, runs: s.runs.map((r) => r.cases) }));
}

/** A run and its comparison with the baseline of its kernel. */
export interface CheckedRun {
  run: SelftestsRun;
  baseline: string;
  comparison: BaselineComparison;
}

export function checkRun(run: SelftestsRun): CheckedRun {
  return { run, baseline: baselinePath(run.kernel), comparison: compareWithBaseline(loadBaseline(run.kernel), outcomesOf(run)) };
}

/** Per suite pass/fail/skip counts (over all runs), guest time, then every difference. */
export function formatCheckedRun({ run, baseline, comparison }: CheckedRun): string {
  const out: string[] = [];
  const src = run.source ? `${run.source.package} ${run.source.version}` : 'no build';
  out.push(`selftests on ${run.kernel}: ${run.release || '(not booted)'}, ${src}${run.accel ? `, ${run.accel}${run.clock ? `, ${run.clock} clock` : ''}, boot ${(run.bootMs / 1000).toFixed(1)} s, ${run.cpus} vCPUs` : ''}; test_hmm.ko: ${run.testHmm}; swap: ${run.swap}`);
  const rows = run.suites.map((s) => {
    if (s.skipped !== undefined) return [s.suite, '-', '', '', '', '', '', '', `skipped: ${s.skipped}`];
    const all = s.runs.flatMap((r) => r.cases);
    const n = countOutcomes(all);
    const secs = s.runs.map((r) => (r.durationMs / 1000).toFixed(1)).join(', ');
    return [s.suite, String(s.runs.length), ...OUTCOMES.map((o) => String(n[o])), `${secs} s`];
  });
  out.push(table(['suite', 'runs', ...OUTCOMES, 'guest time'], rows));
  const c = comparison;
  if (c.flaky.length) {
    out.push('', 'known flaky cases (outcome not counted as a difference):');
    for (const f of c.flaky) out.push(`  ${f.suite}: ${f.case}: this run ${f.got}; baseline ${f.baseline}`);
  }
  if (c.differences.length) {
    out.push('', `${c.differences.length} difference(s) from ${baseline}:`);
    for (const d of c.differences) out.push(`  ${formatDifference(d)}`);
  } else {
    out.push('', `every outcome matches ${baseline} (${c.matched} cases)`);
  }
  return out.join('\n');
}

export async function selftestsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(selftestsSpec, argv);
  if (values.list) {
    for (const s of SELFTEST_SUITES) console.log(`${s.name.padEnd(19)} ${[s.binaries[0], ...s.args].join(' ')} (limit ${s.limitS} s)\n${' '.repeat(20)}${s.covers}`);
    return 0;
  }
  const kernels: KernelSeries[] = values.kernel.length ? values.kernel.map(kernelSeries) : [...DEFAULT_KERNELS];
  const repeat = values.repeat;
  const clock = (values['guest-clock'] ?? 'wall') as GuestClock;
  const clockProblem = guestClockProblem(clock);
  if (clockProblem) throw new UsageError('selftests', clockProblem);
  const suites = values.suite.length ? SELFTEST_SUITES.filter((s) => values.suite.includes(s.name)) : DEFAULT_SELFTEST_SUITES;

  const checked: CheckedRun[] = [];
  for (const kernel of kernels) {
    const run = await runSelftests({ kernel, suites, repeat, vm: { clock }, onProgress: (m) => console.error(`mirrorlab selftests: ${m}`) });
    if (values['write-baseline']) {
      if (!run.release) {
        console.error(`mirrorlab selftests: no baseline written for ${kernel}: ${run.testHmm}`);
      } else {
        const file = writeBaseline(baselineFromRun({ series: kernel, release: run.release, source: run.source, suites: outcomesOf(run) }, loadBaseline(kernel)));
        console.error(`mirrorlab selftests: wrote ${file} (review it before committing)`);
      }
    }
    const c = checkRun(run);
    checked.push(c);
    if (!values.json) console.log(formatCheckedRun(c) + '\n');
  }
  if (values.json) {
    const strip = (c: CheckedRun) => ({
      ...c,
      run: { ...c.run, suites: c.run.suites.map((s) => ({ ...s, runs: s.runs.map(({ output: _o, ...r }) => r) })) },
    });
    console.log(JSON.stringify(checked.map(strip), null, 2));
  }
  return checked.every((c) => c.comparison.differences.length === 0) ? 0 : 1;
}
