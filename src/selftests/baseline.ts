// Baselines: the expected outcome of every kernel selftest case on one kernel
// series (src/selftests/baselines/<series>.json, checked in), and the
// comparison of a run against it. A case seen with different outcomes over
// repeated runs is recorded as flaky with how often each outcome came; a
// flaky case's outcome is reported as flaky, never retried into a pass.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import type { KernelSeries } from '../vm/kernels.js';
import { OUTCOMES, type CaseResult, type Outcome } from './parse.js';

export interface BaselineCase {
  outcome: Outcome;
  /** The skip reason, where it was the same in every run. */
  reason?: string;
  /** Different outcomes over the recorded runs: how many runs gave each. */
  flaky?: { runs: number; counts: Partial<Record<Outcome, number>> };
}

export interface BaselineSuite {
  /** The whole suite did not run on this kernel, and why (binary not built, no test_hmm.ko...). */
  skipped?: string;
  cases: Record<string, BaselineCase>;
}

export interface Baseline {
  series: string;
  /** The kernel release and selftest source the outcomes were recorded on. */
  release: string;
  source: { package: string; version: string } | null;
  recordedAt: string;
  /** Repetitions per suite the outcomes come from. */
  runs: Record<string, number>;
  suites: Record<string, BaselineSuite>;
}

/** One suite of a run: per repetition, its cases (or why it did not run). */
export interface SuiteOutcomes {
  suite: string;
  skipped?: string;
  /** Cases of each repetition, in order. */
  runs: CaseResult[][];
}

export type DifferenceKind =
  | 'new failure'
  | 'new skip'
  | 'pass where fail expected'
  | 'outcome changed'
  | 'skip reason changed'
  | 'flaky'
  | 'unknown case'
  | 'missing case'
  | 'suite ran, expected skipped'
  | 'suite skipped'
  | 'no baseline';

export interface Difference {
  suite: string;
  /** null for the suite as a whole. */
  case: string | null;
  kind: DifferenceKind;
  expected: string;
  got: string;
}

/** A case that the baseline knows as flaky, with what this run saw. */
export interface FlakyCase {
  suite: string;
  case: string;
  baseline: string;
  got: string;
}

export interface BaselineComparison {
  differences: Difference[];
  flaky: FlakyCase[];
  /** Cases that matched the baseline. */
  matched: number;
}

export const BASELINE_DIR = path.join(repoRoot, 'src', 'selftests', 'baselines');

export function baselinePath(series: KernelSeries | string): string {
  return path.join(BASELINE_DIR, `${series}.json`);
}

/** The checked-in baseline of a series, or null when there is none. */
export function loadBaseline(series: KernelSeries | string, file = baselinePath(series)): Baseline | null {
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Baseline;
}

/** "fail in 1 of 5 runs, pass in 4": counts in OUTCOMES order, the rarest first named. */
export function describeCounts(counts: { readonly [outcome: string]: number | undefined }, runs: number): string {
  const parts = OUTCOMES.filter((o) => counts[o]).sort((a, b) => counts[a]! - counts[b]!);
  return parts.map((o) => `${o} in ${counts[o]} of ${runs} runs`).join(', ');
}

function expectedText(b: BaselineCase): string {
  if (b.flaky) return `flaky (${describeCounts(b.flaky.counts, b.flaky.runs)})`;
  return b.reason ? `${b.outcome} (${b.reason})` : b.outcome;
}

/** Outcomes of one case over the repetitions of a run. */
function observe(runs: CaseResult[][], name: string): { counts: Partial<Record<Outcome, number>>; reasons: Set<string>; seen: number } {
  const counts: Partial<Record<Outcome, number>> = {};
  const reasons = new Set<string>();
  let seen = 0;
  for (const cases of runs) {
    const c = cases.find((x) => x.name === name);
    if (!c) continue;
    seen++;
    counts[c.outcome] = (counts[c.outcome] ?? 0) + 1;
    if (c.reason) reasons.add(c.reason);
  }
  return { counts, reasons, seen };
}

function kindOf(expected: Outcome, got: Outcome): DifferenceKind {
  if (got === 'fail' || got === 'xpass') return 'new failure';
  if (got === 'skip') return 'new skip';
  if ((expected === 'fail' || expected === 'xfail') && got === 'pass') return 'pass where fail expected';
  return 'outcome changed';
}

function gotText(o: ReturnType<typeof observe>, runs: number): string {
  const kinds = Object.keys(o.counts) as Outcome[];
  const base = kinds.length === 1 ? kinds[0] : describeCounts(o.counts, runs);
  return o.reasons.size ? `${base} (${[...o.reasons].join('; ')})` : base;
}

