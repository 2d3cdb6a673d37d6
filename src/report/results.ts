// The results file written by `mirrorlab bench`: one JSON document per run,
// versioned, described by results.schema.json beside this file.
import type { Disturbance } from '../measure/disturbance.js';
import type { Summary } from '../stats/summary.js';
import type { KernelSeries } from '../vm/kernels.js';
import type { MachineInfo } from './machine.js';

export const RESULTS_SCHEMA_ID = 'mirrorlab/results';
export const RESULTS_VERSION = 1;

export type Better = 'lower' | 'higher';
export type ParamValue = string | number | boolean;

/** bench --runs N: the spread of one figure over the N runs of the selection. min, median and max
 * are of the N run medians (of a measurement: each run's warm median; of a ratio: each run's ratio). */
export interface BetweenRuns {
  /** Runs that measured it (fewer than N when a run was interrupted or failed first). */
  n: number;
  min: number;
  median: number;
  max: number;
  /** Each run's figure with its within-run spread (lo .. hi: round medians, or the ratio's spread), in run order. */
  runs: { run: number; median: number; lo: number; hi: number }[];
}

export interface Measurement {
  /** Unique within its suite, e.g. 'fault/anon-4K/touch'. */
  id: string;
  title: string;
  /** Unit of every sample and statistic: 'ns', 'us', 'ms', 'GiB/s', 'count', ... */
  unit: string;
  /** Whether smaller numbers are better (latency) or larger (throughput). */
  better: Better;
  /** What the measurement varied, e.g. { backing: 'thp', size: 2097152, mode: 'gup' }: its identity,
   * with suite, kernel and id, when runs are compared. */
  params: Record<string, ParamValue>;
  /** What the run saw while measuring (e.g. { verifiedRuns: '21/21', pmdMapped: true }): reported,
   * never part of the identity, so a run that saw something else is still compared. */
  observed?: Record<string, ParamValue>;
  /** First-touch (cold) samples, reported apart from warm ones; absent when not meaningful. */
  cold?: Summary;
  warm: Summary;
  /** Median of each round of the warm repetitions: the run-to-run noise. */
  roundMedians: number[];
  /** Whether the median settled within `tolerance` before the budget ran out. */
  stable: boolean;
  tolerance: number;
  /** Raw warm samples, evenly thinned to at most `samplesKept`; `samplesTotal` counts all. */
  samples: number[];
  samplesTotal: number;
  /** bench --runs N (N > 1): the spread of the warm median over the runs. The fields above are
   * those of the run whose warm median is nearest the median of the N (the first on a tie). */
  betweenRuns?: BetweenRuns;
}

export interface Comparison {
  id: string;
  title: string;
  /** Measurement ids in the same suite: ratio = a / b (medians). */
  a: string;
  b: string;
  ratio: { median: number; lo: number; hi: number };
  /** An optional target, e.g. { op: '<=', value: 1.05 }, and whether this run met it. */
  target?: { op: '<=' | '>='; value: number; met: boolean };
  /** bench --runs N (N > 1): the spread of the ratio over the runs; `ratio` and `target` are
   * those of the run whose ratio is nearest the median of the N. */
  betweenRuns?: BetweenRuns;
}

export interface Check {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  reason?: string;
}

export type Plot =
  | { kind: 'histogram'; title: string; measurement: string }
  | { kind: 'curve'; title: string; x: string; series: string; measurements: string[]; logX?: boolean }
  | { kind: 'bars'; title: string; label: string; measurements: string[] };

/** One case of a kernel selftest suite: what each run gave, and how that compares with the baseline. */
export interface SelftestCaseResult {
  name: string;
  /** Runs per outcome ('pass', 'fail', 'skip', 'xfail', 'xpass'). */
  outcomes: Record<string, number>;
  /** Skip/failure reasons the runs printed. */
  reasons?: string[];
  /** The baseline's expectation ("pass", "skip (reason)", "flaky (...)"), absent for a case it does not know. */
  expected?: string;
  /** 'match', 'flaky' (a known flaky case), or the kind of difference. */
  verdict: string;
}

/** One kernel selftest suite (hmm-tests, cow, ...) run in a guest suite. */
export interface SelftestSuiteResult {
  suite: string;
  binary: string | null;
  args: string[];
  /** Why it did not run on this kernel. */
  skipped?: string;
  runs: number;
  /** Guest time of each run. */
  durationsMs: number[];
  counts: Record<string, number>;
  cases: SelftestCaseResult[];
  /** Differences from the baseline that concern the suite as a whole (skipped, no baseline). */
  suiteDifferences: { kind: string; expected: string; got: string }[];
  /** The name of the check that carries this suite's verdict. */
  check: string;
}

/** The kernel's own selftests run by a guest suite, compared with the checked-in baseline. */
export interface SelftestsResult {
  /** Baseline file, relative to the package root. */
  baseline: string;
  baselineRelease: string | null;
  source: { package: string; version: string } | null;
  testHmm: string;
  /** The guest's vCPUs (0 when it did not boot). */
  cpus: number;
  /** The swap device the suites ran with, or why there was none. */
  swap: string;
  suites: SelftestSuiteResult[];
}

