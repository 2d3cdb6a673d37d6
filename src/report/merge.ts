// `mirrorlab merge`: several runs (machines, or runs of one machine) in one
// results file. Each suite keeps its data and gains the label of the run it
// came from; `runs` keeps every run's machine and run information; and
// `machineComparisons` holds, for each pair of runs, the ratio of every
// measurement both ran (same suite, kernel, measurement id and parameters).
import { roundRatio } from '../measure/repeat.js';
import type { MachineComparison, Measurement, MergedRun, Results, SuiteResult } from './results.js';

export interface MergeInput {
  label: string;
  /** Where the run came from (its file), kept in `runs`. */
  source: string;
  results: Results;
}

const paramKey = (m: Measurement): string =>
  Object.entries(m.params)
    .sort(([x], [y]) => x.localeCompare(y))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

const suiteKey = (s: SuiteResult): string => `${s.id}@${s.kernel ?? 'host'}`;

/** Ratios a / b of every measurement two labelled runs share (warm medians, spread from round medians). */
export function machineComparisons(a: MergeInput, b: MergeInput): MachineComparison[] {
  const out: MachineComparison[] = [];
  for (const sa of a.results.suites) {
    const sb = b.results.suites.find((s) => suiteKey(s) === suiteKey(sa));
    if (!sb) continue;
    for (const ma of sa.measurements) {
      const mb = sb.measurements.find((m) => m.id === ma.id && paramKey(m) === paramKey(ma));
      if (!mb || mb.unit !== ma.unit || !(ma.warm.n > 0 && mb.warm.n > 0)) continue;
      out.push({
        suite: sa.id,
        kernel: sa.kernel,
        measurement: ma.id,
        params: ma.params,
        title: `${ma.title}: ${a.label} / ${b.label}`,
        unit: ma.unit,
        a: a.label,
        b: b.label,
        ratio: roundRatio(ma, mb),
      });
    }
  }
  return out;
}

export function mergeResults(inputs: MergeInput[], argv: string[] = []): Results {
  if (inputs.length < 2) throw new Error(`merge needs at least two runs, got ${inputs.length}`);
  const labels = new Set<string>();
  for (const i of inputs) {
    if (!/^[A-Za-z0-9._-]+$/.test(i.label)) throw new Error(`label ${JSON.stringify(i.label)} of ${i.source}: letters, digits, '.', '_' and '-' only`);
    if (labels.has(i.label)) throw new Error(`label ${i.label} given to two runs`);
    labels.add(i.label);
    if (i.results.version !== inputs[0].results.version) throw new Error(`${i.source}: results version ${i.results.version}, ${inputs[0].source} has ${inputs[0].results.version}`);
    if (i.results.runs) throw new Error(`${i.source} is already a merge of ${i.results.runs.map((r) => r.label).join(', ')}: merge the original runs`);
  }
  const runs: MergedRun[] = inputs.map((i) => ({ label: i.label, source: i.source, machine: i.results.machine, run: i.results.run }));
  const started = inputs.map((i) => i.results.run.startedAt).sort();
  const finished = inputs.map((i) => i.results.run.finishedAt);
  const comparisons: MachineComparison[] = [];
  for (let x = 0; x < inputs.length; x++) for (let y = x + 1; y < inputs.length; y++) comparisons.push(...machineComparisons(inputs[x], inputs[y]));
  return {
    schema: inputs[0].results.schema,
    version: inputs[0].results.version,
    run: {
      startedAt: started[0],
      finishedAt: finished.includes(null) ? null : (finished as string[]).sort().at(-1)!,
      complete: inputs.every((i) => i.results.run.complete),
      argv,
      quick: inputs.some((i) => i.results.run.quick),
      filters: {},
    },
    // The schema wants one machine at the top: the first run's. Every run's is in `runs`.
    machine: inputs[0].results.machine,
    suites: inputs.flatMap((i) => i.results.suites.map((s) => ({ ...s, label: i.label }))),
    kernelComparisons: inputs.flatMap((i) => i.results.kernelComparisons.map((k) => ({ ...k, label: i.label }))),
    runs,
    machineComparisons: comparisons,
  };
}
