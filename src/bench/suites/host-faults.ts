// host-faults: mirrorlab's native fault loop against the plain C reference
// loop (touch_ref, a small process without Node) on the same mapping spec,
// for 4 KiB, THP and hugetlb 2 MiB write faults: the harness overhead.
//
// Each round runs both loops, alternating which goes first, each over
// `repetitions` fresh mappings; repetition 0 of a loop is its cold one (for
// touch_ref, the first touch of a new process). The suite's cold figure is
// repetition 0 of round 0; warm figures pool repetitions 1.. of the measured
// rounds, which repeat until the ratio of the two loops' round medians
// settles. Fault counts of both loops are checked against one per page, and
// the THP runs of mirrorlab's loop against the page state (PMD-mapped).
import { native } from '../../addon.js';
import { backingPageSize, backingSpec, runFaults, runReference, referencePath, type FaultBacking, type FaultRunOptions, type FaultRunResult } from '../../faults/index.js';
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import { reserveHugePages, thpSettings, type HugeReservation } from '../../memory/index.js';
import { pageSummary } from '../../pagestate/index.js';
import type { ParamValue } from '../../report/results.js';
import { summarize } from '../../stats/summary.js';
import type { Suite, SuiteContext } from '../suite.js';
import { errorMessage, repeatPaired, sizeWanted, type SizeName } from './common.js';
import { existsSync } from 'node:fs';

const MiB = 1 << 20;

interface Backing {
  backing: FaultBacking;
  label: string;
  size: SizeName;
  quickLength: number;
  length: number;
}

export const HOST_FAULT_BACKINGS: readonly Backing[] = [
  { backing: '4K', label: '4 KiB', size: '4K', quickLength: 1 * MiB, length: 16 * MiB },
  { backing: 'thp', label: 'THP', size: '2M', quickLength: 8 * MiB, length: 64 * MiB },
  { backing: 'hugetlb-2M', label: 'hugetlb 2 MiB', size: '2M', quickLength: 8 * MiB, length: 32 * MiB },
];

const REPETITIONS = { quick: 3, full: 5 };

interface RoundInfo {
  mlFaults: number[];
  refFaults: number[];
  /** THP only: bytes PMD-mapped in mirrorlab's last repetition. */
  pmdMappedBytes?: number;
}

const warmSamples = (r: FaultRunResult): number[] => r.reps.slice(1).flatMap((x) => Array.from(x.samples));
const distinct = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(', ');

