// The host fault measurements: 4 KiB, THP and hugetlb 2 MiB write faults
// (cold first repetition and warm repetitions apart), read faults on the zero
// page, MADV_POPULATE_WRITE per region, and mirrorlab's loop against the plain
// C reference loop. Skips say why.
import { readFileSync } from 'node:fs';
import { native } from '../addon.js';
import { backingSpec, backingPageSize, clockOverhead, runFaults, type Access, type FaultBacking, type FaultRunResult, type FaultSource } from '../faults/index.js';
import { reserveHugePages, thpSettings, type HugeReservation } from '../memory/index.js';
import { smapsFor } from '../pagestate/index.js';
import { summarize, type Summary } from '../stats/index.js';
import { compareWithReference, type ReferenceComparison } from './reference.js';

export interface HostFaultCase {
  name: string;
  backing: FaultBacking;
  access: Access;
  method: 'touch' | 'populate-write';
  length: number;
  stride: number;
  repetitions: number;
  /** Repetition 0 was the first timing loop of this process. */
  processFirst: boolean;
  faultSource: FaultSource;
  /** ns per touch (per region for populate-write). */
  cold: Summary;
  warm: Summary;
  warmMedians: Summary;
  /** populate-write only: ns per region (one madvise call) and per page, all repetitions. */
  perRegion?: Summary;
  perPage?: Summary;
  faults: Summary;
  expectedFaults: number;
  /** THP only: the last repetition's AnonHugePages (kB) from /proc/self/smaps. */
  anonHugePagesKb?: number;
  /** With keepSamples: every repetition's raw samples (ns). */
  samples?: number[][];
}

export interface HostFaultSkip {
  name: string;
  reason: string;
}

export interface HostFaultReport {
  schema: 'mirrorlab-host-faults/1';
  clock: 'CLOCK_MONOTONIC';
  /** The kernel clocksource behind it (/sys/devices/system/clocksource/clocksource0/current_clocksource). */
  clocksource: string | null;
  clockOverhead: Summary;
  cases: HostFaultCase[];
  reference: { name: string; comparison: ReferenceComparison }[];
  skipped: HostFaultSkip[];
  checks: { name: string; ok: boolean; detail: string }[];
}

export interface HostFaultOptions {
  /** Small regions and few repetitions (a smoke run). */
  quick?: boolean;
  /** Rounds of mirrorlab vs C reference. */
  rounds?: number;
  repetitions?: number;
  /** Called before each case with its name. */
  progress?: (name: string) => void;
  /** Keep the raw per-repetition samples in each case. */
  keepSamples?: boolean;
}

function toCase(name: string, backing: FaultBacking, r: FaultRunResult, expectedFaults: number, keepSamples: boolean, extra: Partial<HostFaultCase> = {}): HostFaultCase {
  return {
    ...(keepSamples ? { samples: r.reps.map((x) => Array.from(x.samples)) } : {}),
    name,
    backing,
    access: r.access,
    method: r.method,
    length: r.length,
    stride: r.stride,
    repetitions: r.reps.length,
    processFirst: r.processFirst,
    faultSource: r.faultSource,
    cold: r.cold,
    warm: r.warm,
    warmMedians: r.warmMedians,
    faults: r.faults,
    expectedFaults,
    ...extra,
  };
}

function currentClocksource(): string | null {
  try {
    return readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim();
  } catch {
    return null;
  }
}

