// mirrorlab lava: LAVA job definitions for kernel x suite (see job.ts, docs/lava.md).
//
//   mirrorlab lava --kernel K[,K] --suite S[,S] --out DIR [--base-url URL]
import { ArgumentError } from '../errors.js';
import { STANDALONE_SUITES, STANDALONE_SUITE_NAMES } from '../guest/standalone-suites.js';
import { kernelSeries, KNOWN_KERNELS, type KernelSeries } from '../vm/kernels.js';
import { writeLavaJobs } from './job.js';

export const LAVA_USAGE = `usage: mirrorlab lava --kernel K[,K] --suite S[,S] --out DIR [--base-url URL]
  writes one LAVA job per kernel x suite into DIR, the kernel and initramfs
  they deploy (DIR/artifacts/<kernel>/) and device-qemu.yaml for lava-run;
  artifact URLs are file:// paths unless --base-url names the lab's file server
  kernels: ${KNOWN_KERNELS}
  suites:  ${STANDALONE_SUITE_NAMES.join(', ')}`;

export interface LavaArgs {
  kernels: KernelSeries[];
  suites: string[];
  out: string;
  baseUrl?: string;
}

/** The options, or a usage error (ArgumentError) naming what is wrong. */
export function parseLavaArgs(argv: string[]): LavaArgs | 'help' {
  let kernels: KernelSeries[] = [];
  let suites: string[] = [];
  let out: string | undefined;
  let baseUrl: string | undefined;
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return 'help';
    const v = argv[i + 1];
    if (!['--kernel', '--suite', '--out', '--base-url'].includes(a)) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `unknown option ${a}`, a);
    if (v === undefined) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `${a} needs a value`, a);
    i++;
    if (a === '--kernel') kernels = list(v).map(kernelSeries);
    else if (a === '--suite') {
      suites = list(v);
      for (const s of suites) if (!STANDALONE_SUITES[s]) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `unknown suite ${JSON.stringify(s)} (suites: ${STANDALONE_SUITE_NAMES.join(', ')})`, a);
    } else if (a === '--out') out = v;
    else {
      if (!/^(https?|file|scp):\/\//.test(v)) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `--base-url ${JSON.stringify(v)}: an http(s)://, file:// or scp:// URL`, a);
      baseUrl = v;
    }
  }
  if (!kernels.length) throw new ArgumentError('ERR_INVALID_ARG_VALUE', '--kernel is required', '--kernel');
  if (!suites.length) throw new ArgumentError('ERR_INVALID_ARG_VALUE', '--suite is required', '--suite');
  if (!out) throw new ArgumentError('ERR_INVALID_ARG_VALUE', '--out is required', '--out');
  return { kernels, suites, out, baseUrl };
}

export function lavaCommand(argv: string[]): number {
  let args: LavaArgs | 'help';
  try {
    args = parseLavaArgs(argv);
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    console.error(`mirrorlab lava: ${e.message}\n${LAVA_USAGE}`);
    return 2;
  }
  if (args === 'help') {
    console.log(LAVA_USAGE);
    return 0;
  }
  const w = writeLavaJobs({ ...args, log: (m) => console.error(`mirrorlab lava: ${m}`) });
  for (const j of w.jobs) console.log(`job ${j.suite} on ${j.kernel}: ${j.file}`);
  for (const f of w.artifacts) console.log(`artifact: ${f}`);
  console.log(`device (lava-run --device): ${w.device}`);
  return 0;
}
