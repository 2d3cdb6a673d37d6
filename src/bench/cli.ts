// Command-line front ends of `mirrorlab bench` and `mirrorlab compare`.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compareResults, formatCompare } from '../report/compare.js';
import { EXPORT_FILES, EXPORT_FORMATS, exportResults, isExportFormat, type ExportFormat } from '../report/exports/index.js';
import { RESULTS_SCHEMA_ID, RESULTS_VERSION, type Results } from '../report/results.js';
import { validateResults } from '../report/validate.js';
import { ArgumentError } from '../errors.js';
import { KERNEL_SERIES, kernelSeries } from '../vm/kernels.js';
import { runBench } from './runner.js';
import { normalizeSize } from './suites/common.js';
import type { Suite } from './suite.js';

const list = (v: string | string[] | undefined): string[] =>
  (Array.isArray(v) ? v : v ? [v] : []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);

export const BENCH_USAGE = `usage: mirrorlab bench [--suite ID[,ID]] [--kernel ${KERNEL_SERIES.join('|')}] [--size 4K|2M|1G] [--quick] [--out DIR] [--export ${EXPORT_FORMATS.join(',')}] [--list]
  Runs every suite this machine supports: host suites natively, guest suites in QEMU on each kernel.
  Writes DIR/results.json, DIR/results.ktap and DIR/report.html (DIR defaults to results/<timestamp>),
  and with --export also ${EXPORT_FORMATS.map((f) => EXPORT_FILES[f]).join(', ')} (see mirrorlab export).
  Exit status: 0 all checks passed, 1 a check or suite failed, 130 interrupted (partial results written),
  2 bad options (an unknown --suite, --kernel or --size: nothing is run).`;

export async function benchCommand(argv: string[], suites: Suite[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: 'string', multiple: true },
      kernel: { type: 'string', multiple: true },
      size: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      export: { type: 'string', multiple: true },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(BENCH_USAGE);
    return 0;
  }
  if (values.list) {
    for (const s of suites) console.log(`${s.id.padEnd(28)} ${s.environment.padEnd(6)} ${s.title}`);
    return 0;
  }
  const exports = list(values.export);
  const unknownExport = exports.find((f) => !isExportFormat(f));
  const problem =
    filterProblem(list(values.suite), list(values.kernel), list(values.size), suites) ??
    (unknownExport !== undefined ? `unknown export format ${JSON.stringify(unknownExport)} (formats: ${EXPORT_FORMATS.join(', ')})` : null);
  if (problem) {
    console.error(`mirrorlab bench: ${problem}\n${BENCH_USAGE}`);
    return 2;
  }
  const outDir = values.out ?? `results/${new Date().toISOString().replace(/[:.]/g, '-')}`;
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
      suiteFilter: list(values.suite),
      kernels: list(values.kernel).map(kernelSeries),
      sizes: list(values.size),
      quick: values.quick,
      outDir,
      exports: [...new Set(exports)] as ExportFormat[],
      argv: ['bench', ...argv],
      signal: controller.signal,
    });
    if (controller.signal.aborted) return 130;
    return run.failed ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

const SIZES = ['4K', '2M', '1G'];

/** A --suite, --kernel or --size value that selects nothing, as a message (null when all are known):
 * a typo must not turn into an empty run that exits 0. */
export function filterProblem(suiteFilter: string[], kernels: string[], sizes: string[], suites: Suite[]): string | null {
  const groups = [...new Set(suites.map((s) => s.id.split('/')[0]))];
  for (const f of suiteFilter)
    if (!suites.some((s) => s.id === f || s.id.startsWith(`${f}/`)))
      return `unknown suite ${JSON.stringify(f)} (suites: ${suites.map((s) => s.id).join(', ')}; groups: ${groups.join(', ')})`;
  for (const k of kernels) {
    try {
      kernelSeries(k);
    } catch (e) {
      if (e instanceof ArgumentError) return e.message;
      throw e;
    }
  }
  for (const s of sizes) if (!SIZES.includes(normalizeSize(s))) return `unknown size ${JSON.stringify(s)} (sizes: ${SIZES.join(', ')})`;
  return null;
}

export const COMPARE_USAGE = `usage: mirrorlab compare A.json B.json [--threshold 0.05]
  Lists what got faster or slower from A to B beyond the noise of both runs.
  Exit status: 0 nothing slower, 1 something slower, 2 bad input.`;

export function compareCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { threshold: { type: 'string' } } });
  if (positionals.length !== 2) {
    console.error(COMPARE_USAGE);
    return 2;
  }
  const runs: Results[] = [];
  for (const file of positionals) {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      console.error(`${file}: ${(e as Error).message}`);
      return 2;
    }
    const problems = validateResults(data);
    if (problems.length) {
      console.error(`${file}: not a mirrorlab results file:\n  ${problems.slice(0, 5).join('\n  ')}`);
      return 2;
    }
    runs.push(data as Results);
  }
  const threshold = values.threshold === undefined ? 0.05 : Number(values.threshold);
  if (!(threshold >= 0)) {
    console.error(`--threshold must be a non-negative number, got ${values.threshold}`);
    return 2;
  }
  const report = compareResults(runs[0], runs[1], threshold);
  console.log(formatCompare(report));
  return report.regressions > 0 ? 1 : 0;
}

/** `mirrorlab validate FILE...`: schema check of results files, for CI. */
export function validateCommand(argv: string[]): number {
  if (!argv.length) {
    console.error('usage: mirrorlab validate FILE.json [FILE.json ...]');
    return 2;
  }
  let bad = 0;
  for (const file of argv) {
    let problems: string[];
    try {
      problems = validateResults(JSON.parse(readFileSync(file, 'utf8')));
    } catch (e) {
      problems = [(e as Error).message];
    }
    if (problems.length) {
      bad++;
      console.error(`${file}: INVALID\n  ${problems.slice(0, 20).join('\n  ')}`);
    } else console.log(`${file}: valid (${RESULTS_SCHEMA_ID} v${RESULTS_VERSION})`);
  }
  return bad ? 1 : 0;
}

export const EXPORT_USAGE = `usage: mirrorlab export --format ${EXPORT_FORMATS.join('|')} RESULTS.json [--out FILE]
  Converts a results file: junit (JUnit XML for GitLab/GitHub), kcidb (KernelCI's KCIDB JSON, schema 5.3),
  csv (one row per measurement), md (Markdown tables per suite). Writes FILE, or standard output.
  Exit status: 0 written, 1 RESULTS.json unreadable or not a results file, 2 bad options.`;

/** `mirrorlab export`: one export of an existing results file. */
export function exportCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    console.log(EXPORT_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || values.format === undefined) {
    console.error(`mirrorlab export: ${values.format === undefined ? '--format is required' : 'one RESULTS.json expected'}\n${EXPORT_USAGE}`);
    return 2;
  }
  if (!isExportFormat(values.format)) {
    console.error(`mirrorlab export: unknown format ${JSON.stringify(values.format)} (formats: ${EXPORT_FORMATS.join(', ')})\n${EXPORT_USAGE}`);
    return 2;
  }
  const file = positionals[0];
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`mirrorlab export: ${file}: ${(e as Error).message}`);
    return 1;
  }
  const problems = validateResults(data);
  if (problems.length) {
    console.error(`mirrorlab export: ${file}: not a mirrorlab results file:\n  ${problems.slice(0, 5).join('\n  ')}`);
    return 1;
  }
  const text = exportResults(data as Results, values.format);
  if (values.out === undefined) process.stdout.write(text);
  else writeFileSync(values.out, text);
  return 0;
}
