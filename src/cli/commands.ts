// Subcommands: one case per command; each command lives in its own file.
import { faultsCommand } from './faults-command.js';
import { probeCommand } from './probe-command.js';
import { replCommand } from './repl-command.js';

export const usage = `usage: mirrorlab <command> [options]

commands:
  bench [--suite ID] [--kernel 6.1|6.12|7.2] [--size 4K|2M|1G] [--quick] [--out DIR] [--list]
                            the main job: every benchmark suite this machine supports (host
                            natively, guests on 6.1, 6.12 and 7.2); writes results.json,
                            results.ktap and report.html
  compare A.json B.json [--threshold 0.05]
                            what got faster or slower beyond the noise of both runs
                            (exit 1 when something got slower)
  validate FILE.json        check a results file against the schema (exit 1 when invalid)
  probe [--json]            what this kernel offers (config, THP, hugetlb, userfaultfd,
                            pagemap, perf, modules, KVM, DRM), each with its source
  faults [--json [--samples]] [--quick] [--rounds N] [--repetitions N]
                            host page-fault cost: 4 KiB, THP, hugetlb 2M (cold and warm),
                            MADV_POPULATE_WRITE, and the plain C reference loop beside it
  uffd-roundtrip [--pages N] [--runs N] [--json]
                            userfaultfd fault round trip: native fault server vs JavaScript
  vm [--kernel 6.1|6.12|7.2] [--module NAME]... -- <command> [args...]
                            boot a Debian guest kernel in QEMU, load our modules, run a
                            command and return its exit status (--bench-boot N: boot time)
  selftests [--kernel K[,K]] [--suite NAME]... [--repeat N] [--json] [--write-baseline] [--list]
                            the kernel's own mm/HMM selftests (hmm-tests, cow, gup_longterm,
                            uffd-unit-tests, ...) in guests of each kernel, compared with the
                            checked-in baselines (exit 1 on any difference)
  lava --kernel K[,K] --suite S[,S] --out DIR [--base-url URL]
                            LAVA job definitions (kernel x suite) with the kernel,
                            initramfs and a qemu device file for lava-run (docs/lava.md)
  merge A.json B.json ... --out DIR [--name A.json=LABEL]...
                            several runs' results (or LAVA job logs) in one results.json
                            and report, each run's suites labelled, ratios between runs
  repl                      a Node REPL with the library loaded as \`ml\`
  help                      this text`;

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
      case 'bench': {
        const { benchCommand } = await import('../bench/cli.js');
        const { SUITES } = await import('../bench/suites.js');
        return await benchCommand(args, SUITES);
      }
      case 'compare': {
        const { compareCommand } = await import('../bench/cli.js');
        return compareCommand(args);
      }
      case 'validate': {
        const { validateCommand } = await import('../bench/cli.js');
        return validateCommand(args);
      }
      case 'probe':
        return probeCommand(args);
      case 'faults':
        return await faultsCommand(args);
      case 'repl':
        return await replCommand(args);
      case 'vm': {
        const { vmCommand } = await import('../vm/cli.js');
        return await vmCommand(args);
      }
      case 'selftests': {
        const { selftestsCommand } = await import('../selftests/cli.js');
        return await selftestsCommand(args);
      }
      case 'uffd-roundtrip': {
        const { uffdRoundTripCommand } = await import('../userfaultfd/cli.js');
        return await uffdRoundTripCommand(args);
      }
      case 'lava': {
        const { lavaCommand } = await import('../lava/cli.js');
        return lavaCommand(args);
      }
      case 'merge': {
        const { mergeCommand } = await import('../report/merge-command.js');
        return mergeCommand(args);
      }
      case 'help':
      case '--help':
      case '-h':
        console.log(usage);
        return 0;
      default:
        console.error(`${usage}\n\nunknown command: ${cmd ?? '(none)'}`);
        return 2;
    }
  } catch (e) {
    // Bad options (node:util parseArgs) are usage errors: exit 2.
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      console.error(`mirrorlab ${cmd}: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}
