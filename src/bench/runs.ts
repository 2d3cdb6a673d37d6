// `bench --runs N`: the whole selection run N times in one invocation, and the
// N results of each suite made into one. Within one run, the spread of a
// figure is that of its round medians; it says nothing of how the machine
// differed between runs (other work, frequency, host steal). Between runs,
// the spread is that of the N run medians, kept beside it as `betweenRuns`.
//
// The combined suite keeps, per measurement and per ratio, the whole record of
// one run: the run whose figure is nearest the median of the N (the first on a
// tie), so its samples, rounds and statistics stay those of one real run.
import type { BetweenRuns, Check, Comparison, Measurement, SuiteResult } from '../report/results.js';
import { roundRange } from '../report/units.js';

/** min, median and max of the run medians (the median of an even count: the mean of the middle two). */
export function betweenRunSpread(values: number[]): { n: number; min: number; median: number; max: number } {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) throw new Error('between-run spread of no finite value');
  const mid = v.length >> 1;
  return { n: v.length, min: v[0], median: v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2, max: v[v.length - 1] };
}

/** The index of the value nearest `target` (the first on a tie). */
function nearest(values: number[], target: number): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i] - target) < Math.abs(values[best] - target)) best = i;
  return best;
}

interface Taken<T> {
  run: number;
  item: T;
}

/** The items of every run grouped by key, in order of first appearance. */
function group<T>(perRun: { run: number; items: T[] }[], key: (x: T) => string): Taken<T>[][] {
  const groups = new Map<string, Taken<T>[]>();
  for (const { run, items } of perRun)
    for (const item of items) {
      const k = key(item);
      groups.set(k, [...(groups.get(k) ?? []), { run, item }]);
    }
  return [...groups.values()];
}

/** One figure over the runs: the spread, and the run whose figure stands for all. */
function spreadOver<T>(taken: Taken<T>[], figure: (x: T) => { median: number | null; lo: number; hi: number } | null): { pick: T; betweenRuns: BetweenRuns } | null {
  const runs = taken.flatMap(({ run, item }) => {
    const f = figure(item);
    return f && f.median !== null && Number.isFinite(f.median) ? [{ run, median: f.median, lo: f.lo, hi: f.hi, item }] : [];
  });
  if (!runs.length) return null;
  const spread = betweenRunSpread(runs.map((r) => r.median));
  const pick = runs[nearest(runs.map((r) => r.median), spread.median)].item;
  return { pick, betweenRuns: { ...spread, runs: runs.map(({ run, median, lo, hi }) => ({ run, median, lo, hi })) } };
}

const measurementKey = (m: Measurement) => `${m.id}${JSON.stringify(Object.entries(m.params).sort(([x], [y]) => x.localeCompare(y)))}`;

function combineMeasurements(taken: Taken<Measurement>[]): Measurement {
  const s = spreadOver(taken, (m) => {
    const r = roundRange(m);
    return r && m.warm.median !== null ? { median: m.warm.median, lo: r[0], hi: r[1] } : null;
  });
  // No run gave a number (every warm median null): the first run's record as it is.
  return s ? { ...s.pick, betweenRuns: s.betweenRuns } : taken[0].item;
}

function combineComparisons(taken: Taken<Comparison>[]): Comparison {
  const s = spreadOver(taken, (c) => (c.ratio.median === null ? null : { median: c.ratio.median, lo: c.ratio.lo, hi: c.ratio.hi }));
  return s ? { ...s.pick, betweenRuns: s.betweenRuns } : taken[0].item;
}

/** A check over the runs: failed when it failed in any run (the reasons say which), passed when
 * it passed in any other, skipped only when skipped in every run. */
function combineChecks(taken: Taken<Check>[], runs: number): Check {
  const name = taken[0].item.name;
  const failed = taken.filter((t) => t.item.status === 'fail');
  if (failed.length) {
    const reason = failed.map((t) => `run ${t.run}/${runs}${t.item.reason ? `: ${t.item.reason}` : ''}`).join('; ');
    return { name, status: 'fail', reason };
  }
  const passed = taken.find((t) => t.item.status === 'pass');
  return passed ? passed.item : taken[0].item;
}

const STATUS_RANK: Record<SuiteResult['status'], number> = { skipped: 0, complete: 1, incomplete: 2, failed: 3 };

/** One suite's results from each run (same suite, same kernel) as one. */
export function combineSuite(perRun: { run: number; suite: SuiteResult }[], runs: number): SuiteResult {
  const first = perRun[0].suite;
  for (const { suite } of perRun)
    if (suite.id !== first.id || suite.kernel !== first.kernel) throw new Error(`cannot combine ${suite.id}@${suite.kernel} with ${first.id}@${first.kernel}`);
  if (perRun.length === 1) return first;
  const ran = perRun.filter((r) => r.suite.status !== 'skipped');
  if (!ran.length) return first;
  // The worst status of the runs that ran, with that run's reason.
  const worst = ran.reduce((w, r) => (STATUS_RANK[r.suite.status] > STATUS_RANK[w.suite.status] ? r : w));
  const items = <T>(f: (s: SuiteResult) => T[]) => ran.map(({ run, suite }) => ({ run, items: f(suite) }));
  const withMost = <T>(f: (s: SuiteResult) => T[] | undefined) => ran.map((r) => f(r.suite)).reduce((a, b) => ((b?.length ?? 0) > (a?.length ?? 0) ? b : a));
  const combined: SuiteResult = {
    id: first.id,
    title: first.title,
    environment: first.environment,
    kernel: first.kernel,
    ...(ran.find((r) => r.suite.guest) ? { guest: ran.find((r) => r.suite.guest)!.suite.guest } : {}),
    status: worst.suite.status,
    ...(worst.suite.reason ? { reason: `run ${worst.run}/${runs}: ${worst.suite.reason}` } : {}),
    durationMs: ran.reduce((t, r) => t + r.suite.durationMs, 0),
    measurements: group(items((s) => s.measurements), measurementKey).map(combineMeasurements),
    comparisons: group(items((s) => s.comparisons), (c) => c.id).map(combineComparisons),
    checks: group(items((s) => s.checks), (c) => c.name).map((t) => combineChecks(t, runs)),
    plots: withMost((s) => s.plots) ?? [],
  };
  // Selftests and findings are not numbers to spread: the first run's are kept (their checks,
  // combined above, fail when any run's did).
  const selftests = ran.find((r) => r.suite.selftests)?.suite.selftests;
  if (selftests) combined.selftests = selftests;
  const findings = ran.find((r) => r.suite.findings?.length)?.suite.findings;
  if (findings) combined.findings = findings;
  const disturbance = perRun.flatMap((r) => r.suite.disturbance ?? []);
  if (disturbance.length) combined.disturbance = disturbance;
  return combined;
}

/** The suites of N runs of one plan (perRun[k][i]: run k+1's result of planned suite i) as one list. */
export function combineRuns(perRun: SuiteResult[][]): SuiteResult[] {
  if (perRun.length <= 1) return perRun[0] ?? [];
  const count = Math.max(...perRun.map((r) => r.length));
  const out: SuiteResult[] = [];
  for (let i = 0; i < count; i++) {
    const taken = perRun.flatMap((suites, k) => (suites[i] ? [{ run: k + 1, suite: suites[i] }] : []));
    out.push(combineSuite(taken, perRun.length));
  }
  return out;
}
