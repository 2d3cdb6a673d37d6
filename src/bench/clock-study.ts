// The guest clock study (scripts/guest-clock-study.sh): the same guest suites
// run N times under each guest clock; per figure, how far the run medians
// spread. A figure is a measurement's median (fakevram fault-in times,
// mirrordrm GUP and HMM registration per page) or a comparison's ratio
// (pte/pmd, pte/pud, gup/hmm). Spread = max / min of the run medians: 1.00
// means every run gave the same number.
//
//   node dist/bench/clock-study.js DIR     DIR/<mode>-<i>/results.json, as the script writes them
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from '../cli/format.js';
import type { Results } from '../report/results.js';
import { summarize } from '../stats/summary.js';

/** The figures of the study: suite and whether a measurement or comparison id takes part. */
const FIGURES: Record<string, { measurements: RegExp; comparisons: RegExp }> = {
  'guest/fakevram': { measurements: /^fault-in\/.*\/per-fault\//, comparisons: /^pte\/(pmd|pud) / },
  'guest/mirrordrm': { measurements: /^registration\/[^/]+\/(gup|hmm)\//, comparisons: /^gup\/hmm / },
};

export interface StudyRun {
  /** Where the run came from (its directory), for messages. */
  name: string;
  results: Results;
}

export interface ModeSpread {
  clock: string;
  /** Runs that had the figure. */
  n: number;
  min: number;
  median: number;
  max: number;
  /** max / min of the run medians. */
  spread: number;
}

export interface StudyRow {
  /** suite@kernel and the measurement or comparison id. */
  figure: string;
  unit: string;
  modes: ModeSpread[];
}

/** The clock a run's guests ran on (every guest suite of one bench run has the same), 'wall' for files written before it was recorded. */
export function runClock(r: Results): string {
  const clocks = new Set(r.suites.filter((s) => s.guest).map((s) => s.guest!.clock ?? 'wall'));
  if (clocks.size > 1) throw new Error(`one run with guests on several clocks (${[...clocks].join(', ')}): not a study run`);
  return [...clocks][0] ?? 'wall';
}

/** Per figure and clock: the run medians' min, median, max and spread. Figures in first-seen order, clocks in the order given. */
export function summarizeStudy(runs: StudyRun[], clocks: readonly string[] = ['wall', 'icount']): StudyRow[] {
  const values = new Map<string, { unit: string; byClock: Map<string, number[]> }>();
  const add = (figure: string, unit: string, clock: string, v: number): void => {
    if (!Number.isFinite(v)) return;
    let f = values.get(figure);
    if (!f) values.set(figure, (f = { unit, byClock: new Map() }));
    const list = f.byClock.get(clock) ?? [];
    list.push(v);
    f.byClock.set(clock, list);
  };
  for (const run of runs) {
    const clock = runClock(run.results);
    for (const s of run.results.suites) {
      const want = FIGURES[s.id];
      if (!want || s.status !== 'complete') continue;
      const where = `${s.id}@${s.kernel}`;
      for (const m of s.measurements) if (want.measurements.test(m.id) && m.warm.n > 0) add(`${where} ${m.id}`, m.unit, clock, m.warm.median);
      for (const c of s.comparisons) if (want.comparisons.test(c.id)) add(`${where} ${c.id}`, 'ratio', clock, c.ratio.median);
    }
  }
  return [...values].map(([figure, { unit, byClock }]) => ({
    figure,
    unit,
    modes: clocks
      .filter((c) => byClock.has(c))
      .map((clock) => {
        const s = summarize(byClock.get(clock)!);
        return { clock, n: s.n, min: s.min, median: s.median, max: s.max, spread: s.max / s.min };
      }),
  }));
}

const num = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(3));

/** One table row per figure and clock. */
export function formatStudy(rows: StudyRow[]): string {
  const out: string[][] = [];
  for (const r of rows) for (const m of r.modes) out.push([r.figure, r.unit, m.clock, String(m.n), num(m.min), num(m.median), num(m.max), m.spread.toFixed(3)]);
  return table(['figure', 'unit', 'clock', 'runs', 'min', 'median', 'max', 'max/min'], out);
}

/** Every DIR/<name>/results.json, in name order. */
export function readStudyDir(dir: string): StudyRun[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(dir, e.name, 'results.json')))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => ({ name, results: JSON.parse(fs.readFileSync(path.join(dir, name, 'results.json'), 'utf8')) as Results }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir || process.argv.length > 3) {
    console.error('usage: node dist/bench/clock-study.js DIR');
    process.exit(2);
  }
  const runs = readStudyDir(dir);
  if (!runs.length) {
    console.error(`${dir}: no <mode>-<i>/results.json runs`);
    process.exit(1);
  }
  const perClock = new Map<string, number>();
  for (const r of runs) perClock.set(runClock(r.results), (perClock.get(runClock(r.results)) ?? 0) + 1);
  console.log(`${runs.length} runs (${[...perClock].map(([c, n]) => `${n} ${c}`).join(', ')}) from ${dir}; per figure the run medians and their spread (max/min)\n`);
  console.log(formatStudy(summarizeStudy(runs)));
}