export async function hostFaults(opts: HostFaultOptions = {}): Promise<HostFaultReport> {
  const quick = !!opts.quick;
  const reps = opts.repetitions ?? (quick ? 3 : 8);
  const rounds = opts.rounds ?? (quick ? 2 : 6);
  const progress = opts.progress ?? (() => {});
  const keep = !!opts.keepSamples;
  const sizes: Record<FaultBacking, number> = {
    '4K': quick ? 1 << 20 : 16 << 20,
    thp: quick ? 8 << 20 : 64 << 20,
    'hugetlb-2M': quick ? 8 << 20 : 32 << 20,
    'hugetlb-1G': 1 << 30,
    shared: quick ? 1 << 20 : 16 << 20,
  };
  const report: HostFaultReport = {
    schema: 'mirrorlab-host-faults/1',
    clock: 'CLOCK_MONOTONIC',
    clocksource: currentClocksource(),
    clockOverhead: clockOverhead(quick ? 1000 : 10000),
    cases: [],
    reference: [],
    skipped: [],
    checks: [],
  };
  const check = (name: string, ok: boolean, detail: string) => report.checks.push({ name, ok, detail });

  const backings: FaultBacking[] = ['4K'];
  const thp = thpSettings().enabled ?? null;
  if (thp === null || thp === 'never') report.skipped.push({ name: 'THP', reason: `transparent_hugepage/enabled is ${thp ?? 'missing'}` });
  else backings.push('thp');

  const hugePages = sizes['hugetlb-2M'] / (2 << 20);
  let pool: HugeReservation | null = null;
  try {
    pool = reserveHugePages('2M', hugePages);
    backings.push('hugetlb-2M');
  } catch (e) {
    report.skipped.push({ name: 'hugetlb 2M', reason: `cannot reserve ${hugePages} pages: ${(e as Error).message}` });
  }

  try {
    for (const b of backings) {
      const length = sizes[b];
      const page = backingPageSize(b);
      const label = b === '4K' ? '4K' : b === 'thp' ? 'THP' : 'hugetlb 2M';
      const spec = { ...backingSpec(b, length), stride: page, repetitions: reps };

      progress(`${label} write`);
      const w = runFaults({ ...spec, keepLast: b === 'thp' });
      let extra: Partial<HostFaultCase> = {};
      if (b === 'thp' && w.keptAddress !== null) {
        const kb = smapsFor({ address: w.keptAddress, length }).reduce((a, v) => a + (v.kB.AnonHugePages ?? 0), 0);
        native.munmap(w.keptAddress, length);
        extra = { anonHugePagesKb: kb };
        check('THP write faults were PMD-mapped', kb === length / 1024, `AnonHugePages ${kb} kB of ${length / 1024} kB (defrag ${thpSettings().defrag})`);
      }
      const expected = length / page;
      report.cases.push(toCase(`${label} write`, b, w, expected, keep, extra));
      check(`${label} write: one fault per page`, w.faults.min === expected && w.faults.max === expected, `faults per repetition ${w.faults.min}..${w.faults.max}, expected ${expected} (${w.faultSource.used})`);

      if (b !== 'hugetlb-2M') {
        progress(`${label} read`);
        const r = runFaults({ ...spec, access: 'read' });
        report.cases.push(toCase(`${label} read (zero page)`, b, r, expected, keep));
      }

      progress(`${label} MADV_POPULATE_WRITE`);
      const p = runFaults({ ...spec, method: 'populate-write' });
      const pages = length / page;
      report.cases.push(
        toCase(`${label} MADV_POPULATE_WRITE`, b, p, expected, keep, {
          perRegion: summarize(p.reps.map((x) => x.samples[0])),
          perPage: summarize(p.reps.map((x) => x.samples[0] / pages)),
        }),
      );

      progress(`${label} write vs C reference`);
      const cmp = await compareWithReference(spec, rounds);
      report.reference.push({ name: `${label} write`, comparison: cmp });
      const distinct = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(',');
      check(
        `${label} write: C reference counts the same faults`,
        cmp.faultsAgree,
        `${cmp.rounds.length} rounds x ${reps} repetitions; per repetition: mirrorlab ${distinct(cmp.rounds.flatMap((r) => r.faultsMirrorlab))}, C ${distinct(cmp.rounds.flatMap((r) => r.faultsReference))}`,
      );
    }
  } finally {
    pool?.release();
  }
  return report;
}
