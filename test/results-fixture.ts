// Small results files for compare and validate tests: valid against the
// schema, with the measurements a test gives (round medians set the noise).
import type { MachineInfo } from '../src/report/machine.js';
import type { Measurement, ParamValue, Results, SuiteResult } from '../src/report/results.js';
import { summarize } from '../src/stats/summary.js';
import type { KernelSeries } from '../src/vm/kernels.js';

export interface FixtureMeasurement {
  id: string;
  params?: Record<string, ParamValue>;
  observed?: Record<string, ParamValue>;
  /** Each round's median; the warm samples are these. */
  rounds: number[];
  unit?: string;
}

export function measurement(f: FixtureMeasurement): Measurement {
  return {
    id: f.id,
    title: f.id,
    unit: f.unit ?? 'ns',
    better: 'lower',
    params: f.params ?? {},
    ...(f.observed ? { observed: f.observed } : {}),
    warm: summarize(f.rounds),
    roundMedians: f.rounds,
    stable: true,
    tolerance: 0.05,
    samples: f.rounds,
    samplesTotal: f.rounds.length,
  };
}

const machine: MachineInfo = {
  hostname: 'fixture',
  cpuModel: 'fixture CPU',
  cores: 2,
  memoryBytes: 2 ** 30,
  kernelRelease: '6.12.0-fixture',
  kernelConfig: {},
  kernelConfigSource: null,
  virtualization: { hypervisor: false, vendor: null },
  thp: { enabled: 'madvise', defrag: 'madvise', shmemEnabled: 'never' },
  hugetlb: {},
  nodeVersion: process.version,
  mirrorlabVersion: '0.0.0',
  gitCommit: null,
};

export function results(suites: { id: string; kernel?: string; measurements: FixtureMeasurement[] }[]): Results {
  const suiteResults: SuiteResult[] = suites.map((s) => ({
    id: s.id,
    title: s.id,
    environment: s.kernel ? 'guest' : 'host',
    kernel: (s.kernel ?? null) as KernelSeries | null,
    status: 'complete',
    durationMs: 1,
    measurements: s.measurements.map(measurement),
    comparisons: [],
    checks: [],
    plots: [],
  }));
  return {
    schema: 'mirrorlab/results',
    version: 1,
    run: { startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', complete: true, argv: ['bench'], quick: true, filters: {} },
    machine,
    suites: suiteResults,
    kernelComparisons: [],
  };
}
