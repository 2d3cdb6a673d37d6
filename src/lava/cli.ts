// mirrorlab lava: LAVA job definitions for kernel x suite (see job.ts, docs/lava.md).
//
//   mirrorlab lava --kernel K[,K] --suite S[,S] --out DIR [--base-url URL]
import { kernelProblem, outDirProblem } from '../cli/checks.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { STANDALONE_SUITE_NAMES } from '../guest/standalone-suites.js';
import { kernelSeries, KERNEL_SERIES, type KernelSeries } from '../vm/kernels.js';
import { writeLavaJobs } from './job.js';

export const lavaSpec = {
  name: 'lava',
  summary: 'Writes one LAVA job per kernel x suite into DIR, the kernel and initramfs they deploy (DIR/artifacts/<kernel>/) and device-qemu.yaml for lava-run.',
  options: {
    kernel: { type: 'string', list: true, check: kernelProblem, arg: KERNEL_SERIES.join('|'), help: 'kernel series (required); or a kernel we build: S-test, S-debug, S-test+NAME' },
    suite: { type: 'string', list: true, values: STANDALONE_SUITE_NAMES, arg: STANDALONE_SUITE_NAMES.join('|'), help: 'suites that run in the guest on their own (required)' },
    out: { type: 'string', arg: 'DIR', check: outDirProblem, help: 'where the jobs and artifacts go (required)' },
    'base-url': {
      type: 'string',
      arg: 'URL',
      check: (v) => (/^(https?|file|scp):\/\//.test(v) ? undefined : `--base-url ${JSON.stringify(v)}: an http(s)://, file:// or scp:// URL`),
      help: "the lab's file server for the artifacts (default: file:// paths)",
    },
  },
  notes: 'exit status: 0 written, 2 a usage error.',
} as const satisfies CommandSpec;

export interface LavaArgs {
  kernels: KernelSeries[];
  suites: string[];
  out: string;
  baseUrl?: string;
}

/** The options, or a UsageError naming what is wrong. */
export function parseLavaArgs(argv: string[]): LavaArgs {
  const { values } = parseCommand(lavaSpec, argv);
  const required = (what: string, ok: boolean) => {
    if (!ok) throw new UsageError('lava', `--${what} is required`);
  };
  required('kernel', values.kernel.length > 0);
  required('suite', values.suite.length > 0);
  required('out', values.out !== undefined);
  return { kernels: values.kernel.map(kernelSeries), suites: values.suite, out: values.out!, ...(values['base-url'] ? { baseUrl: values['base-url'] } : {}) };
}

export function lavaCommand(argv: string[]): number {
  const args = parseLavaArgs(argv);
  const w = writeLavaJobs({ ...args, log: (m) => console.error(`mirrorlab lava: ${m}`) });
  for (const j of w.jobs) console.log(`job ${j.suite} on ${j.kernel}: ${j.file}`);
  for (const f of w.artifacts) console.log(`artifact: ${f}`);
  console.log(`device (lava-run --device): ${w.device}`);
  return 0;
}
