// `mirrorlab bench`: runs every suite this machine supports (host suites
// natively, guest suites on each kernel), shows progress, and writes
// results.json, results.ktap and report.html. Ctrl-C stops cleanly: the
// running suite is aborted (its guests are closed by the suite's own
// disposal), and what was measured so far is written, marked incomplete.
// results.json is also rewritten (atomically) after every suite, marked
// incomplete until the end, so SIGKILL, a crash or a full disk mid-run leaves
// the last complete state on disk; a write that fails stops the run there.
import path from 'node:path';
import { QUICK, roundRatio, yieldToEventLoop, type RepeatOptions } from '../measure/repeat.js';
import { machineInfo } from '../report/machine.js';
import { watchDisturbance } from '../measure/disturbance.js';
import { createProgress, type Progress } from '../report/progress.js';
import type { KernelComparison, Measurement, Results, SuiteResult } from '../report/results.js';
import { summaryTable } from '../report/summary-table.js';
import type { ExportFormat } from '../report/exports/index.js';
import { nonFiniteNumbers } from '../report/validate.js';
import { writeResultsJson, writeRun, type WrittenRun } from '../report/write.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, type KernelSeries } from '../vm/kernels.js';
import type { GuestClock } from '../vm/vm.js';
import { combineRuns } from './runs.js';
import type { Suite } from './suite.js';

/**
 * The guest clock of `mirrorlab bench` when --guest-clock is not given
 * (docs/benchmarks.md, "Guest clock: icount or wall", has the study behind it).
 */
export const DEFAULT_BENCH_CLOCK: GuestClock = 'wall';

export interface BenchOptions {
  suites: Suite[];
  suiteFilter?: string[];
  /** Guest kernels (default: the default series of scripts/kernel-series). */
  kernels?: KernelSeries[];
  sizes?: string[];
  quick?: boolean;
  /** The clock of the guest suites' guests (default DEFAULT_BENCH_CLOCK). */
  guestClock?: GuestClock;
  /** How many times to run the whole selection (bench --runs N; default 1). */
  runs?: number;
  outDir: string;
  /** Exports to write beside results.json (bench --export). */
  exports?: ExportFormat[];
  argv?: string[];
  /** Aborts the run (the CLI wires SIGINT to it). */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface BenchRun {
  results: Results;
  written: WrittenRun;
  failed: boolean;
}

interface Planned {
  suite: Suite;
  kernel: KernelSeries | null;
}

export function plan(opts: Pick<BenchOptions, 'suites' | 'suiteFilter' | 'kernels'>): Planned[] {
  const kernels = opts.kernels?.length ? opts.kernels : DEFAULT_KERNELS;
  const out: Planned[] = [];
  for (const suite of opts.suites) {
    if (opts.suiteFilter?.length && !opts.suiteFilter.some((f) => suite.id === f || suite.id.startsWith(`${f}/`))) continue;
    if (suite.environment === 'host') out.push({ suite, kernel: null });
    else for (const kernel of kernels) out.push({ suite, kernel });
  }
  return out;
}

export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  const log = opts.log ?? ((l: string) => process.stdout.write(l + '\n'));
  const quick = opts.quick ?? false;
  const guestClock = opts.guestClock ?? DEFAULT_BENCH_CLOCK;
  const sizes = opts.sizes ?? [];
  const repeat: RepeatOptions = quick ? QUICK : {};
  const planned = plan(opts);
  const runs = opts.runs ?? 1;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`runs must be an integer >= 1, got ${runs}`);
  const results: Results = {
    schema: 'mirrorlab/results',
    version: 1,
    run: {
      startedAt: new Date().toISOString(),
      finishedAt: null,
      complete: false,
      argv: opts.argv ?? [],
      quick,
      ...(runs > 1 ? { repeats: runs } : {}),
      filters: { ...(opts.suiteFilter?.length ? { suite: opts.suiteFilter } : {}), ...(opts.kernels?.length ? { kernel: opts.kernels } : {}), ...(sizes.length ? { size: sizes } : {}) },
    },
    machine: machineInfo(),
    suites: [],
    kernelComparisons: [],
  };
  const progress = createProgress(planned.length * runs);
  const outer = opts.signal ?? new AbortController().signal;
  const perRun: SuiteResult[][] = [];
  // The state so far, written after every suite: complete false, finishedAt null.
  const writeSoFar = () => {
    const suites = combineRuns(perRun);
    writeResultsJson({ ...results, suites, kernelComparisons: kernelComparisons(suites) }, opts.outDir);
  };
  try {
    writeSoFar();
    for (let run = 1; run <= runs; run++) {
      const suites: SuiteResult[] = [];
      perRun.push(suites);
      for (const { suite, kernel } of planned) {
        suites.push(await runSuite(suite, kernel, { quick, guestClock, sizes, repeat, outer, progress, run, runs }));
        writeSoFar();
      }
    }
  } finally {
    progress.stop();
  }
  results.suites = combineRuns(perRun);
  results.kernelComparisons = kernelComparisons(results.suites);
  results.run.finishedAt = new Date().toISOString();
  results.run.complete = !outer.aborted && results.suites.every((s) => s.status === 'complete' || s.status === 'skipped');
  const written = writeRun(results, opts.outDir, opts.exports);
  log('');
  log(summaryTable(results));
  log('');
  log(`results: ${written.json}`);
  log(`KTAP:    ${written.ktap}`);
  log(`report:  ${path.resolve(written.html)}`);
  for (const file of Object.values(written.exports)) log(`export:  ${file}`);
  const failed = results.suites.some((s) => s.status === 'failed' || s.checks.some((c) => c.status === 'fail'));
  return { results, written, failed };
}

