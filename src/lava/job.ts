// LAVA job definitions for the standalone suites (src/guest/standalone-suites.ts):
// one job per kernel x suite, deploying the kernel and our initramfs to tmpfs,
// booting them with LAVA's qemu method (a shell on the console with
// mirrorlab.shell=1) and running the suite in the guest from an inline test
// definition. Also the device configuration lava-run needs for a qemu device
// on this machine (what lava-server renders from its qemu device type).
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { STANDALONE_SUITES } from '../guest/standalone-suites.js';
import { ensureInitramfs, INIT_START_MESSAGE, SHELL_PROMPT } from '../vm/initramfs.js';
import { kernelInfo, type KernelSeries } from '../vm/kernels.js';
import { BASE_CMDLINE, kernelCmdline, TCG_CPU_MODEL } from '../vm/vm.js';
import { toYaml, type YamlValue } from './yaml.js';

/** Guest memory in the jobs, MiB: the standalone suites need no NUMA split or reserved range. */
export const LAVA_MEMORY_MIB = 2048;

export interface LavaJobOptions {
  kernel: KernelSeries;
  suite: string;
  /** URL of the kernel image and of the initramfs, as the dispatcher fetches them. */
  kernelUrl: string;
  ramdiskUrl: string;
  /** Kernel release, for the job name. */
  release: string;
}

/** The job's kernel command line: the runner's base words, then the shell and the suite's modules. */
export function lavaCmdline(suite: string, kernel?: KernelSeries): string {
  const s = STANDALONE_SUITES[suite];
  return [...BASE_CMDLINE, ...(kernel ? kernelCmdline(kernel) : []), 'mirrorlab.shell=1', ...(s.modules.length ? [`mirrorlab.modules=${s.modules.join(',')}`] : [])].join(' ');
}

export function lavaJob(o: LavaJobOptions): YamlValue {
  const suite = STANDALONE_SUITES[o.suite];
  if (!suite) throw new Error(`unknown suite ${JSON.stringify(o.suite)}`);
  const name = `mirrorlab-${o.suite}`;
  return {
    device_type: 'qemu',
    job_name: `mirrorlab ${o.suite} on ${o.kernel} (${o.release})`,
    timeouts: { job: { minutes: 30 }, action: { minutes: 10 }, connection: { minutes: 2 } },
    priority: 'medium',
    visibility: 'public',
    // lava-server's qemu device type picks its QEMU binary by arch and its -m by memory.
    context: { arch: 'x86_64', memory: LAVA_MEMORY_MIB },
    metadata: { 'mirrorlab.kernel': o.kernel, 'mirrorlab.release': o.release, 'mirrorlab.suite': o.suite },
    actions: [
      {
        deploy: {
          timeout: { minutes: 5 },
          to: 'tmpfs',
          images: {
            kernel: { image_arg: `-kernel {kernel} -append "${lavaCmdline(o.suite, o.kernel)}"`, url: o.kernelUrl },
            // cpio.newc with the lava overlay: LAVA unpacks the archive, adds its
            // test shell scripts and the test definition, and packs it again,
            // so no guestfs disk is needed for the overlay.
            ramdisk: { image_arg: '-initrd {ramdisk}', url: o.ramdiskUrl, format: 'cpio.newc', overlays: { lava: true } },
          },
        },
      },
      {
        boot: {
          timeout: { minutes: 5 },
          method: 'qemu',
          media: 'tmpfs',
          // loglevel=5 keeps the kernel's "Linux version" (a notice) off the
          // console, where the qemu device type's kernel-start-message waits
          // for it: wait for /init's first line instead.
          parameters: { 'kernel-start-message': INIT_START_MESSAGE },
          prompts: [SHELL_PROMPT],
        },
      },
      {
        test: {
          timeout: { minutes: 20 },
          definitions: [
            {
              from: 'inline',
              name,
              path: `inline/${name}.yaml`,
              repository: {
                metadata: { format: 'Lava-Test Test Definition 1.0', name, description: suite.description },
                run: { steps: [`cd /mirrorlab && /usr/bin/node dist/guest/standalone-main.js --lava ${o.suite}`] },
              },
            },
          ],
        },
      },
    ],
  };
}

/**
 * The device configuration of a qemu device for `lava-run --device`, as
 * lava-server renders it from its qemu device type (base.jinja2 and
 * qemu.jinja2): the QEMU command and options, the deploy and boot methods,
 * and the constants the dispatcher reads. TCG unless `kvm`.
 */
