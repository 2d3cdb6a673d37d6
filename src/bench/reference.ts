// mirrorlab's native fault loop against the plain C reference loop
// (touch_ref), in one process run: rounds alternate which one goes first, and
// each round compares the median of the per-repetition medians (warm
// repetitions only). The result is a ratio with its spread over rounds.
import { runFaults, runReference, type FaultRunOptions, type FaultRunResult } from '../faults/index.js';
import { summarize, type Summary } from '../stats/index.js';
import { outOfRange } from '../errors.js';

export interface ReferenceRound {
  order: 'mirrorlab-first' | 'reference-first';
  /** Median of the warm repetitions' medians, ns per touch. */
  mirrorlab: number;
  reference: number;
  ratio: number;
  faultsMirrorlab: number[];
  faultsReference: number[];
}

export interface ReferenceComparison {
  spec: FaultRunOptions;
  rounds: ReferenceRound[];
  /** Every warm repetition's median across all rounds (ns per touch). */
  mirrorlab: Summary;
  reference: Summary;
  /** Cold (repetition 0) medians across rounds. */
  mirrorlabCold: Summary;
  referenceCold: Summary;
  /** mirrorlab.median / reference.median: the median of medians ratio. */
  ratio: number;
  /** The per-round ratios: their spread is the ratio's spread. */
  roundRatios: Summary;
  /** Fault counts agree between the two loops in every repetition. */
  faultsAgree: boolean;
}

export async function compareWithReference(spec: FaultRunOptions, rounds = 5): Promise<ReferenceComparison> {
  if (!Number.isInteger(rounds) || rounds < 1) throw outOfRange('rounds', rounds, 'an integer >= 1');
  const repetitions = spec.repetitions ?? 5;
  if (repetitions < 2) throw outOfRange('spec.repetitions', repetitions, '>= 2 (repetition 0 is the cold one)');
  const out: ReferenceRound[] = [];
  const mlMedians: number[] = [];
  const refMedians: number[] = [];
  const mlCold: number[] = [];
  const refCold: number[] = [];
  let agree = true;
  for (let i = 0; i < rounds; i++) {
    let ml: FaultRunResult, ref: FaultRunResult;
    const order = i % 2 === 0 ? 'mirrorlab-first' : 'reference-first';
    if (order === 'mirrorlab-first') {
      ml = runFaults(spec);
      ref = await runReference(spec);
    } else {
      ref = await runReference(spec);
      ml = runFaults(spec);
    }
    const mlReps = ml.reps.slice(1).map((r) => summarize(r.samples).median);
    const refReps = ref.reps.slice(1).map((r) => summarize(r.samples).median);
    mlMedians.push(...mlReps);
    refMedians.push(...refReps);
    mlCold.push(ml.cold.median);
    refCold.push(ref.cold.median);
    const fm = ml.reps.map((r) => r.faults);
    const fr = ref.reps.map((r) => r.faults);
    if (fm.join() !== fr.join()) agree = false;
    out.push({ order, mirrorlab: ml.warmMedians.median, reference: ref.warmMedians.median, ratio: ml.warmMedians.median / ref.warmMedians.median, faultsMirrorlab: fm, faultsReference: fr });
  }
  const mirrorlab = summarize(mlMedians);
  const reference = summarize(refMedians);
  return {
    spec,
    rounds: out,
    mirrorlab,
    reference,
    mirrorlabCold: summarize(mlCold),
    referenceCold: summarize(refCold),
    ratio: mirrorlab.median / reference.median,
    roundRatios: summarize(out.map((r) => r.ratio)),
    faultsAgree: agree,
  };
}
