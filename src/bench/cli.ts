// Command-line front ends of `mirrorlab bench`, `compare`, `validate` and `export`.
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-file.js';
import { guestClockOption, guestClockProblem, kernelProblem, outDirProblem, outFileProblem, sizeProblem, SIZES } from '../cli/checks.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { compareResults, formatCompare, type CompareFormat, COMPARE_FORMATS } from '../report/compare.js';
import { EXPORT_FILES, EXPORT_FORMATS, exportResults, isExportFormat, type ExportFormat } from '../report/exports/index.js';
import { RESULTS_SCHEMA_ID, RESULTS_VERSION, type Results } from '../report/results.js';
import { validateResults } from '../report/validate.js';
import { ResultsWriteError } from '../report/write.js';
import { KERNEL_SERIES, kernelSeries } from '../vm/kernels.js';
import { DEFAULT_BENCH_CLOCK, runBench } from './runner.js';
import type { GuestClock } from '../vm/vm.js';
import type { Suite } from './suite.js';

// Every option of `mirrorlab bench`, in one place.
export const benchSpec = {
  name: 'bench',
  summary: 'Runs every suite this machine supports: host suites natively, guest suites in QEMU on each kernel.',
  options: {
    suite: { type: 'string', list: true, arg: 'ID', help: 'only these suites or groups (host, guest, host/faults, ...; see --list)' },
    kernel: { type: 'string', list: true, check: kernelProblem, arg: KERNEL_SERIES.join('|'), help: 'guest suites only on these kernel series; or a kernel we build: S-test, S-debug, S-test+NAME' },
    size: { type: 'string', list: true, check: sizeProblem, arg: SIZES.join('|'), help: 'only cases of these page sizes' },
    quick: { type: 'boolean', help: 'fewer rounds and smaller regions: a smoke run' },
    'guest-clock': guestClockOption(`default ${DEFAULT_BENCH_CLOCK}`),
    runs: { type: 'integer', min: 1, default: 1, arg: 'N', help: 'run the whole selection N times: results get the spread between runs beside the spread within one' },
    out: { type: 'string', arg: 'DIR', help: 'where results go (default results/<timestamp>-<pid>); checked before anything runs' },
    export: {
      type: 'string',
      list: true,
      values: EXPORT_FORMATS,
      arg: EXPORT_FORMATS.join(','),
      help: `also write ${EXPORT_FORMATS.map((f) => EXPORT_FILES[f]).join(', ')} (see mirrorlab export)`,
    },
    list: { type: 'boolean', help: 'list the suites (those the filters select) and run nothing' },
  },
  notes: `Writes DIR/results.json, DIR/results.ktap and DIR/report.html. results.json is rewritten
atomically after every suite (run.complete false until the end), so a killed run keeps what it measured.
exit status: 0 all checks passed, 1 a check or suite failed or results.json could not be written,
130 interrupted (partial results written), 2 bad options (an unknown option, --suite, --kernel or
--size, an --out that cannot be written: nothing is run).`,
} as const satisfies CommandSpec;

