// `mirrorlab uffd-roundtrip [--pages N] [--runs N] [--json]`
import { formatUffdRoundTrip, measureUffdRoundTrip } from './roundtrip.js';

export async function uffdRoundTripCommand(args: string[]): Promise<number> {
  let pages = 256;
  let warmRuns = 10;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--pages') pages = Number(args[++i]);
    else if (a === '--runs') warmRuns = Number(args[++i]);
    else {
      console.error(`usage: mirrorlab uffd-roundtrip [--pages N] [--runs N] [--json]\nunknown option: ${a}`);
      return 2;
    }
  }
  const r = await measureUffdRoundTrip({ pages, warmRuns });
  if (json) {
    const { coldSamples: _nc, warmSamples: _nw, ...nat } = r.native;
    const { coldSamples: _jc, warmSamples: _jw, ...js } = r.js;
    console.log(JSON.stringify({ ...r, native: nat, js }, null, 2));
  } else {
    console.log(formatUffdRoundTrip(r));
  }
  return 0;
}
