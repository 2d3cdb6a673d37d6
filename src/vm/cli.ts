// mirrorlab vm: boot a guest, run one command in it, return its exit status.
//
//   mirrorlab vm [--kernel SERIES] [--module NAME]... [--memory MiB] [--accel tcg|kvm|auto]
//                [--console] [--timeout SECONDS] -- <command> [args...]
//   mirrorlab vm [--kernel ...] --bench-boot N      boot-to-agent-ready time, N cold boots and N restores, with spread
import os from 'node:os';
import { guestClockOption, guestClockProblem, kernelProblem } from '../cli/checks.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { summarize } from '../stats/summary.js';
import { VmCrashError, VmExitError, VmTimeoutError } from './crash.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, kernelSeries, type KernelSeries } from './kernels.js';
import { Vm, type GuestClock, type VmOptions } from './vm.js';

export const vmSpec = {
  name: 'vm',
  summary: 'Boots a Debian guest kernel in QEMU, loads our modules, runs the command after -- and exits with its status (125: the guest failed).',
  passthrough: 'COMMAND [ARGS...]',
  options: {
    kernel: { type: 'string', list: true, check: kernelProblem, arg: KERNEL_SERIES.join('|'), help: `guest kernel series (default ${DEFAULT_KERNELS[DEFAULT_KERNELS.length - 1]}; several only with --bench-boot); or a kernel we build: S-test, S-debug, S-test+NAME` },
    module: { type: 'string', multiple: true, arg: 'NAME', help: 'load this module of ours in the guest' },
    memory: { type: 'integer', min: 2048, arg: 'MiB', help: 'guest memory' },
    accel: { type: 'string', values: ['tcg', 'kvm', 'auto'], arg: 'A', help: 'QEMU accelerator' },
    'guest-clock': guestClockOption('default wall; icount needs TCG (auto then picks it)'),
    console: { type: 'boolean', help: 'print the guest console on stderr' },
    timeout: { type: 'number', min: 0, minExclusive: true, arg: 'SECONDS', help: 'limit for the command in the guest' },
    'bench-boot': { type: 'integer', min: 1, arg: 'N', help: 'instead of a command: N cold boots and N restores from a snapshot per kernel; time to agent ready with its spread' },
    'no-snapshot': { type: 'boolean', help: 'cold boot, not from a saved guest state (as MIRRORLAB_SNAPSHOT=0)' },
  },
} as const satisfies CommandSpec;

export async function vmCommand(argv: string[]): Promise<number> {
  const { values, passthrough: cmd } = parseCommand(vmSpec, argv);
  // The newest default series unless --kernel names others (several only for --bench-boot).
  const kernels: KernelSeries[] = values.kernel.length ? values.kernel.map(kernelSeries) : [DEFAULT_KERNELS[DEFAULT_KERNELS.length - 1]];
  const opts: VmOptions = { kernel: kernels[0], modules: values.module };
  if (values.memory !== undefined) opts.memoryMiB = values.memory;
  if (values.accel !== undefined) opts.accel = values.accel as VmOptions['accel'];
  if (values['no-snapshot']) opts.snapshot = false;
  if (values['guest-clock'] !== undefined) opts.clock = values['guest-clock'] as GuestClock;
  // Refused before anything boots: an exit status 2, not a failed guest.
  const clockProblem = guestClockProblem(opts.clock, values.accel ?? process.env.MIRRORLAB_ACCEL);
  if (clockProblem) throw new UsageError('vm', clockProblem);
  const showConsole = values.console;
  const timeoutS = values.timeout;
  const bench = values['bench-boot'] ?? 0;
  if (bench > 0 && cmd.length) throw new UsageError('vm', '--bench-boot boots and measures; it takes no command after --');
  opts.onStatus = (m) => console.error(`mirrorlab vm: ${m}`);
  if (showConsole) opts.onConsole = (l) => console.error(`[guest] ${l}`);
  if (timeoutS !== undefined) opts.callTimeoutMs = timeoutS * 1000;

  if (bench > 0) return benchBoot(opts, kernels, bench);

  if (cmd.length === 0) throw new UsageError('vm', 'no command to run: mirrorlab vm [options] -- COMMAND [ARGS...]');
  if (kernels.length > 1) throw new UsageError('vm', `a command runs on one kernel, not ${kernels.join(',')} (several are for --bench-boot)`);
  opts.kernel = kernels[0];
  let vm: Vm | undefined;
  try {
    vm = await Vm.boot(opts);
    console.error(`mirrorlab vm: ${vm.release} ready: ${vm.startNote} (${vm.accel}, ${vm.clock} clock)`);
    const r = await vm.exec(cmd[0], cmd.slice(1));
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    await vm.close(r.status);
    return r.status;
  } catch (e) {
    if (e instanceof VmCrashError || e instanceof VmTimeoutError || e instanceof VmExitError) {
      console.error(`mirrorlab vm: ${e.message}`);
      await vm?.kill();
      return 125;
    }
    await vm?.kill();
    throw e;
  }
}

