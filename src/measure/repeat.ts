// The measurement discipline every benchmark follows:
//   round 0            cold: the first touch, reported apart
//   warm-up rounds     run and discarded
//   measured rounds    repeated until the median of round medians settles
//                      within `tolerance`, or `maxRounds` / `budgetMs` run out
// A round is one call of the caller's function, which does the timed work in
// native code and returns that round's samples; JavaScript only decides what
// to run and when.
import { summarize } from '../stats/summary.js';
import { thin, type Better, type Measurement, type ParamValue } from '../report/results.js';

export interface RepeatOptions {
  /** Report round 0 as cold (first touch). Default true. */
  cold?: boolean;
  warmupRounds?: number;
  minRounds?: number;
  maxRounds?: number;
  budgetMs?: number;
  /** Relative change of the median of round medians that counts as settled. */
  tolerance?: number;
  /** Called after every round, for progress. */
  onRound?: (round: number, roundMedian: number) => void;
}

export interface RepeatResult {
  cold: number[];
  warm: number[];
  roundMedians: number[];
  stable: boolean;
  tolerance: number;
}

export const QUICK: RepeatOptions = { warmupRounds: 0, minRounds: 3, maxRounds: 3, budgetMs: 2_000 };

function medianOf(values: ArrayLike<number>): number {
  return summarize(values).median;
}

/** The settling rule: the median of round medians (one entry per round in
 * `history`) moved by at most `tolerance` (relative) over the last three rounds. */
export function settledHistory(history: number[], tolerance: number): boolean {
  if (history.length < 3) return false;
  const [a, b, c] = history.slice(-3);
  return Math.abs(b - a) <= tolerance * Math.abs(a) && Math.abs(c - b) <= tolerance * Math.abs(b);
}

/** Lets the event loop run (signals, timers, I/O) between rounds: rounds of
 * native work resolve as microtasks only, so without this a whole suite is
 * one synchronous stretch and Ctrl-C (SIGINT) is not seen until it ends. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function repeatUntilStable(
  round: (index: number) => ArrayLike<number> | Promise<ArrayLike<number>>,
  options: RepeatOptions = {},
): Promise<RepeatResult> {
  const { cold: wantCold = true, warmupRounds = 1, minRounds = 5, maxRounds = 50, budgetMs = 10_000, tolerance = 0.02 } = options;
  const started = performance.now();
  let index = 0;
  const cold: number[] = [];
  if (wantCold) {
    const s = await round(index++);
    for (let i = 0; i < s.length; i++) cold.push(s[i]);
  }
  for (let w = 0; w < warmupRounds; w++) {
    await yieldToEventLoop();
    await round(index++);
  }

  const warm: number[] = [];
  const roundMedians: number[] = [];
  const history: number[] = []; // median of round medians after each round
  let stable = false;
  while (roundMedians.length < maxRounds) {
    await yieldToEventLoop();
    const s = await round(index++);
    for (let i = 0; i < s.length; i++) warm.push(s[i]);
    const m = medianOf(s);
    roundMedians.push(m);
    history.push(medianOf(roundMedians));
    options.onRound?.(roundMedians.length, m);
    if (roundMedians.length >= Math.max(minRounds, 3)) {
      stable = settledHistory(history, tolerance);
      if (stable) break;
    }
    if (performance.now() - started > budgetMs && roundMedians.length >= Math.min(minRounds, maxRounds)) break;
  }
  return { cold, warm, roundMedians, stable, tolerance };
}

export interface MeasurementSpec {
  id: string;
  title: string;
  unit: string;
  better?: Better;
  params?: Record<string, ParamValue>;
  /** What the run saw (fault counts, verified repetitions): reported, not part of the identity. */
  observed?: Record<string, ParamValue>;
}

export function toMeasurement(spec: MeasurementSpec, r: RepeatResult): Measurement {
  return {
    id: spec.id,
    title: spec.title,
    unit: spec.unit,
    better: spec.better ?? 'lower',
    params: spec.params ?? {},
    ...(spec.observed && Object.keys(spec.observed).length ? { observed: spec.observed } : {}),
    ...(r.cold.length ? { cold: summarize(r.cold) } : {}),
    warm: summarize(r.warm),
    roundMedians: r.roundMedians,
    stable: r.stable,
    tolerance: r.tolerance,
    samples: thin(r.warm),
    samplesTotal: r.warm.length,
  };
}

/** a / b of warm medians, with the spread taken from the round medians of both
 * (lo = fastest a round over slowest b round, hi the reverse): run-to-run noise,
 * not single-sample outliers. */
export function roundRatio(a: Measurement, b: Measurement): { median: number; lo: number; hi: number } {
  const ra = a.roundMedians.length ? a.roundMedians : [a.warm.median];
  const rb = b.roundMedians.length ? b.roundMedians : [b.warm.median];
  return { median: a.warm.median / b.warm.median, lo: Math.min(...ra) / Math.max(...rb), hi: Math.max(...ra) / Math.min(...rb) };
}
