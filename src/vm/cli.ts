// mirrorlab vm: boot a guest, run one command in it, return its exit status.
//
//   mirrorlab vm [--kernel SERIES] [--module NAME]... [--memory MiB] [--accel tcg|kvm|auto]
//                [--console] [--timeout SECONDS] -- <command> [args...]
//   mirrorlab vm [--kernel ...] --bench-boot N      boot-to-agent-ready time, N boots, with spread
import os from 'node:os';
import { summarize } from '../stats/summary.js';
import { VmCrashError, VmExitError, VmTimeoutError } from './crash.js';
import { ArgumentError } from '../errors.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, kernelSeries, type KernelSeries } from './kernels.js';
import { Vm, type VmOptions } from './vm.js';

const USAGE = `usage: mirrorlab vm [--kernel ${KERNEL_SERIES.join('|')}] [--module NAME]... [--memory MiB]
                    [--accel tcg|kvm|auto] [--console] [--timeout SECONDS] -- <command> [args...]
       mirrorlab vm [--kernel SERIES[,SERIES]] --bench-boot N`;

export async function vmCommand(argv: string[]): Promise<number> {
  // The newest default series unless --kernel names others (several only for --bench-boot).
  let kernels: KernelSeries[] = [DEFAULT_KERNELS[DEFAULT_KERNELS.length - 1]];
  const opts: VmOptions = { kernel: kernels[0], modules: [] };
  let bench = 0;
  let showConsole = false;
  let timeoutS: number | undefined;
  let i = 0;
  const value = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    switch (a) {
      case '--kernel':
        try {
          kernels = value(a).split(',').map(kernelSeries);
        } catch (e) {
          if (!(e instanceof ArgumentError)) throw e;
          console.error(`mirrorlab vm: ${e.message}\n${USAGE}`);
          return 2;
        }
        break;
      case '--module':
        opts.modules!.push(value(a));
        break;
      case '--memory':
        opts.memoryMiB = Number(value(a));
        break;
      case '--accel':
        opts.accel = value(a) as VmOptions['accel'];
        break;
      case '--console':
        showConsole = true;
        break;
      case '--timeout':
        timeoutS = Number(value(a));
        break;
      case '--bench-boot':
        bench = Number(value(a));
        break;
      case '-h':
      case '--help':
        console.log(USAGE);
        return 0;
      default:
        console.error(`mirrorlab vm: unknown option ${a}\n${USAGE}`);
        return 2;
    }
  }
  opts.onStatus = (m) => console.error(`mirrorlab vm: ${m}`);
  if (showConsole) opts.onConsole = (l) => console.error(`[guest] ${l}`);
  if (timeoutS !== undefined) opts.callTimeoutMs = timeoutS * 1000;

  if (bench > 0) return benchBoot(opts, kernels, bench);

  const cmd = argv.slice(i);
  if (cmd.length === 0) {
    console.error(USAGE);
    return 2;
  }
  if (kernels.length > 1) {
    console.error(`mirrorlab vm: a command runs on one kernel, not ${kernels.join(',')} (several are for --bench-boot)\n${USAGE}`);
    return 2;
  }
  opts.kernel = kernels[0];
  let vm: Vm | undefined;
  try {
    vm = await Vm.boot(opts);
    console.error(`mirrorlab vm: ${vm.release} ready in ${vm.bootMs} ms (${vm.accel})`);
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

async function benchBoot(base: VmOptions, kernels: KernelSeries[], n: number): Promise<number> {
  for (const kernel of kernels) {
    const samples: number[] = [];
    const phases: Record<'firmwareMs' | 'kernelMs' | 'agentMs', number[]> = { firmwareMs: [], kernelMs: [], agentMs: [] };
    let accel = '';
    for (let k = 0; k < n; k++) {
      const vm = await Vm.boot({ ...base, kernel });
      samples.push(vm.bootMs);
      for (const key of Object.keys(phases) as (keyof typeof phases)[]) phases[key].push(vm.bootPhases[key]);
      accel = vm.accel;
      await vm.close();
    }
    const s = summarize(samples);
    const f = (x: number): string => (x / 1000).toFixed(2);
    console.log(
      `boot-to-agent ${kernel} (${accel}, n=${s.n}): min ${f(s.min)} s  median ${f(s.median)} s  mean ${f(s.mean)} s  ` +
        `stddev ${f(s.stddev)} s  max ${f(s.max)} s  [${samples.map(f).join(' ')}]`,
    );
    const ph = (name: string, xs: number[]): string => {
      const q = summarize(xs);
      return `${name} median ${f(q.median)} s (min ${f(q.min)}, max ${f(q.max)})`;
    };
    console.log(
      `  ${ph('firmware+load', phases.firmwareMs)}; ${ph('kernel to /init', phases.kernelMs)}; ${ph('node agent', phases.agentMs)}`,
    );
    console.log(`  host load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  }
  return 0;
}