async function measure(ctx: SuiteContext, b: Backing): Promise<void> {
  const length = ctx.quick ? b.quickLength : b.length;
  const page = backingPageSize(b.backing);
  const repetitions = ctx.quick ? REPETITIONS.quick : REPETITIONS.full;
  const spec: FaultRunOptions = { ...backingSpec(b.backing, length), stride: page, repetitions };
  const isThp = b.backing === 'thp';

  const paired = await repeatPaired<RoundInfo>(async (i) => {
    let ml: FaultRunResult;
    let ref: FaultRunResult;
    const mirrorlab = () => runFaults({ ...spec, keepLast: isThp });
    if (i % 2 === 0) {
      ml = mirrorlab();
      ref = await runReference(spec);
    } else {
      ref = await runReference(spec);
      ml = mirrorlab();
    }
    const info: RoundInfo = { mlFaults: ml.reps.map((r) => r.faults), refFaults: ref.reps.map((r) => r.faults) };
    if (ml.keptAddress !== null) {
      try {
        info.pmdMappedBytes = pageSummary({ address: ml.keptAddress, length }).pmdMappedBytes ?? -1;
      } finally {
        native.munmap(ml.keptAddress, length);
      }
    }
    return {
      a: { cold: ml.reps[0].samples, warm: warmSamples(ml) },
      b: { cold: ref.reps[0].samples, warm: warmSamples(ref) },
      info,
    };
  }, ctx.repeat);

  const expected = length / page;
  const ml = paired.infos.flatMap((x) => x.mlFaults);
  const ref = paired.infos.flatMap((x) => x.refFaults);
  ctx.check({
    name: `${b.label} write: ${expected} faults per repetition in both loops`,
    status: ml.every((f) => f === expected) && ref.every((f) => f === expected) ? 'pass' : 'fail',
    reason: `${paired.infos.length} rounds x ${repetitions} repetitions; mirrorlab ${distinct(ml)}, C reference ${distinct(ref)}`,
  });
  const params: Record<string, ParamValue> = {
    backing: b.backing,
    pageSize: page,
    length,
    touchesPerRepetition: expected,
    repetitionsPerRound: repetitions,
    expectedFaults: expected,
  };
  // What the rounds saw, apart from what was measured (compare ignores these).
  const observed: Record<string, ParamValue> = { faultsMedian: summarize(ml).median };
  if (isThp) {
    const pmd = paired.infos.map((x) => x.pmdMappedBytes ?? -1);
    const ok = pmd.every((v) => v === length);
    ctx.check({
      name: 'THP write: mirrorlab loop pages PMD-mapped (PAGEMAP_SCAN) in every round',
      status: ok ? 'pass' : 'fail',
      reason: `PMD-mapped bytes of the last repetition per round: ${distinct(pmd)} of ${length} (defrag ${thpSettings().defrag}); the C loop's page state is not visible from here`,
    });
    observed.pmdMapped = ok;
  }
  const mlM = toMeasurement(
    { id: `fault/${b.backing}/mirrorlab`, title: `${b.label} write fault, mirrorlab native loop: ns per touch`, unit: 'ns', params: { ...params, loop: 'mirrorlab' }, observed },
    paired.a,
  );
  const refM = toMeasurement(
    { id: `fault/${b.backing}/c-reference`, title: `${b.label} write fault, C reference loop (touch_ref): ns per touch`, unit: 'ns', params: { ...params, loop: 'touch_ref' }, observed: { faultsMedian: summarize(ref).median } },
    paired.b,
  );
  ctx.measurement(mlM);
  ctx.measurement(refM);
  ctx.plot({ kind: 'histogram', title: `${b.label} write fault latency, mirrorlab loop`, measurement: mlM.id });
  ctx.plot({ kind: 'histogram', title: `${b.label} write fault latency, C reference loop`, measurement: refM.id });
  const ratio = roundRatio(mlM, refM);
  ctx.comparison({
    id: `overhead/${b.backing}`,
    title: `${b.label} write fault: mirrorlab loop / C reference loop (harness overhead)`,
    a: mlM.id,
    b: refM.id,
    ratio,
    target: { op: '<=', value: 1.05, met: ratio.median <= 1.05 },
  });
}

function wanted(ctx: Pick<SuiteContext, 'sizes'>): Backing[] {
  return HOST_FAULT_BACKINGS.filter((b) => sizeWanted(ctx, b.size));
}

export const hostFaultsSuite: Suite = {
  id: 'host/faults',
  title: 'Host write faults: mirrorlab native loop against the plain C reference loop (4 KiB, THP, hugetlb 2 MiB)',
  environment: 'host',
  async unsupported() {
    if (process.platform !== 'linux') return `Linux only (this is ${process.platform})`;
    if (!existsSync(referencePath)) return `the C reference loop is not built (${referencePath}); run npm run build:native`;
    return null;
  },
  steps: (ctx) => wanted(ctx).length,
  async run(ctx) {
    const list = wanted(ctx);
    if (!list.length) {
      ctx.check({ name: 'host-faults', status: 'skip', reason: `no case for --size ${ctx.sizes.join(',')} (cases: 4K, 2M)` });
      return;
    }
    for (const b of list) {
      if (ctx.signal.aborted) return;
      let pool: HugeReservation | null = null;
      if (b.backing === 'thp') {
        const thp = thpSettings().enabled;
        if (!thp || thp === 'never') {
          ctx.check({ name: `${b.label} write`, status: 'skip', reason: `transparent_hugepage/enabled is ${thp ?? 'missing'}` });
          ctx.step(`${b.label} skipped`);
          continue;
        }
      }
      if (b.backing === 'hugetlb-2M') {
        const count = (ctx.quick ? b.quickLength : b.length) / (2 * MiB);
        try {
          pool = reserveHugePages('2M', count);
        } catch (e) {
          ctx.check({ name: `${b.label} write`, status: 'skip', reason: `cannot reserve ${count} hugetlb 2M pages: ${errorMessage(e)}` });
          ctx.step(`${b.label} skipped`);
          continue;
        }
      }
      try {
        await measure(ctx, b);
      } catch (e) {
        ctx.check({ name: `${b.label} write: measured`, status: 'fail', reason: errorMessage(e) });
      } finally {
        pool?.release();
      }
      ctx.step(b.label);
    }
  },
};
