// mirrorlab faults [--json] [--samples] [--quick] [--rounds N] [--repetitions N]
import { hostFaults, type HostFaultReport } from '../bench/index.js';
import { ns, spreadCells, table } from './format.js';
import { parseCommand, UsageError, type CommandSpec } from './options.js';

export const faultsSpec = {
  name: 'faults',
  summary: 'Host page-fault cost: 4K, THP, hugetlb 2M (cold and warm), MADV_POPULATE_WRITE, and the plain C reference loop beside it.',
  options: {
    json: { type: 'boolean', help: 'print the report as JSON (schema mirrorlab-host-faults/1)' },
    samples: { type: 'boolean', help: 'with --json: keep every raw sample' },
    quick: { type: 'boolean', help: 'fewer rounds and smaller regions (seconds)' },
    rounds: { type: 'integer', min: 1, arg: 'N', help: 'rounds of mirrorlab and C reference loops' },
    repetitions: { type: 'integer', min: 2, arg: 'N', help: 'repetitions per round (the first is the cold one)' },
  },
} as const satisfies CommandSpec;

export async function faultsCommand(args: string[]): Promise<number> {
  const { values } = parseCommand(faultsSpec, args);
  if (values.samples && !values.json) throw new UsageError('faults', '--samples needs --json (the samples only go into the JSON report)');
  const { rounds, repetitions } = values;
  const tty = process.stderr.isTTY;
  const report = await hostFaults({
    quick: values.quick,
    rounds,
    repetitions,
    keepSamples: values.samples,
    progress: values.json ? undefined : (name) => process.stderr.write(tty ? `\r\x1b[K  measuring ${name}...` : `  measuring ${name}\n`),
  });
  if (tty && !values.json) process.stderr.write('\r\x1b[K');
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatHostFaults(report));
  return 0;
}

export function formatHostFaults(r: HostFaultReport): string {
  const out: string[] = [];
  out.push(`Host page-fault cost per touch (${r.clock}, clocksource ${r.clocksource ?? 'unknown'}; every sample includes one clock read: ${ns(r.clockOverhead.median)} median, ${ns(r.clockOverhead.min)}..${ns(r.clockOverhead.max)})`);
  out.push('');
  const rows: string[][] = [];
  for (const c of r.cases) {
    const faults = c.faults.min === c.faults.max ? String(c.faults.min) : `${c.faults.min}..${c.faults.max}`;
    const coldLabel = c.processFirst ? 'cold (rep 0, first in process)' : 'cold (rep 0)';
    if (c.perPage && c.perRegion) {
      rows.push([`${c.name}`, `per call (${c.length >> 20} MiB), all reps`, ...spreadCells(c.perRegion), `${faults}/${c.expectedFaults}`, c.faultSource.used]);
      rows.push(['', 'per page', ...spreadCells(c.perPage), '', '']);
      continue;
    }
    rows.push([c.name, coldLabel, ...spreadCells(c.cold), `${faults}/${c.expectedFaults}`, c.faultSource.used]);
    rows.push(['', `warm (reps 1..${c.repetitions - 1})`, ...spreadCells(c.warm), '', '']);
    rows.push(['', 'warm rep medians', ...spreadCells(c.warmMedians), '', '']);
  }
  out.push(table(['case', 'samples', 'n', 'min', 'median', 'p90', 'p99', 'max', 'faults/rep', 'counted by'], rows));
  if (r.reference.length) {
    out.push('');
    out.push('mirrorlab loop vs plain C loop (touch_ref), warm repetitions, rounds alternate which goes first:');
    const rr = r.reference.map(({ name, comparison: c }) => [
      name,
      ns(c.mirrorlab.median),
      ns(c.reference.median),
      c.ratio.toFixed(3),
      c.roundRatios.median.toFixed(3),
      `${c.roundRatios.min.toFixed(3)}..${c.roundRatios.max.toFixed(3)}`,
      String(c.roundRatios.n),
      c.faultsAgree ? 'yes' : 'NO',
    ]);
    out.push(table(['case', 'mirrorlab MoM', 'C MoM', 'MoM ratio', 'round ratio median', 'min..max', 'rounds', 'same faults'], rr));
    out.push('(MoM = median of all warm repetitions\' medians; ratios are mirrorlab / C; a round ratio compares one mirrorlab run with the C run beside it)');
    out.push('');
    out.push('Cold repetitions (rep 0 of each round; for the C loop the first touch of a fresh process): the median per touch of each round, spread over rounds:');
    const cr = r.reference.map(({ name, comparison: c }) => [name, ...spreadCells(c.mirrorlabCold), ...spreadCells(c.referenceCold).slice(1)]);
    out.push(table(['case', 'rounds', 'mirrorlab min', 'median', 'p90', 'p99', 'max', 'C min', 'median', 'p90', 'p99', 'max'], cr));
  }
  for (const s of r.skipped) out.push(`skipped ${s.name}: ${s.reason}`);
  out.push('');
  for (const c of r.checks) out.push(`${c.ok ? 'ok' : 'not ok'} - ${c.name} (${c.detail})`);
  return out.join('\n');
}