interface RunState {
  quick: boolean;
  guestClock: GuestClock;
  sizes: string[];
  repeat: RepeatOptions;
  outer: AbortSignal;
  progress: Progress;
  /** Which run of bench --runs N this is (1-based), of how many. */
  run: number;
  runs: number;
}

/** One suite on one kernel, once: its result, with the machine's state around it. */
async function runSuite(suite: Suite, kernel: KernelSeries | null, st: RunState): Promise<SuiteResult> {
  const { quick, guestClock, sizes, repeat, outer, progress } = st;
  const result: SuiteResult = {
    id: suite.id,
    title: suite.title,
    environment: suite.environment,
    kernel,
    status: 'complete',
    durationMs: 0,
    measurements: [],
    comparisons: [],
    checks: [],
    plots: [],
  };
  await yieldToEventLoop(); // a SIGINT that came during the last suite is seen here
  if (outer.aborted) {
    result.status = 'incomplete';
    result.reason = 'interrupted before it started';
    return result;
  }
  const why = await suite.unsupported(kernel);
  // With several runs, each suite's progress line says which run: "host/faults#2".
  const label = `${kernel ? `${suite.id}@${kernel}` : suite.id}${st.runs > 1 ? `#${st.run}` : ''}`;
  if (why) {
    result.status = 'skipped';
    result.reason = why;
    progress.suiteStart(label, 0);
    progress.suiteEnd(`skipped: ${why}`);
    return result;
  }
  progress.suiteStart(label, suite.steps({ quick, sizes }));
  const watch = watchDisturbance();
  const started = performance.now();
  try {
    await suite.run({
      kernel,
      quick,
      guestClock,
      sizes,
      repeat,
      signal: outer,
      step: (d) => progress.step(d),
      measurement: (m) => result.measurements.push(m),
      comparison: (c) => result.comparisons.push(c),
      check: (c) => result.checks.push(c),
      plot: (p) => result.plots.push(p),
      guest: (g) => (result.guest = g),
      selftests: (r) => (result.selftests = r),
      finding: (f) => (result.findings ??= []).push(f),
    });
    if (outer.aborted) {
      result.status = 'incomplete';
      result.reason = 'interrupted';
    }
  } catch (e) {
    result.status = outer.aborted ? 'incomplete' : 'failed';
    result.reason = outer.aborted ? 'interrupted' : e instanceof Error ? e.message : String(e);
  }
  result.durationMs = performance.now() - started;
  dropNonFiniteFigures(result);
  const d = watch.end();
  result.disturbance = [{ run: st.run, ...d }];
  const disturbed = d.flags.length ? ` (disturbed: ${d.flags.join('; ')})` : '';
  progress.suiteEnd(`${result.status === 'complete' ? 'done' : `${result.status}${result.reason ? `: ${result.reason}` : ''}`}${disturbed}`);
  return result;
}

