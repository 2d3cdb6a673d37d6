// The guest kernel cache written by scripts/kernels.sh.
import fs from 'node:fs';
import path from 'node:path';

export const KERNEL_SERIES = ['6.1', '6.12'] as const;
export type KernelSeries = (typeof KERNEL_SERIES)[number];

export function cacheRoot(): string {
  return process.env.MIRRORLAB_CACHE || '/var/cache/mirrorlab';
}

export interface KernelInfo {
  series: string;
  dir: string;
  vmlinuz: string;
  /**
   * The uncompressed ELF kernel (extracted by kernels.sh), booted through its
   * PVH entry: no decompression under emulation (6.1's xz costs seconds).
   */
  vmlinux: string | null;
  release: string;
  /** Root of the extracted image package: modulesRoot/lib/modules/<release>/... */
  modulesRoot: string;
  kdir: string;
  manifest: unknown;
}

/** Reads a complete cache entry, or explains what is missing. */
export function kernelInfo(series: string): KernelInfo {
  const dir = path.join(cacheRoot(), 'kernels', series);
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    throw new Error(`kernel ${series}: cache ${dir} is missing or incomplete; run scripts/kernels.sh ${series}`);
  }
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8').trim();
  return {
    series,
    dir,
    vmlinuz: path.join(dir, 'vmlinuz'),
    vmlinux: fs.existsSync(path.join(dir, 'vmlinux')) ? path.join(dir, 'vmlinux') : null,
    release: read('release'),
    modulesRoot: path.join(dir, 'modules'),
    kdir: read('kdir'),
    manifest: JSON.parse(read('manifest.json')),
  };
}

/** Why guest runs cannot happen here, or null when they can. */
export function guestUnavailableReason(series: string): string | null {
  if (!findOnPath('qemu-system-x86_64')) return 'qemu-system-x86_64 not installed (scripts/setup.sh installs it)';
  if (!fs.existsSync('/bin/busybox')) return 'busybox-static not installed (scripts/setup.sh installs it)';
  if (!findOnPath('cpio')) return 'cpio not installed (scripts/setup.sh installs it)';
  try {
    kernelInfo(series);
  } catch (e) {
    return (e as Error).message;
  }
  return null;
}

export function findOnPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(d || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}
