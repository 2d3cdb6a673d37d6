// mirrorlab faults [--json] [--quick] [--rounds N] [--repetitions N]
import { parseArgs } from 'node:util';
import { hostFaults, type HostFaultReport } from '../bench/index.js';
import { ns, spreadCells, table } from './format.js';

export async function faultsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: 'boolean' },
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      repetitions: { type: 'string' },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw Object.assign(new Error(`--${name} must be an integer >= ${min}`), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
    return n;
  };
  const rounds = int('rounds', values.rounds, 1);
  const repetitions = int('repetitions', values.repetitions, 2);
  const tty = process.stderr.isTTY;
  const report = await hostFaults({
    quick: values.quick,
    rounds,
    repetitions,
    progress: values.json ? undefined : (name) => process.stderr.write(tty ? `\r\x1b[K  measuring ${name}...` : `  measuring ${name}\n`),
  });
  if (tty && !values.json) process.stderr.write('\r\x1b[K');
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatHostFaults(report));
  return 0;
}

export function formatHostFaults(r: HostFaultReport): string {
  const out: string[] = [];
  out.push(`Host page-fault cost per touch (${r.clock}; every sample includes one clock read: ${ns(r.clockOverhead.median)} median, ${ns(r.clockOverhead.min)}..${ns(r.clockOverhead.max)})`);
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
  }
  for (const s of r.skipped) out.push(`skipped ${s.name}: ${s.reason}`);
  out.push('');
  for (const c of r.checks) out.push(`${c.ok ? 'ok' : 'not ok'} - ${c.name} (${c.detail})`);
  return out.join('\n');
}
