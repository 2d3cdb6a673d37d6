// mirrorlab vm: boot a guest, run one command in it, return its exit status.
//
//   mirrorlab vm [--kernel 6.1|6.12] [--module NAME]... [--memory MiB] [--accel tcg|kvm|auto]
//                [--console] [--timeout SECONDS] -- <command> [args...]
//   mirrorlab vm [--kernel ...] --bench-boot N      boot-to-agent-ready time, N boots, with spread
import { summarize } from '../stats/summary.js';
import { VmCrashError, VmExitError, VmTimeoutError } from './crash.js';
import { KERNEL_SERIES } from './kernels.js';
import { Vm, type VmOptions } from './vm.js';

const USAGE = `usage: mirrorlab vm [--kernel ${KERNEL_SERIES.join('|')}] [--module NAME]... [--memory MiB]
                    [--accel tcg|kvm|auto] [--console] [--timeout SECONDS] -- <command> [args...]
       mirrorlab vm [--kernel SERIES[,SERIES]] --bench-boot N`;

export async function vmCommand(argv: string[]): Promise<number> {
  const opts: VmOptions = { kernel: '6.12', modules: [] };
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
        opts.kernel = value(a);
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

  if (bench > 0) return benchBoot(opts, bench);

  const cmd = argv.slice(i);
  if (cmd.length === 0) {
    console.error(USAGE);
    return 2;
  }
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

async function benchBoot(base: VmOptions, n: number): Promise<number> {
  for (const kernel of base.kernel.split(',')) {
    const samples: number[] = [];
    let accel = '';
    for (let k = 0; k < n; k++) {
      const vm = await Vm.boot({ ...base, kernel });
      samples.push(vm.bootMs);
      accel = vm.accel;
      await vm.close();
    }
    const s = summarize(samples);
    const f = (x: number): string => (x / 1000).toFixed(2);
    console.log(
      `boot-to-agent ${kernel} (${accel}, n=${s.n}): min ${f(s.min)} s  median ${f(s.median)} s  mean ${f(s.mean)} s  ` +
        `stddev ${f(s.stddev)} s  max ${f(s.max)} s  [${samples.map(f).join(' ')}]`,
    );
  }
  return 0;
}
