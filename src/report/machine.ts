// What a result needs to be compared with another: the machine, the kernel,
// its memory-management settings, and the software versions, each read from
// the place named beside it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { repoRoot } from '../paths.js';

export interface MachineInfo {
  hostname: string;
  cpuModel: string; // /proc/cpuinfo "model name"
  cores: number; // os.cpus()
  memoryBytes: number; // os.totalmem()
  kernelRelease: string; // uname -r
  kernelConfig: Record<string, string | null>; // /proc/config.gz or /boot/config-<release>
  kernelConfigSource: string | null;
  virtualization: { hypervisor: boolean; vendor: string | null }; // cpuinfo flag, /sys/class/dmi/id
  thp: { enabled: string | null; defrag: string | null; shmemEnabled: string | null };
  hugetlb: Record<string, { nr: number; free: number }>; // /sys/kernel/mm/hugepages
  nodeVersion: string;
  mirrorlabVersion: string;
  gitCommit: string | null;
}

/** Config options that change what the suites can do or measure. */
export const RELEVANT_CONFIG = [
  'CONFIG_USERFAULTFD',
  'CONFIG_TRANSPARENT_HUGEPAGE',
  'CONFIG_HUGETLBFS',
  'CONFIG_HMM_MIRROR',
  'CONFIG_MMU_NOTIFIER',
  'CONFIG_DEVICE_PRIVATE',
  'CONFIG_GUP_TEST',
  'CONFIG_ARCH_SUPPORTS_PMD_PFNMAP',
  'CONFIG_ARCH_SUPPORTS_PUD_PFNMAP',
  'CONFIG_NUMA',
  'CONFIG_KSM',
  'CONFIG_MODULES',
  'CONFIG_DRM',
  'CONFIG_PREEMPT',
  'CONFIG_PREEMPT_DYNAMIC',
];

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The bracketed choice of a sysfs multiple-choice file: "always [madvise] never" -> "madvise". */
export function bracketed(text: string | null): string | null {
  if (text === null) return null;
  const m = /\[([^\]]+)\]/.exec(text);
  return m ? m[1] : text.trim();
}

function kernelConfig(): { source: string | null; values: Record<string, string | null> } {
  let text: string | null = null;
  let source: string | null = null;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    source = '/proc/config.gz';
  } catch {
    const boot = `/boot/config-${os.release()}`;
    text = read(boot);
    source = text === null ? null : boot;
  }
  const values: Record<string, string | null> = {};
  for (const key of RELEVANT_CONFIG) {
    if (text === null) {
      values[key] = null;
      continue;
    }
    // As probe reports them: the value ('y', 'm', a number, quotes dropped), 'n' for "is not set", null when absent.
    const m = new RegExp(`^${key}=(.*)$`, 'm').exec(text);
    values[key] = m ? m[1].replace(/^"(.*)"$/, '$1') : new RegExp(`^# ${key} is not set$`, 'm').test(text) ? 'n' : null;
  }
  return { source, values };
}

function hugetlbPools(): MachineInfo['hugetlb'] {
  const dir = '/sys/kernel/mm/hugepages';
  const pools: MachineInfo['hugetlb'] = {};
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return pools;
  }
  for (const name of names) {
    const nr = Number(read(path.join(dir, name, 'nr_hugepages')) ?? NaN);
    const free = Number(read(path.join(dir, name, 'free_hugepages')) ?? NaN);
    pools[name.replace('hugepages-', '')] = { nr, free };
  }
  return pools;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const config = kernelConfig();
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const vendor = [read('/sys/class/dmi/id/sys_vendor'), read('/sys/class/dmi/id/product_name')]
    .filter((s): s is string => s !== null)
    .map((s) => s.trim())
    .join(' ');
  return {
    hostname: os.hostname(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    kernelRelease: os.release(),
    kernelConfig: config.values,
    kernelConfigSource: config.source,
    virtualization: { hypervisor: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo), vendor: vendor || null },
    thp: {
      enabled: bracketed(read('/sys/kernel/mm/transparent_hugepage/enabled')),
      defrag: bracketed(read('/sys/kernel/mm/transparent_hugepage/defrag')),
      shmemEnabled: bracketed(read('/sys/kernel/mm/transparent_hugepage/shmem_enabled')),
    },
    hugetlb: hugetlbPools(),
    nodeVersion: process.version,
    mirrorlabVersion: pkg.version,
    gitCommit: gitCommit(),
  };
}
