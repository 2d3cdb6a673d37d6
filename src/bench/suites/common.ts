// Helpers shared by the host suites: the --size filter, rounds recorded with
// what each round saw (fault counts, page state), measurements derived from
// the same rounds (a latency and a rate), and two sides measured in the
// same rounds (a comparison whose rounds are paired in time).
import { repeatUntilStable, settledHistory, type RepeatOptions, type RepeatResult } from '../../measure/repeat.js';
import { summarize } from '../../stats/summary.js';
import type { SuiteContext } from '../suite.js';

export type SizeName = '4K' | '2M' | '1G';

/** '4k', '4K', '4KiB', '2m', '2MB', '1G' ... -> '4K' | '2M' | '1G' (other names stay as given, upper-cased). */
export function normalizeSize(s: string): string {
  return s.trim().toUpperCase().replace(/I?B$/, '');
}

/** Whether the --size filter lets a case of this page size run (no filter: all). */
export function sizeWanted(ctx: Pick<SuiteContext, 'sizes'>, size: SizeName): boolean {
  return ctx.sizes.length === 0 || ctx.sizes.some((s) => normalizeSize(s) === size);
}

const median = (xs: ArrayLike<number>): number => summarize(xs).median;

/** The settling rule of repeatUntilStable applied to a list of round medians. */
export function settled(roundMedians: number[], tolerance: number, minRounds = 3): boolean {
  if (roundMedians.length < Math.max(minRounds, 3)) return false;
  const history: number[] = [];
  for (let i = 1; i <= roundMedians.length; i++) history.push(median(roundMedians.slice(0, i)));
  return settledHistory(history, tolerance);
}

export interface RecordedRound<T> {
  index: number;
  /** 'cold' (round 0), 'warmup' (discarded) or 'measured'. */
  kind: 'cold' | 'warmup' | 'measured';
  samples: number[];
  info: T;
}

export interface Recorded<T> {
  result: RepeatResult;
  rounds: RecordedRound<T>[];
}

/**
 * repeatUntilStable, keeping every round's samples and what the round
 * reported besides them (fault counts, page state), labelled cold, warm-up
 * or measured.
 */
export async function repeatRecorded<T>(
  round: (index: number) => { samples: ArrayLike<number>; info: T } | Promise<{ samples: ArrayLike<number>; info: T }>,
  options: RepeatOptions,
): Promise<Recorded<T>> {
  const raw: { samples: number[]; info: T }[] = [];
  const result = await repeatUntilStable(async (i) => {
    const r = await round(i);
    const samples = Array.from(r.samples);
    raw[i] = { samples, info: r.info };
    return samples;
  }, options);
  const measuredFrom = raw.length - result.roundMedians.length;
  const cold = options.cold !== false;
  const rounds = raw.map((r, index) => ({
    index,
    kind: (index >= measuredFrom ? 'measured' : cold && index === 0 ? 'cold' : 'warmup') as RecordedRound<T>['kind'],
    ...r,
  }));
  return { result, rounds };
}

/**
 * The same rounds seen through a per-sample transform (ns per fault ->
 * GiB/s): cold, warm and each round's median recomputed from the
 * transformed samples, settled by the same rule.
 */
export function deriveResult<T>(rec: Recorded<T>, f: (sample: number) => number): RepeatResult {
  const cold = rec.rounds.filter((r) => r.kind === 'cold').flatMap((r) => r.samples.map(f));
  const measured = rec.rounds.filter((r) => r.kind === 'measured').map((r) => r.samples.map(f));
  const roundMedians = measured.map((s) => median(s));
  return { cold, warm: measured.flat(), roundMedians, stable: settled(roundMedians, rec.result.tolerance), tolerance: rec.result.tolerance };
}

/**
 * Values taken from what each round reported besides its samples (e.g. a
 * region's bytes over the wall time of each run in the round): cold, warm
 * and round medians of those values, settled by the same rule.
 */
export function infoResult<T>(rec: Recorded<T>, f: (info: T) => number[]): RepeatResult {
  const cold = rec.rounds.filter((r) => r.kind === 'cold').flatMap((r) => f(r.info));
  const measured = rec.rounds.filter((r) => r.kind === 'measured').map((r) => f(r.info));
  const roundMedians = measured.map((v) => median(v));
  return { cold, warm: measured.flat(), roundMedians, stable: settled(roundMedians, rec.result.tolerance), tolerance: rec.result.tolerance };
}

/** One side of a paired round: its first-touch samples apart from the rest. */
export interface Side {
  cold: ArrayLike<number>;
  warm: ArrayLike<number>;
}

export interface Paired<T> {
  a: RepeatResult;
  b: RepeatResult;
  /** Further sides measured in the same rounds (by the name the round gave them); they do not steer when rounds settle. */
  more: Record<string, RepeatResult>;
  /** a / b of each measured round's warm medians. */
  roundRatios: number[];
  /** What every round (cold, warm-up and measured) reported besides samples. */
  infos: T[];
}

/**
 * Two sides measured in the same rounds (each round runs both, the caller
 * alternating which goes first). The rounds repeat until the ratio of the two
 * sides' round medians settles. Each side's cold samples are the cold part
 * of round 0 (the first fresh mapping of the suite); its warm samples are the
 * warm parts of the measured rounds.
 */
export async function repeatPaired<T = undefined>(
  round: (index: number) => Promise<{ a: Side; b: Side; more?: Record<string, Side>; info: T }>,
  options: RepeatOptions,
): Promise<Paired<T>> {
  const rec = await repeatRecorded(async (i) => {
    const r = await round(i);
    return { samples: [median(r.a.warm) / median(r.b.warm)], info: r };
  }, options);
  const side = (pick: (info: Awaited<ReturnType<typeof round>>) => Side): RepeatResult => {
    const cold = rec.rounds.filter((r) => r.kind === 'cold').flatMap((r) => Array.from(pick(r.info).cold));
    const measured = rec.rounds.filter((r) => r.kind === 'measured').map((r) => Array.from(pick(r.info).warm));
    const roundMedians = measured.map((s) => median(s));
    return { cold, warm: measured.flat(), roundMedians, stable: settled(roundMedians, rec.result.tolerance), tolerance: rec.result.tolerance };
  };
  const more: Record<string, RepeatResult> = {};
  for (const name of Object.keys(rec.rounds[0]?.info.more ?? {})) more[name] = side((info) => info.more![name]);
  return {
    a: side((info) => info.a),
    b: side((info) => info.b),
    more,
    roundRatios: rec.result.roundMedians,
    infos: rec.rounds.map((r) => r.info.info),
  };
}

export const GiB = 2 ** 30;

/** bytes in ns -> GiB/s */
export const gibPerS = (bytes: number, ns: number): number => (bytes / ns) * 1e9 / GiB;

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return (e as Error & { code?: string }).code && !e.message.startsWith(String((e as Error & { code?: string }).code)) ? `${(e as Error & { code?: string }).code}: ${e.message}` : e.message;
  return String(e);
}
