// mirrorlab probe [--json]
import { parseArgs } from 'node:util';
import { formatProbe, probe } from '../probe/index.js';

export function probeCommand(args: string[]): number {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
  const r = probe();
  if (values.json) console.log(JSON.stringify(r, null, 2));
  else console.log(formatProbe(r));
  return 0;
}
