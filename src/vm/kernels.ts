// The guest kernel series (scripts/kernel-series) and their cache, written by
// scripts/kernels.sh.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ArgumentError } from '../errors.js';
import { repoRoot } from '../paths.js';

/**
 * A series named in scripts/kernel-series ('6.1', '6.12'). The list is read at
 * run time, so the type is a checked string rather than a union of today's
 * names: only kernelSeries() makes one, and a line added to the file needs no
 * change here.
 */
export type KernelSeries = string & { readonly __brand: 'KernelSeries' };

export interface KernelSeriesLine {
  series: KernelSeries;
  debianSuite: string;
  metaPackage: string;
  /** Provisioned, built and run when no series is named. */
  isDefault: boolean;
  aliases: string[];
}

/** Parses scripts/kernel-series (its header describes the columns). */
export function parseKernelSeriesFile(text: string, file: string): KernelSeriesLine[] {
  const lines: KernelSeriesLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const cols = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (!cols.length) return;
    const [series, debianSuite, metaPackage, isDefault, aliases] = cols;
    if (cols.length !== 5 || (isDefault !== 'yes' && isDefault !== 'no')) {
      throw new Error(`${file}:${i + 1}: expected "series debian-suite meta-package yes|no aliases", got ${JSON.stringify(raw)}`);
    }
    lines.push({
      series: series as KernelSeries,
      debianSuite,
      metaPackage,
      isDefault: isDefault === 'yes',
      aliases: aliases === '-' ? [] : aliases.split(','),
    });
  });
  return lines;
}

const file = path.join(repoRoot, 'scripts', 'kernel-series');
const KERNEL_SERIES_LINES = parseKernelSeriesFile(fs.readFileSync(file, 'utf8'), file);

/** Every series, oldest first. */
export const KERNEL_SERIES: readonly KernelSeries[] = KERNEL_SERIES_LINES.map((l) => l.series);

/** The series run when none is named (bench, guest tests, scripts), oldest first. */
export const DEFAULT_KERNELS: readonly KernelSeries[] = KERNEL_SERIES_LINES.filter((l) => l.isDefault).map((l) => l.series);

/** Every accepted name, for messages: "6.1, 6.12, 7.2 (sid)". */
export const KNOWN_KERNELS = KERNEL_SERIES_LINES.map((l) => (l.aliases.length ? `${l.series} (${l.aliases.join(', ')})` : l.series)).join(', ');

/** The flavours of the kernels we build (kernel-patches/configs/<flavour>.config). */
export const BUILD_FLAVOURS = ['test', 'debug'] as const;
export type BuildFlavour = (typeof BUILD_FLAVOURS)[number];

/**
 * A kernel we build ourselves (scripts/kernel-build.sh): a Debian series'
 * source in one flavour, with a patch series from kernel-patches/series/ or
 * without. Its name is a series like the others: 7.2-test, 7.2-debug,
 * 7.2-test+NAME (7.2+NAME is short for the last).
 */
export interface BuiltKernel {
  name: KernelSeries;
  base: KernelSeries;
  flavour: BuildFlavour;
  patches: string | null;
}

const BUILT_NAME = /^(.+?)(?:-(test|debug))?(?:\+([A-Za-z0-9][A-Za-z0-9._-]*))?$/;

/** The built kernel a name stands for, or null for any other name. */
export function builtKernel(name: string): BuiltKernel | null {
  const m = BUILT_NAME.exec(name);
  if (!m || (!m[2] && !m[3])) return null;
  const line = KERNEL_SERIES_LINES.find((l) => l.series === m[1] || l.aliases.includes(m[1]));
  if (!line) return null;
  const flavour = (m[2] ?? 'test') as BuildFlavour;
  const patches = m[3] ?? null;
  return { name: `${line.series}-${flavour}${patches ? `+${patches}` : ''}` as KernelSeries, base: line.series, flavour, patches };
}

/** The command that builds a kernel we build (for messages). */
export function kernelBuildCommand(k: BuiltKernel): string {
  return `mirrorlab kernel build --series ${k.base} --flavour ${k.flavour}${k.patches ? ` --patches ${k.patches}` : ''}`;
}

/**
 * The series a name (series, alias, or a built kernel's name) stands for; an
 * unknown name is refused with the known ones. A built kernel's name is
 * accepted whether or not it is built yet: kernelInfo() says how to build it.
 */
export function kernelSeries(name: string): KernelSeries {
  const line = KERNEL_SERIES_LINES.find((l) => l.series === name || l.aliases.includes(name));
  if (line) return line.series;
  const built = builtKernel(name);
  if (built) return built.name;
  throw new ArgumentError('ERR_INVALID_ARG_VALUE', `unknown kernel ${JSON.stringify(name)} (kernels: ${KNOWN_KERNELS}); kernels we build: SERIES-test, SERIES-debug, SERIES-test+PATCHES`, 'kernel');
}