export function lavaQemuDevice(opts: { kvm?: boolean } = {}): YamlValue {
  return {
    device_type: 'qemu',
    available_architectures: ['x86_64'],
    constants: {
      'kernel-start-message': 'Linux version [0-9]',
      'shutdown-message': 'The system is going down for reboot NOW',
      'default-shell-prompt': 'lava-test: # ',
      spawn_maxread: '4092',
      failure_retry: 1, // no retries: a failed boot is a finding, not bad luck
      boot_retry: 1,
      posix: { lava_test_sh_cmd: '/bin/sh', lava_test_results_dir: '/lava-%s', lava_test_shell_file: '~/.bashrc' },
    },
    parameters: {},
    actions: {
      deploy: {
        connections: { serial: null },
        // 'guest' sizes the disk LAVA would build for the overlay; our jobs
        // append the overlay to the ramdisk instead, but the action checks it.
        methods: { tmpfs: null, image: { parameters: { guest: { size: 512, interface: 'virtio' } } } },
      },
      boot: {
        connections: { serial: null },
        methods: {
          qemu: {
            parameters: {
              command: 'qemu-system-x86_64',
              options: [
                '-machine pc',
                opts.kvm ? '-accel kvm' : '-accel tcg,thread=single',
                opts.kvm ? '-cpu host' : `-cpu ${TCG_CPU_MODEL}`,
                '-smp 2',
                `-m ${LAVA_MEMORY_MIB}`,
                '-nodefaults',
                '-no-user-config',
                '-display none',
                '-monitor none',
                '-serial stdio',
                '-no-reboot',
              ],
            },
          },
        },
      },
    },
    timeouts: {
      actions: { 'execute-qemu': { minutes: 2 } },
      connections: { 'lava-test-shell': { minutes: 20 } },
    },
  };
}

export interface LavaWriteOptions {
  kernels: KernelSeries[];
  suites: string[];
  out: string;
  /** Where a lab's dispatcher fetches the artifacts (their file names appended); file:// URLs of out/ without. */
  baseUrl?: string;
  log?: (msg: string) => void;
}

export interface LavaWritten {
  jobs: { kernel: KernelSeries; suite: string; file: string }[];
  artifacts: string[];
  device: string;
}

/**
 * Writes one job per kernel x suite into `out`, the artifacts they
 * reference (out/artifacts/<series>/vmlinux or vmlinuz, initramfs.cpio) and
 * device-qemu.yaml for lava-run on this machine.
 */
export function writeLavaJobs(o: LavaWriteOptions): LavaWritten {
  for (const s of o.suites) if (!STANDALONE_SUITES[s]) throw new Error(`unknown suite ${JSON.stringify(s)}`);
  const out = path.resolve(o.out);
  fs.mkdirSync(out, { recursive: true });
  const written: LavaWritten = { jobs: [], artifacts: [], device: path.join(out, 'device-qemu.yaml') };
  const url = (file: string): string => {
    const rel = path.relative(out, file).split(path.sep).join('/');
    return o.baseUrl ? `${o.baseUrl.replace(/\/+$/, '')}/${rel}` : pathToFileURL(file).href;
  };
  for (const kernel of o.kernels) {
    const k = kernelInfo(kernel);
    const dir = path.join(out, 'artifacts', kernel);
    fs.mkdirSync(dir, { recursive: true });
    // The uncompressed ELF where the cache has one: QEMU boots it through
    // its PVH entry, with no decompression under emulation.
    const image = k.vmlinux ?? k.vmlinuz;
    const kernelFile = path.join(dir, path.basename(image));
    const ramdiskFile = path.join(dir, 'initramfs.cpio');
    fs.copyFileSync(image, kernelFile);
    fs.copyFileSync(ensureInitramfs(kernel, o.log).path, ramdiskFile);
    written.artifacts.push(kernelFile, ramdiskFile);
    for (const suite of o.suites) {
      const file = path.join(out, `${suite}-${kernel}.yaml`);
      const job = lavaJob({ kernel, suite, kernelUrl: url(kernelFile), ramdiskUrl: url(ramdiskFile), release: k.release });
      fs.writeFileSync(file, toYaml(job));
      written.jobs.push({ kernel, suite, file });
    }
  }
  fs.writeFileSync(written.device, toYaml(lavaQemuDevice()));
  return written;
}
