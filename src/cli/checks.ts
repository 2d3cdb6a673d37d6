// Value checks shared by several commands' option specs: kernel series and
// page sizes are spelled the same everywhere (6.1, 6.12, 7.2; 4K, 2M, 1G).
import fs from 'node:fs';
import path from 'node:path';
import { normalizeSize } from '../bench/suites/common.js';
import { ArgumentError } from '../errors.js';
import { kernelSeries } from '../vm/kernels.js';

/** The guest clocks (src/vm/vm.ts GuestClock), spelled here so that option specs need not load the VM runner. */
export const GUEST_CLOCK_VALUES = ['icount', 'wall'] as const;

/**
 * Why guests cannot get clock icount here, or undefined: it needs TCG
 * (`accel`, else $MIRRORLAB_ACCEL), single-threaded ($MIRRORLAB_TCG_THREAD).
 * Commands check this before anything boots (exit 2); src/vm/vm.ts refuses
 * the same for library callers.
 */
export function guestClockProblem(clock: string | undefined, accel: string | undefined = process.env.MIRRORLAB_ACCEL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (clock !== 'icount') return undefined;
  if (accel === 'kvm') return '--guest-clock icount needs TCG: KVM runs guest instructions on the host CPU, which QEMU cannot count (accel kvm asked for)';
  if (env.MIRRORLAB_TCG_THREAD === 'multi') return '--guest-clock icount needs single-threaded TCG (MIRRORLAB_TCG_THREAD=multi is set)';
  return undefined;
}

/**
 * --guest-clock, the same for every command that boots guests: 'icount'
 * (guest time counts instructions: deterministic) or 'wall' (guest time is
 * host time: varies with host load). `extra` says the default.
 */
export function guestClockOption(extra: string) {
  return {
    type: 'string',
    values: GUEST_CLOCK_VALUES,
    arg: GUEST_CLOCK_VALUES.join('|'),
    help: `the guests' clock: icount (1 ns per guest instruction, the same every run) or wall (host time, varies with load); ${extra}`,
  } as const;
}

/** An unknown kernel series, with the known ones ("6.1, 6.12, 7.2 (sid)"). */
export function kernelProblem(name: string): string | undefined {
  try {
    kernelSeries(name);
    return undefined;
  } catch (e) {
    if (e instanceof ArgumentError) return e.message;
    throw e;
  }
}

export const SIZES = ['4K', '2M', '1G'] as const;

/** An unknown page size; other spellings of a known one (4k, 2MiB, 1GB) are fine. */
export function sizeProblem(name: string): string | undefined {
  return (SIZES as readonly string[]).includes(normalizeSize(name)) ? undefined : `unknown size ${JSON.stringify(name)} (sizes: ${SIZES.join(', ')})`;
}

/** The nearest part of `p` that exists (p itself, or an ancestor), with what it is. */
function nearestExisting(p: string): { at: string; stat: fs.Stats } | { at: string; error: NodeJS.ErrnoException } {
  let at = path.resolve(p);
  for (;;) {
    try {
      return { at, stat: fs.statSync(at) };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // ENOTDIR: a file stands where a directory of the path should be; the walk up finds it.
      if ((err.code !== 'ENOENT' && err.code !== 'ENOTDIR') || path.dirname(at) === at) return { at, error: err };
      at = path.dirname(at);
    }
  }
}

/**
 * Whether this process can create files in directory `dir`, by creating one:
 * access(W_OK) says yes to root on a read-only mount's 0555 directory but not
 * on the mount itself, and says nothing of a full disk's inode table.
 */
function writeProblem(dir: string): string | undefined {
  const probe = path.join(dir, `.mirrorlab-write-check.${process.pid}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.rmSync(probe, { force: true });
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EROFS' ? 'read-only file system' : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied' : err.code === 'ENOSPC' ? 'no space left on the device' : err.message;
    return `cannot create files in ${dir} (${err.code ? `${err.code}: ` : ''}${why})`;
  }
}

function kindOf(s: fs.Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  return 'not a directory';
}

/**
 * Why results cannot go into directory `dir` (created when missing), or
 * undefined: checked before a command runs anything, so an hour of suites
 * never ends in a write that cannot happen.
 */
export function outDirProblem(dir: string): string | undefined {
  const found = nearestExisting(dir);
  if ('error' in found) return `--out ${dir}: cannot look at ${found.at} (${found.error.message})`;
  if (!found.stat.isDirectory()) {
    if (found.at === path.resolve(dir)) return `--out ${dir}: exists and is ${kindOf(found.stat)}, not a directory`;
    return `--out ${dir}: ${found.at} is ${kindOf(found.stat)}, not a directory`;
  }
  const problem = writeProblem(found.at);
  return problem && `--out ${dir}: ${problem}`;
}

/**
 * Why a single output file cannot be written at `file`, or undefined. Only a
 * regular file is replaced: files are written to a temporary and renamed over
 * the target, which would put a regular file in place of /dev/null.
 */
export function outFileProblem(file: string): string | undefined {
  const found = nearestExisting(file);
  if ('error' in found) return `--out ${file}: cannot look at ${found.at} (${found.error.message})`;
  if (found.at === path.resolve(file)) {
    if (found.stat.isDirectory()) return `--out ${file}: is a directory (give a file name)`;
    if (!found.stat.isFile()) return `--out ${file}: exists and is ${kindOf(found.stat)}, not a regular file`;
    // Replaced by a rename: the directory must take a new file, whatever the file's own mode.
    const problem = writeProblem(path.dirname(path.resolve(file)));
    return problem && `--out ${file}: ${problem}`;
  }
  if (!found.stat.isDirectory()) return `--out ${file}: ${found.at} is ${kindOf(found.stat)}, not a directory`;
  const problem = writeProblem(found.at);
  return problem && `--out ${file}: ${problem}`;
}