export function cacheRoot(): string {
  return process.env.MIRRORLAB_CACHE || '/var/cache/mirrorlab';
}

export interface KernelInfo {
  series: KernelSeries;
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

/**
 * The cache directory of a series: kernels/<series>, or, for a suite that
 * moves on (sid), where one of its aliases links (kernels/sid -> 7.3 once sid
 * has 7.3), as scripts/kernel-series.sh's series_cache_dir finds it.
 */
export function kernelCacheDir(series: KernelSeries): string {
  return seriesCacheDir('kernels', series);
}

/**
 * A series' directory in one part of the cache (kernels/, selftests/), with
 * the alias logic of kernelCacheDir.
 */
export function seriesCacheDir(part: string, series: KernelSeries): string {
  const root = path.join(cacheRoot(), part);
  const line = KERNEL_SERIES_LINES.find((l) => l.series === series);
  for (const alias of line?.aliases ?? []) {
    const link = path.join(root, alias);
    if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) return fs.realpathSync(link);
  }
  return path.join(root, series);
}

/** Reads a complete cache entry, or explains what is missing. */
export function kernelInfo(series: KernelSeries): KernelInfo {
  const dir = kernelCacheDir(series);
  if (!fs.existsSync(path.join(dir, '.complete'))) {
    const built = builtKernel(series);
    if (built) throw new Error(`kernel ${series} is not built (no complete ${dir}); ${kernelBuildCommand(built)} builds it`);
    throw new Error(`kernel ${series}: cache ${dir} is missing or incomplete; run scripts/kernels.sh ${series}`);
  }
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8').trim();
  const built = builtKernel(series);
  if (built) {
    const stale = builtKernelStale(built, JSON.parse(read('manifest.json')) as { inputs?: string[] });
    if (stale) throw new Error(`kernel ${series} is stale: ${stale} since it was built; ${kernelBuildCommand(built)} rebuilds it`);
  }
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

/**
 * Which of a built kernel's inputs in this tree (config fragments,
 * build-support patches, its patch series) differ from those it was built
 * from (its manifest's inputs: "<file> <sha256>" after the source line), or
 * null when none does. The source package and compiler are the script's to
 * check: a rebuild compares its whole key.
 */
export function builtKernelStale(k: BuiltKernel, manifest: { inputs?: string[] }): string | null {
  const kp = path.join(repoRoot, 'kernel-patches');
  const files = [path.join(kp, 'configs', 'guest.config'), path.join(kp, 'configs', `${k.flavour}.config`)];
  const support = path.join(kp, 'build-support');
  if (fs.existsSync(support)) files.push(...fs.readdirSync(support).filter((f) => f.endsWith('.patch')).sort().map((f) => path.join(support, f)));
  if (k.patches) {
    const dir = path.join(kp, 'series', k.patches);
    if (!fs.existsSync(path.join(dir, 'series'))) return `kernel-patches/series/${k.patches}/series is gone`;
    for (const line of fs.readFileSync(path.join(dir, 'series'), 'utf8').split('\n')) {
      const name = line.replace(/#.*/, '').trim().split(/\s+/)[0];
      if (name) files.push(path.join(dir, name));
    }
  }
  const now = files.map((f) => `${path.basename(f)} ${fs.existsSync(f) ? createHash('sha256').update(fs.readFileSync(f)).digest('hex') : '(missing)'}`);
  const then = (manifest.inputs ?? []).slice(1);
  for (let i = 0; i < Math.max(now.length, then.length); i++) {
    if (now[i] !== then[i]) {
      const name = (now[i] ?? then[i]).split(' ')[0];
      return `${name} ${now[i] === undefined ? 'is no longer an input' : then[i] === undefined ? 'is a new input' : 'changed'}`;
    }
  }
  return null;
}

/**
 * One option of a cached guest kernel's configuration (its headers'
 * .config): 'y', 'm', a value, or null when not set. Tests use it to decide
 * at collection time what a kernel can run, and check it against what the
 * booted kernel reports.
 */
export function kernelConfig(series: KernelSeries, option: string): string | null {
  const text = fs.readFileSync(path.join(kernelInfo(series).kdir, '.config'), 'utf8');
  const m = new RegExp(`^${option}=(.*)$`, 'm').exec(text);
  return m ? m[1].replace(/^"(.*)"$/, '$1') : null;
}

/** Why guest runs cannot happen here, or null when they can. */
export function guestUnavailableReason(series: KernelSeries): string | null {
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
