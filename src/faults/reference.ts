// The plain C reference loop (native/reference/touch_ref.c, built to
// build/Release/touch_ref): the same fresh-mapping, per-touch timed loop in a
// small separate process without Node, for measuring mirrorlab's own overhead.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../paths.js';
import { invalidState } from '../errors.js';
import { PAGE_SIZE } from '../memory/index.js';
import { shapeResult, type FaultRunOptions, type FaultRunResult, type PerfStatus } from './timing.js';

const execFileP = promisify(execFile);

/**
 * Where touch_ref is: build/Release after a build from source (npm run
 * build:native), or prebuilds/<platform>-<arch> in a package installed from
 * its prebuilt binaries (scripts/prebuild.sh puts it there beside the addon).
 */
export const referencePath = [
  path.join(repoRoot, 'build', 'Release', 'touch_ref'),
  path.join(repoRoot, 'prebuilds', `${process.platform}-${process.arch}`, 'touch_ref'),
].find((p) => existsSync(p)) ?? path.join(repoRoot, 'build', 'Release', 'touch_ref');

/** The touch_ref command line for a run (also useful to repeat a run by hand). */
export function referenceArgs(opts: FaultRunOptions): string[] {
  const a = ['--length', String(opts.length), '--stride', String(opts.stride ?? PAGE_SIZE), '--reps', String(opts.repetitions ?? 5)];
  a.push(opts.access === 'read' ? '--read' : '--write');
  if (opts.prot !== undefined) a.push('--prot', String(opts.prot));
  if (opts.flags !== undefined) a.push('--flags', '0x' + opts.flags.toString(16));
  if (opts.align) a.push('--align', String(opts.align));
  if (opts.madvise?.length) a.push('--madvise', opts.madvise.join(','));
  if (opts.method === 'populate-write') a.push('--populate');
  if (opts.perf === false) a.push('--no-perf');
  return a;
}

interface RefJson {
  tool: 'touch_ref';
  error?: { syscall: string; code: string; errno: number; message: string };
  clock: 'CLOCK_MONOTONIC';
  touches: number;
  perf: PerfStatus;
  reps: { address: string; totalNs: number; rusage: { minflt: number; majflt: number }; perf: { pageFaults: number; minor: number; major: number } | null; samples: number[] }[];
}

/** Parse touch_ref's JSON output into the same shape as runFaults(). */
export function parseReference(stdout: string, opts: FaultRunOptions): FaultRunResult {
  const j = JSON.parse(stdout) as RefJson;
  if (j.error) {
    const e = new Error(`${j.error.code}: ${j.error.message}, ${j.error.syscall} (touch_ref ${referenceArgs(opts).join(' ')})`) as Error & { code: string; syscall: string; errno: number };
    e.code = j.error.code;
    e.syscall = j.error.syscall;
    e.errno = j.error.errno;
    throw e;
  }
  return shapeResult(
    {
      clock: j.clock,
      processFirst: true,
      perf: j.perf,
      reps: j.reps.map((r) => ({ ...r, address: BigInt(r.address), samples: Float64Array.from(r.samples) })),
      keptAddress: null,
    },
    { access: opts.access ?? 'write', method: opts.method ?? 'touch', length: opts.length, stride: opts.stride ?? PAGE_SIZE },
  );
}

/** Run the C reference loop with the same spec as runFaults() (keepLast is not supported). */
export async function runReference(opts: FaultRunOptions): Promise<FaultRunResult> {
  if (!existsSync(referencePath)) throw invalidState(`the C reference loop is not built (${referencePath}); run npm run build:native`);
  const { stdout } = await execFileP(referencePath, referenceArgs(opts), { maxBuffer: 256 << 20 }).catch((e: { stdout?: string }) => {
    if (e.stdout) return { stdout: e.stdout };
    throw e;
  });
  return parseReference(stdout, opts);
}