/**
 * A measurement or ratio whose figures JSON cannot hold (an Infinity
 * anywhere; a NaN where its summary has samples) is taken out of the suite
 * and a failing check names it: the suite's other figures, and the run's
 * other suites, are still written, and the run fails visibly.
 */
export function dropNonFiniteFigures(result: SuiteResult): void {
  const problem = (item: object): string | undefined => {
    const bad = nonFiniteNumbers(item).filter(({ at, value }) => {
      if (!Number.isNaN(value)) return true; // Infinity: never a result
      // NaN is "no value": fine where the schema takes a null, except in a summary with samples.
      const summary = /^\/(warm|cold)\/[a-z0-9]+$/.exec(at);
      return summary !== null && (item as Measurement)[summary[1] as 'warm' | 'cold']!.n > 0;
    });
    return bad.length ? bad.map(({ at, value }) => `${at} is ${value}`).join(', ') : undefined;
  };
  const keep = <T extends { id: string }>(items: T[], kind: string): T[] =>
    items.filter((item) => {
      const why = problem(item);
      if (why) result.checks.push({ name: `${kind} ${item.id} has finite figures`, status: 'fail', reason: `left out of the results: ${why}` });
      return !why;
    });
  result.measurements = keep(result.measurements, 'measurement');
  result.comparisons = keep(result.comparisons, 'ratio');
}

const paramKey = (m: Measurement) =>
  JSON.stringify(Object.entries(m.params).sort(([x], [y]) => x.localeCompare(y)));

/** Every measurement a guest suite took on two kernels with the same
 * parameters, as older / newer kernel (kernels in scripts/kernel-series order).
 * Only between guests on the same clock: a wall-clock time over an
 * instruction count is no ratio at all. */
export function kernelComparisons(suites: SuiteResult[]): KernelComparison[] {
  const out: KernelComparison[] = [];
  const rank = (k: KernelSeries) => (KERNEL_SERIES.includes(k) ? KERNEL_SERIES.indexOf(k) : KERNEL_SERIES.length);
  const guest = suites.filter((s) => s.kernel !== null && s.status !== 'skipped');
  const ids = [...new Set(guest.map((s) => s.id))];
  for (const id of ids) {
    const runs = guest.filter((s) => s.id === id).sort((x, y) => rank(x.kernel!) - rank(y.kernel!));
    for (let i = 0; i < runs.length; i++)
      for (let j = i + 1; j < runs.length; j++) {
        if ((runs[i].guest?.clock ?? 'wall') !== (runs[j].guest?.clock ?? 'wall')) continue;
        for (const ma of runs[i].measurements) {
          const mb = runs[j].measurements.find((m) => m.id === ma.id && paramKey(m) === paramKey(ma));
          if (!mb || mb.unit !== ma.unit || !(ma.warm.n > 0 && mb.warm.n > 0)) continue;
          const ratio = roundRatio(ma, mb);
          // A zero median on one kernel makes an infinite ratio: no figure a results file can hold.
          if (nonFiniteNumbers(ratio).some(({ value }) => !Number.isNaN(value))) continue;
          out.push({
            suite: id,
            measurement: ma.id,
            title: `${ma.title}: ${runs[i].kernel} / ${runs[j].kernel}`,
            unit: ma.unit,
            a: runs[i].kernel!,
            b: runs[j].kernel!,
            ratio,
          });
        }
      }
  }
  return out;
}