/**
 * Time to a ready agent, cold boot against restore, per kernel: n cold boots
 * (snapshots off), then one guest that makes sure a snapshot exists, then n
 * restores from it. The samples and their spread are printed; nothing is
 * asserted about them.
 */
async function benchBoot(base: VmOptions, kernels: KernelSeries[], n: number): Promise<number> {
  const f = (x: number): string => (x / 1000).toFixed(2);
  const line = (what: string, accel: string, xs: number[]): string => {
    const s = summarize(xs);
    return `${what} (${accel}, n=${s.n}): min ${f(s.min)} s  median ${f(s.median)} s  p99 ${f(s.p99)} s  max ${f(s.max)} s  [${xs.map(f).join(' ')}]`;
  };
  for (const kernel of kernels) {
    const cold: number[] = [];
    const phases: Record<'firmwareMs' | 'kernelMs' | 'agentMs', number[]> = { firmwareMs: [], kernelMs: [], agentMs: [] };
    let accel = '';
    let clock = '';
    for (let k = 0; k < n; k++) {
      const vm = await Vm.boot({ ...base, kernel, snapshot: false });
      cold.push(vm.bootMs);
      for (const key of Object.keys(phases) as (keyof typeof phases)[]) phases[key].push(vm.bootPhases[key]);
      accel = vm.accel;
      clock = vm.clock;
      await vm.close();
    }
    console.log(line(`cold boot to agent ${kernel}`, `${accel}, ${clock} clock`, cold));
    const ph = (name: string, xs: number[]): string => {
      const q = summarize(xs);
      return `${name} median ${f(q.median)} s (min ${f(q.min)}, max ${f(q.max)})`;
    };
    console.log(
      `  ${ph('firmware+load', phases.firmwareMs)}; ${ph('kernel to /init', phases.kernelMs)}; ${ph('node agent', phases.agentMs)}`,
    );
    if (base.snapshot !== false) {
      // The first guest may have to make the snapshot: not a sample.
      const first = await Vm.boot({ ...base, kernel });
      await first.close();
      if (!first.restored) {
        console.log(`restore ${kernel}: not measured: ${first.startNote}`);
      } else {
        const restored: number[] = [];
        for (let k = 0; k < n; k++) {
          const vm = await Vm.boot({ ...base, kernel });
          if (!vm.restored) {
            await vm.close();
            throw new Error(`restore ${kernel}: sample ${k + 1} was not restored: ${vm.startNote}`);
          }
          restored.push(vm.bootMs);
          await vm.close();
        }
        console.log(line(`restore to agent ${kernel}`, first.accel, restored));
        const ratio = summarize(cold).median / summarize(restored).median;
        console.log(`  snapshot ${first.snapshotKey?.slice(0, 12)}; median cold / median restored ${ratio.toFixed(1)}x`);
      }
    }
    console.log(`  host load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  }
  return 0;
}