export async function benchCommand(argv: string[], suites: Suite[]): Promise<number> {
  const { values } = parseCommand(benchSpec, argv);
  const problem = suiteProblem(values.suite, suites) ?? guestClockProblem(values['guest-clock'] ?? DEFAULT_BENCH_CLOCK);
  if (problem) throw new UsageError('bench', problem);
  if (values.list) {
    for (const s of suites)
      if (selected(s, values.suite)) console.log(`${s.id.padEnd(28)} ${s.environment.padEnd(6)} ${s.title}`);
    return 0;
  }
  const exports = values.export.filter(isExportFormat);
  const outDir = values.out ?? defaultOutDir();
  // Checked before any suite runs: a run's results must have somewhere to go.
  const outProblem = outDirProblem(outDir);
  if (outProblem) throw new UsageError('bench', outProblem);
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write('\ninterrupted: finishing the current step, writing partial results (Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const run = await runBench({
      suites,
      suiteFilter: values.suite,
      kernels: values.kernel.map(kernelSeries),
      sizes: values.size,
      quick: values.quick,
      guestClock: (values['guest-clock'] ?? DEFAULT_BENCH_CLOCK) as GuestClock,
      runs: values.runs,
      outDir,
      exports: [...new Set(exports)] as ExportFormat[],
      argv: ['bench', ...argv],
      signal: controller.signal,
    });
    if (controller.signal.aborted) return 130;
    return run.failed ? 1 : 0;
  } catch (e) {
    // A results file that cannot be written ends the run: measuring on would only lose more.
    if (!(e instanceof ResultsWriteError)) throw e;
    console.error(`mirrorlab bench: ${e.message}; the run stopped there`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/**
 * results/<timestamp>-<pid>: two runs started in the same millisecond (two
 * CI jobs on one machine) still get a directory each.
 */
export function defaultOutDir(now = new Date()): string {
  return `results/${now.toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
}

const selected = (s: Suite, filter: string[]) => !filter.length || filter.some((f) => s.id === f || s.id.startsWith(`${f}/`));

/** A --suite value that selects nothing, as a message (null when all are known):
 * a typo must not turn into an empty run that exits 0. */
export function suiteProblem(suiteFilter: string[], suites: Suite[]): string | null {
  const groups = [...new Set(suites.map((s) => s.id.split('/')[0]))];
  for (const f of suiteFilter)
    if (!suites.some((s) => selected(s, [f])))
      return `unknown suite ${JSON.stringify(f)} (suites: ${suites.map((s) => s.id).join(', ')}; groups: ${groups.join(', ')})`;
  return null;
}

export const compareSpec = {
  name: 'compare',
  summary: 'Lists what got faster or slower from A to B beyond the noise of both runs.',
  positionals: { names: 'A.json B.json', min: 2, max: 2 },
  options: {
    threshold: { type: 'number', min: 0, default: 0.05, arg: 'R', help: 'smallest relative change of the medians that counts' },
    format: { type: 'string', values: COMPARE_FORMATS, default: 'text', arg: 'F', help: 'text (a table), md (a Markdown table) or json (the report)' },
    pair: { type: 'string', multiple: true, arg: 'KA=KB', help: "compare kernel KA's suites in A with kernel KB's in B (a patch A/B: --pair 7.2-test=7.2-test+NAME)" },
  },
  notes: `Measurements match by suite, kernel, measurement id and parameters; observed values
(what a run saw, e.g. how many repetitions verified) do not take part. With --pair KA=KB, B's
suites on kernel KB are matched as if they had run on KA (the table names KA).
exit status: 0 nothing slower, 1 something slower or an input is not a valid results file,
2 a usage error (a missing input file included).`,
} as const satisfies CommandSpec;

/** A results file named on the command line: missing is a usage error (thrown), unreadable or not JSON a problem for the caller to report (exit 1). */
function readResultsFile(command: string, file: string): { data: unknown } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(command, `no such file: ${file}`);
    return { problem: `cannot read: ${(e as Error).message}` };
  }
  try {
    return { data: JSON.parse(text) };
  } catch (e) {
    return { problem: `not JSON: ${(e as Error).message}` };
  }
}

export function compareCommand(argv: string[]): number {
  const { values, positionals } = parseCommand(compareSpec, argv);
  const runs: Results[] = [];
  for (const file of positionals) {
    const r = readResultsFile('compare', file);
    const problems = 'problem' in r ? [r.problem] : validateResults(r.data);
    if (problems.length) {
      console.error(`mirrorlab compare: ${file}: not a valid mirrorlab results file:\n  ${problems.slice(0, 5).join('\n  ')}`);
      return 1;
    }
    runs.push((r as { data: Results }).data);
  }
  for (const p of values.pair) {
    const m = /^([^=\s]+)=([^=\s]+)$/.exec(p);
    if (!m) throw new UsageError('compare', `--pair takes KA=KB (two kernel names), got ${JSON.stringify(p)}`);
    const [, ka, kb] = m;
    if (!runs[0].suites.some((s) => s.kernel === ka)) throw new UsageError('compare', `--pair ${p}: A has no suite on kernel ${ka} (kernels in A: ${[...new Set(runs[0].suites.map((s) => s.kernel).filter(Boolean))].join(', ') || 'none'})`);
    if (!runs[1].suites.some((s) => s.kernel === kb)) throw new UsageError('compare', `--pair ${p}: B has no suite on kernel ${kb} (kernels in B: ${[...new Set(runs[1].suites.map((s) => s.kernel).filter(Boolean))].join(', ') || 'none'})`);
    runs[1] = { ...runs[1], suites: runs[1].suites.map((s) => (s.kernel === kb ? { ...s, kernel: ka as typeof s.kernel } : s)) };
  }
  const report = compareResults(runs[0], runs[1], values.threshold);
  if (values.pair.length && values.format !== 'json') console.log(values.pair.map((p) => `paired: ${p.replace('=', ' in A with ')} in B`).join('\n'));
  console.log(formatCompare(report, values.format as CompareFormat));
  return report.regressions > 0 ? 1 : 0;
}

export const validateSpec = {
  name: 'validate',
  summary: `Checks results files against the schema (${RESULTS_SCHEMA_ID} v${RESULTS_VERSION}), for CI.`,
  positionals: { names: 'FILE.json...', min: 1, max: Infinity },
  options: {},
  notes: 'exit status: 0 every file valid, 1 a file unreadable or invalid, 2 a usage error (a missing file included).',
} as const satisfies CommandSpec;

/** `mirrorlab validate FILE...`: schema check of results files, for CI. */
export function validateCommand(argv: string[]): number {
  const { positionals } = parseCommand(validateSpec, argv);
  // Every missing file is a usage error before any file is judged.
  const read = positionals.map((file) => ({ file, r: readResultsFile('validate', file) }));
  let bad = 0;
  for (const { file, r } of read) {
    const problems = 'problem' in r ? [r.problem] : validateResults(r.data);
    if (problems.length) {
      bad++;
      console.error(`${file}: INVALID\n  ${problems.slice(0, 20).join('\n  ')}`);
    } else console.log(`${file}: valid (${RESULTS_SCHEMA_ID} v${RESULTS_VERSION})`);
  }
  return bad ? 1 : 0;
}

export const exportSpec = {
  name: 'export',
  summary: 'Converts a results file for other systems: junit (JUnit XML for GitLab/GitHub), kcidb (KernelCI\'s KCIDB JSON, schema 5.3), csv (one row per measurement), md (Markdown tables per suite).',
  positionals: { names: 'RESULTS.json', min: 1, max: 1 },
  options: {
    format: { type: 'string', values: EXPORT_FORMATS, arg: EXPORT_FORMATS.join('|'), help: 'the format (required)' },
    out: { type: 'string', arg: 'FILE', check: outFileProblem, help: 'where to write (default: standard output)' },
  },
  notes: 'exit status: 0 written, 1 RESULTS.json unreadable or not a results file, 2 a usage error (a missing file included).',
} as const satisfies CommandSpec;

/** `mirrorlab export`: one export of an existing results file. */
export function exportCommand(argv: string[]): number {
  const { values, positionals } = parseCommand(exportSpec, argv);
  if (values.format === undefined || !isExportFormat(values.format)) throw new UsageError('export', '--format is required');
  const file = positionals[0];
  const r = readResultsFile('export', file);
  const problems = 'problem' in r ? [r.problem] : validateResults(r.data);
  if (problems.length) {
    console.error(`mirrorlab export: ${file}: not a mirrorlab results file:\n  ${problems.slice(0, 5).join('\n  ')}`);
    return 1;
  }
  const data = (r as { data: Results }).data;
  const text = exportResults(data, values.format);
  if (values.out === undefined) process.stdout.write(text);
  else writeFileAtomic(values.out, text);
  return 0;
}
