// mirrorlab probe [--json]
import { formatProbe, probe } from '../probe/index.js';
import { parseCommand, type CommandSpec } from './options.js';

export const probeSpec = {
  name: 'probe',
  summary: 'What this kernel offers (config, THP, hugetlb, userfaultfd, pagemap, perf, modules, KVM, DRM), each with its source.',
  options: { json: { type: 'boolean', help: 'print the findings as JSON (schema mirrorlab-probe/2)' } },
} as const satisfies CommandSpec;

export function probeCommand(args: string[]): number {
  const { values } = parseCommand(probeSpec, args);
  const r = probe();
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else console.log(formatProbe(r));
  return 0;
}