/** Compares a run (every repetition of every suite) with a baseline. */
export function compareWithBaseline(baseline: Baseline | null, suites: SuiteOutcomes[]): BaselineComparison {
  const out: BaselineComparison = { differences: [], flaky: [], matched: 0 };
  for (const s of suites) {
    const b = baseline?.suites[s.suite];
    if (!b) {
      out.differences.push({ suite: s.suite, case: null, kind: 'no baseline', expected: 'a baseline entry', got: s.skipped ? `skipped (${s.skipped})` : `${s.runs[0]?.length ?? 0} cases` });
      continue;
    }
    if (s.skipped !== undefined || b.skipped !== undefined) {
      if (s.skipped !== undefined && b.skipped !== undefined) out.matched++;
      else if (s.skipped !== undefined) out.differences.push({ suite: s.suite, case: null, kind: 'suite skipped', expected: 'the suite runs', got: `skipped (${s.skipped})` });
      else out.differences.push({ suite: s.suite, case: null, kind: 'suite ran, expected skipped', expected: `skipped (${b.skipped})`, got: 'the suite ran' });
      continue;
    }
    const names: string[] = [];
    for (const cases of s.runs) for (const c of cases) if (!names.includes(c.name)) names.push(c.name);
    for (const name of names) {
      const o = observe(s.runs, name);
      const exp = b.cases[name];
      const got = gotText(o, s.runs.length);
      if (!exp) {
        out.differences.push({ suite: s.suite, case: name, kind: 'unknown case', expected: 'not in the baseline', got });
        continue;
      }
      const kinds = Object.keys(o.counts) as Outcome[];
      if (exp.flaky) {
        const allowed = kinds.every((k) => exp.flaky!.counts[k]);
        if (allowed) out.flaky.push({ suite: s.suite, case: name, baseline: expectedText(exp), got: describeCounts(o.counts, o.seen) });
        else out.differences.push({ suite: s.suite, case: name, kind: 'outcome changed', expected: expectedText(exp), got });
        continue;
      }
      if (kinds.length > 1) {
        out.differences.push({ suite: s.suite, case: name, kind: 'flaky', expected: expectedText(exp), got });
        continue;
      }
      if (kinds[0] !== exp.outcome) {
        out.differences.push({ suite: s.suite, case: name, kind: kindOf(exp.outcome, kinds[0]), expected: expectedText(exp), got });
        continue;
      }
      if (exp.reason && exp.outcome !== 'pass' && !(o.reasons.size === 1 && o.reasons.has(exp.reason))) {
        out.differences.push({ suite: s.suite, case: name, kind: 'skip reason changed', expected: expectedText(exp), got });
        continue;
      }
      out.matched++;
    }
    for (const name of Object.keys(b.cases)) {
      if (names.includes(name)) continue;
      // Missing counts as failed, as baselineFromRun records it: the suite ended before the case.
      if (b.cases[name].flaky?.counts.fail) out.flaky.push({ suite: s.suite, case: name, baseline: expectedText(b.cases[name]), got: 'not run (the suite ended before it)' });
      else out.differences.push({ suite: s.suite, case: name, kind: 'missing case', expected: expectedText(b.cases[name]), got: 'not run' });
    }
  }
  return out;
}

/** One line per difference, for terminals and test failures. */
export function formatDifference(d: Difference): string {
  return `${d.suite}${d.case !== null ? `: ${d.case}` : ''}: ${d.kind}: expected ${d.expected}, got ${d.got}`;
}

/**
 * A baseline from a run: every case with the outcome all repetitions agreed
 * on (and its reason, where it was the same every time), or flaky with the
 * counts. Suites the run did not include are kept from `previous`.
 */
export function baselineFromRun(
  run: { series: string; release: string; source: Baseline['source']; suites: SuiteOutcomes[] },
  previous: Baseline | null,
): Baseline {
  const suites: Record<string, BaselineSuite> = { ...(previous?.suites ?? {}) };
  const runs: Record<string, number> = { ...(previous?.runs ?? {}) };
  for (const s of run.suites) {
    runs[s.suite] = s.runs.length;
    if (s.skipped !== undefined) {
      suites[s.suite] = { skipped: s.skipped, cases: {} };
      continue;
    }
    const cases: Record<string, BaselineCase> = {};
    const names: string[] = [];
    for (const r of s.runs) for (const c of r) if (!names.includes(c.name)) names.push(c.name);
    for (const name of names) {
      const o = observe(s.runs, name);
      const kinds = Object.keys(o.counts) as Outcome[];
      if (kinds.length === 1 && o.seen === s.runs.length) {
        // Skip reasons say what the kernel or machine lacks and stay put;
        // failure diagnostics carry addresses, timings and output tails.
        cases[name] = { outcome: kinds[0], ...(o.reasons.size === 1 && kinds[0] === 'skip' ? { reason: [...o.reasons][0] } : {}) };
      } else {
        // A case missing from some runs counts as failed there: the suite ended before it.
        const counts = { ...o.counts };
        if (o.seen < s.runs.length) counts.fail = (counts.fail ?? 0) + s.runs.length - o.seen;
        const most = (Object.keys(counts) as Outcome[]).sort((a, b) => counts[b]! - counts[a]!)[0];
        cases[name] = { outcome: most, flaky: { runs: s.runs.length, counts } };
      }
    }
    suites[s.suite] = { cases };
  }
  const sorted = Object.fromEntries(Object.keys(suites).sort().map((k) => [k, suites[k]]));
  return { series: run.series, release: run.release, source: run.source, recordedAt: new Date().toISOString(), runs, suites: sorted };
}

export function writeBaseline(b: Baseline, file = baselinePath(b.series)): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(b, null, 1) + '\n');
  return file;
}
