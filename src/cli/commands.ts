// Subcommands: one case per command; each command lives in its own file.
import { faultsCommand } from './faults-command.js';
import { probeCommand } from './probe-command.js';
import { replCommand } from './repl-command.js';

export const usage = `usage: mirrorlab <command> [options]

commands:
  probe [--json]            what this kernel offers (config, THP, hugetlb, userfaultfd,
                            pagemap, perf, modules, KVM, DRM), each with its source
  faults [--json] [--quick] [--rounds N] [--repetitions N]
                            host page-fault cost: 4 KiB, THP, hugetlb 2M (cold and warm),
                            MADV_POPULATE_WRITE, and the plain C reference loop beside it
  repl                      a Node REPL with the library loaded as \`ml\`
  vm ...                    guest kernels under QEMU (see mirrorlab vm --help)
  help                      this text`;

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
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