/** One invalidation callback behind a finding, with addresses as byte offsets from the buffer's start. */
export interface FindingRecord {
  event: string;
  start: number;
  /** Exclusive; -1 for ULONG_MAX (a whole-address-space event such as RELEASE or SOFT_DIRTY). */
  end: number;
  blockable: boolean;
}

/**
 * What one device mirror did under one CPU-side event (guest/behaviour): the
 * bytes the device read afterwards against what the CPU sees there.
 * coherent: the same bytes; stale: different bytes, or bytes of a page the
 * CPU no longer maps; error: the device access failed (errno in detail).
 */
export interface Finding {
  /** The event, e.g. 'MADV_DONTNEED + CPU write'. */
  event: string;
  /** The mirror mode ('gup', 'gup-longterm', 'hmm'). */
  mode: string;
  outcome: 'coherent' | 'stale' | 'error';
  /** What the device and the CPU saw, in words. */
  detail: string;
  records: FindingRecord[];
}

export interface SuiteResult {
  id: string;
  /** In a merged file (mirrorlab merge): the label of the run the suite came from. */
  label?: string;
  title: string;
  environment: 'host' | 'guest';
  /** Guest kernel series ('6.1', '6.12', '7.2') or null on the host. */
  kernel: KernelSeries | null;
  /** For guest suites: the exact kernel release and how QEMU ran it. */
  guest?: {
    release: string;
    accel: 'tcg' | 'kvm';
    /**
     * The guest clock its timings came from: 'wall' (host time spent
     * emulating) or 'icount' (guest instructions, 1 ns each). Absent in
     * files written before the clock was recorded: those ran on 'wall'.
     */
    clock?: 'wall' | 'icount';
    /**
     * QEMU's -cpu model ('host' under KVM). Absent in files written before
     * it was recorded: those ran on 'max', whose ERMS made copy-heavy guest
     * figures several times slower under TCG (src/vm/vm.ts, TCG_CPU_MODEL).
     */
    cpu?: string;
  };
  status: 'complete' | 'incomplete' | 'skipped' | 'failed';
  reason?: string;
  durationMs: number;
  measurements: Measurement[];
  comparisons: Comparison[];
  checks: Check[];
  plots: Plot[];
  /** The kernel's own selftests (guest/selftests), per case with the baseline comparison. */
  selftests?: SelftestsResult;
  /** Per event and mirror mode, how the device's view compared with the CPU's (guest/behaviour). */
  findings?: Finding[];
  /** The machine's state around each run of the suite (one record per run, in run order; none
   * when the suite was skipped or never started): src/measure/disturbance.ts. */
  disturbance?: SuiteDisturbance[];
}

/** One run's disturbance record: which run of bench --runs N (1 without it), and the record. */
export type SuiteDisturbance = Disturbance & { run: number };

export interface RunInfo {
  startedAt: string;
  finishedAt: string | null;
  /** False when the run was interrupted (Ctrl-C) or a suite failed to finish. */
  complete: boolean;
  argv: string[];
  quick: boolean;
  filters: { suite?: string[]; kernel?: KernelSeries[]; size?: string[] };
  /** bench --runs N: how many times the whole selection ran (absent: once). */
  repeats?: number;
}

/** One measurement of a guest suite that ran on two kernels: ratio = a / b of
 * warm medians (a = older kernel), spread from both runs' round medians. */
export interface KernelComparison {
  suite: string;
  measurement: string;
  title: string;
  unit: string;
  a: KernelSeries;
  b: KernelSeries;
  ratio: { median: number; lo: number; hi: number };
  /** In a merged file: the run both kernels ran in. */
  label?: string;
}

/** One run of a merged file: its label, its file, its machine and run information. */
export interface MergedRun {
  label: string;
  source: string;
  machine: MachineInfo;
  run: RunInfo;
}

/** A measurement two runs of a merged file share: ratio = a / b of warm medians, spread from round medians. */
export interface MachineComparison {
  suite: string;
  kernel: KernelSeries | null;
  measurement: string;
  params: Record<string, ParamValue>;
  title: string;
  unit: string;
  /** Run labels. */
  a: string;
  b: string;
  ratio: { median: number; lo: number; hi: number };
}

export interface Results {
  schema: typeof RESULTS_SCHEMA_ID;
  version: typeof RESULTS_VERSION;
  run: RunInfo;
  machine: MachineInfo;
  suites: SuiteResult[];
  /** Each pair of kernels (6.1 / 6.12, 6.1 / 7.2, 6.12 / 7.2) for every case both ran. */
  kernelComparisons: KernelComparison[];
  /** Merged files only (mirrorlab merge): the runs, in the order given. */
  runs?: MergedRun[];
  /** Merged files only: each pair of runs, every measurement both ran. */
  machineComparisons?: MachineComparison[];
}

export const SAMPLES_KEPT = 4096;

/** Evenly thin samples to at most `max`, keeping order (and so the cold/warm sequence). */
export function thin(samples: ArrayLike<number>, max = SAMPLES_KEPT): number[] {
  const n = samples.length;
  if (n <= max) return Array.from(samples);
  const out = new Array<number>(max);
  for (let i = 0; i < max; i++) out[i] = samples[Math.floor((i * n) / max)];
  return out;
}
