// Subcommands: each command lives in its own file with its CommandSpec
// (options, arguments, help text) beside it; this file finds the command,
// answers --help and --version, and turns a UsageError into exit status 2.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { UsageError, usageText, wantsHelp, type CommandSpec } from './options.js';

export const usage = `usage: mirrorlab <command> [options]
       mirrorlab <command> --help     the options of one command
       mirrorlab --version

commands:
  bench [--suite ID] [--kernel 6.1|6.12|7.2] [--size 4K|2M|1G] [--quick] [--out DIR] [--list]
        [--export junit,kcidb,csv,md] [--guest-clock icount|wall]
                            the main job: every benchmark suite this machine supports (host
                            natively, guests on 6.1, 6.12 and 7.2); writes results.json,
                            results.ktap and report.html, and the exports asked for
  compare A.json B.json [--threshold 0.05] [--format text|md|json]
                            what got faster or slower beyond the noise of both runs
                            (exit 1 when something got slower)
  validate FILE.json...     check results files against the schema (exit 1 when invalid)
  export --format junit|kcidb|csv|md RESULTS.json [--out FILE]
                            a results file as JUnit XML, KernelCI KCIDB JSON, CSV or Markdown
  probe [--json]            what this kernel offers (config, THP, hugetlb, userfaultfd,
                            pagemap, perf, modules, KVM, DRM), each with its source
  faults [--json [--samples]] [--quick] [--rounds N] [--repetitions N]
                            host page-fault cost: 4K, THP, hugetlb 2M (cold and warm),
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
  fuzz [--kernel K[,K]] [--target mirrordrm|fakevram|test_hmm|all] [--calls N] [--seed S]
       [--threads T] [--json] [--dry-run]
                            the ioctl fuzzer in guests: every ioctl of our modules and test_hmm,
                            deterministic by seed; exit 1 on any kernel report or leak
  kernel build --series S [--flavour test|debug] [--patches NAME] [--check] | kernel list
                            build a guest kernel of our own (test: GUP_TEST; debug: KASAN,
                            lockdep, DEBUG_VM, KCOV, kmemleak; a patch series on top); then
                            --kernel 7.2-test, 7.2-debug or 7.2-test+NAME everywhere
  lava --kernel K[,K] --suite S[,S] --out DIR [--base-url URL]
                            LAVA job definitions (kernel x suite) with the kernel,
                            initramfs and a qemu device file for lava-run (docs/lava.md)
  merge A.json B.json ... --out DIR [--name A.json=LABEL]...
                            several runs' results (results.json files, LAVA job
                            logs) in one results.json and report, each run's
                            suites labelled, ratios between runs
  repl                      a Node REPL with the library loaded as \`ml\`
  help                      this text

exit status: 0 success, 1 a failure (a check failed, something got slower, an invalid file),
2 a usage error (unknown option or value, bad number, missing input file).`;

interface Command {
  spec: CommandSpec;
  run(args: string[]): number | Promise<number>;
}

// Loaded on demand: bench pulls in every suite, vm the guest machinery.
const COMMANDS: Record<string, () => Promise<Command>> = {
  bench: async () => {
    const { benchSpec, benchCommand } = await import('../bench/cli.js');
    const { SUITES } = await import('../bench/suites.js');
    return { spec: benchSpec, run: (args) => benchCommand(args, SUITES) };
  },
  compare: async () => {
    const { compareSpec, compareCommand } = await import('../bench/cli.js');
    return { spec: compareSpec, run: compareCommand };
  },
  validate: async () => {
    const { validateSpec, validateCommand } = await import('../bench/cli.js');
    return { spec: validateSpec, run: validateCommand };
  },
  lava: async () => {
    const { lavaSpec, lavaCommand } = await import('../lava/cli.js');
    return { spec: lavaSpec, run: lavaCommand };
  },
  merge: async () => {
    const { mergeSpec, mergeCommand } = await import('../report/merge-command.js');
    return { spec: mergeSpec, run: mergeCommand };
  },
  export: async () => {
    const { exportSpec, exportCommand } = await import('../bench/cli.js');
    return { spec: exportSpec, run: exportCommand };
  },
  probe: async () => {
    const { probeSpec, probeCommand } = await import('./probe-command.js');
    return { spec: probeSpec, run: probeCommand };
  },
  faults: async () => {
    const { faultsSpec, faultsCommand } = await import('./faults-command.js');
    return { spec: faultsSpec, run: faultsCommand };
  },
  repl: async () => {
    const { replSpec, replCommand } = await import('./repl-command.js');
    return { spec: replSpec, run: replCommand };
  },
  vm: async () => {
    const { vmSpec, vmCommand } = await import('../vm/cli.js');
    return { spec: vmSpec, run: vmCommand };
  },
  selftests: async () => {
    const { selftestsSpec, selftestsCommand } = await import('../selftests/cli.js');
    return { spec: selftestsSpec, run: selftestsCommand };
  },
  fuzz: async () => {
    const { fuzzSpec, fuzzCommand } = await import('../fuzz/cli.js');
    return { spec: fuzzSpec, run: fuzzCommand };
  },
  kernel: async () => {
    const { kernelSpec, kernelCommand } = await import('../kernel-build/cli.js');
    return { spec: kernelSpec, run: kernelCommand };
  },
  'uffd-roundtrip': async () => {
    const { uffdRoundTripSpec, uffdRoundTripCommand } = await import('../userfaultfd/cli.js');
    return { spec: uffdRoundTripSpec, run: uffdRoundTripCommand };
  },
};

export const COMMAND_NAMES = Object.keys(COMMANDS);

/** The version in package.json, found from this file so it works from an installed package too. */
export function version(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Prints a usage error the same way for every command: the problem, then where to look. */
export function reportUsageError(e: UsageError): number {
  console.error(`mirrorlab ${e.command}: ${e.message}\nsee: mirrorlab ${e.command} --help`);
  return 2;
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case 'help':
    case '--help':
    case '-h':
      console.log(usage);
      return 0;
    case '--version':
    case '-V':
      console.log(version());
      return 0;
  }
  const load = cmd === undefined ? undefined : Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!load) {
    console.error(`${usage}\n\nunknown command: ${cmd ?? '(none)'}`);
    return 2;
  }
  const command = await load();
  if (wantsHelp(args)) {
    console.log(usageText(command.spec));
    return 0;
  }
  try {
    return await command.run(args);
  } catch (e) {
    if (e instanceof UsageError) return reportUsageError(e);
    throw e;
  }
}
