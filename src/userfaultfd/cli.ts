// `mirrorlab uffd-roundtrip [--pages N] [--runs N] [--json]`
import { parseCommand, type CommandSpec } from '../cli/options.js';
import { formatUffdRoundTrip, measureUffdRoundTrip } from './roundtrip.js';

export const uffdRoundTripSpec = {
  name: 'uffd-roundtrip',
  summary: 'userfaultfd fault round trip: the native fault server against a JavaScript handler (poll and thread delivery).',
  options: {
    pages: { type: 'integer', min: 1, default: 256, arg: 'N', help: 'fresh pages touched per run' },
    runs: { type: 'integer', min: 1, default: 10, arg: 'N', help: 'warm runs after the cold one' },
    json: { type: 'boolean', help: 'print the result as JSON (without raw samples)' },
  },
} as const satisfies CommandSpec;

export async function uffdRoundTripCommand(args: string[]): Promise<number> {
  const { values } = parseCommand(uffdRoundTripSpec, args);
  const r = await measureUffdRoundTrip({ pages: values.pages, warmRuns: values.runs });
  if (values.json) {
    const { coldSamples: _nc, warmSamples: _nw, ...nat } = r.native;
    const { coldSamples: _jc, warmSamples: _jw, ...js } = r.js;
    const { coldSamples: _tc, warmSamples: _tw, ...jsThread } = r.jsThread;
    console.log(JSON.stringify({ ...r, native: nat, js, jsThread }, null, 2));
  } else {
    console.log(formatUffdRoundTrip(r));
  }
  return 0;
}
