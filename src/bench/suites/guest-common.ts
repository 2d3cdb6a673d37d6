// Shared by the guest suites: a guest booted for one suite run (closed in
// finally, killed at once when the run is aborted), and repetition of
// interleaved cases (every round runs each case once, so the ratios between
// cases come from one run) with the discipline of measure/repeat.ts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { summarize } from '../../stats/summary.js';
import { settledHistory, type RepeatOptions, type RepeatResult } from '../../measure/repeat.js';
import { normalizeSize } from './common.js';
import { Vm, type VmOptions } from '../../vm/vm.js';
import { repoRoot } from '../../paths.js';
import { guestUnavailableReason, type KernelSeries } from '../../vm/kernels.js';
import type { SuiteContext } from '../suite.js';

/** Why a guest suite cannot run on `kernel` with `modules`, or null. */
export function guestSuiteUnsupported(kernel: KernelSeries | null, modules: string[]): string | null {
  if (!kernel) return 'a guest suite needs a kernel series';
  const r = guestUnavailableReason(kernel);
  if (r) return r;
  const missing = () => modules.filter((m) => !fs.existsSync(path.join(repoRoot, 'build/modules', kernel, `${m}.ko`)));
  // `npm run build:native` (node-gyp rebuild) empties build/, modules included:
  // build them again rather than skip the suite.
  if (missing().length) {
    try {
      execFileSync(path.join(repoRoot, 'scripts/build-modules.sh'), [kernel], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      return `building our modules for ${kernel} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-3).join(' / ') || (e as Error).message}`;
    }
  }
  const still = missing();
  if (still.length) return `build/modules/${kernel}/${still[0]}.ko missing after scripts/build-modules.sh ${kernel}`;
  if (!fs.existsSync(path.join(repoRoot, 'dist/vm/agent.js'))) return 'dist/ not built (npm run build:ts)';
  return null;
}

/**
 * Boots a guest, runs fn, and always shuts the guest down: close() normally
 * (a console barrier first, so a WARN fails the suite), kill() at once when
 * ctx.signal aborts (pending guest calls then reject).
 */
export async function withGuest<T>(ctx: SuiteContext, opts: VmOptions, fn: (vm: Vm) => Promise<T>): Promise<T | undefined> {
  if (ctx.signal.aborted) return undefined;
  const vm = await Vm.boot({ ...opts, clock: opts.clock ?? ctx.guestClock });
  const onAbort = (): void => void vm.kill();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  let ok = false;
  try {
    ctx.guest({ release: vm.release, accel: vm.accel, clock: vm.clock, cpu: vm.cpuModel });
    const r = await fn(vm);
    ok = true;
    return r;
  } catch (e) {
    if (ctx.signal.aborted) return undefined;
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (ctx.signal.aborted) await vm.kill();
    else if (ok) await vm.close();
    else await vm.close().catch(() => undefined); // the first error is the one reported
  }
}

/**
 * Rounds of interleaved cases: round(i) returns the samples of that round by
 * case name. Round 0 is reported as cold, warm-up rounds are discarded,
 * measured rounds go on until every case's median of round medians settles
 * within the tolerance (three rounds in a row), or maxRounds / budgetMs run
 * out, or the run is aborted (what was measured is returned).
 */
export async function repeatRounds(
  round: (index: number) => Promise<Record<string, number[]>>,
  options: RepeatOptions,
  signal: AbortSignal,
): Promise<Map<string, RepeatResult>> {
  const { cold: wantCold = true, warmupRounds = 1, minRounds = 5, maxRounds = 50, budgetMs = 10_000, tolerance = 0.02 } = options;
  const started = performance.now();
  const out = new Map<string, RepeatResult & { history: number[] }>();
  const get = (k: string) => {
    let r = out.get(k);
    if (!r) out.set(k, (r = { cold: [], warm: [], roundMedians: [], stable: false, tolerance, history: [] }));
    return r;
  };
  let index = 0;
  if (wantCold && !signal.aborted) {
    for (const [k, v] of Object.entries(await round(index++))) get(k).cold.push(...v);
  }
  for (let w = 0; w < warmupRounds && !signal.aborted; w++) await round(index++);
  let n = 0;
  while (n < maxRounds && !signal.aborted) {
    const s = await round(index++);
    n++;
    for (const [k, v] of Object.entries(s)) {
      if (!v.length) continue;
      const r = get(k);
      r.warm.push(...v);
      r.roundMedians.push(summarize(v).median);
      r.history.push(summarize(r.roundMedians).median);
    }
    if (n >= Math.max(minRounds, 3)) {
      for (const r of out.values()) r.stable = settledHistory(r.history, tolerance);
      if ([...out.values()].every((r) => r.stable)) break;
    }
    if (performance.now() - started > budgetMs && n >= Math.min(minRounds, maxRounds)) break;
  }
  const result = new Map<string, RepeatResult>();
  for (const [k, { history: _h, ...r }] of out) if (r.warm.length) result.set(k, r);
  return result;
}

export const MiB = 1 << 20;
export const GiB = 1 << 30;

export function sizeLabel(bytes: number): string {
  if (bytes >= GiB && bytes % GiB === 0) return `${bytes / GiB}G`;
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB}M`;
  return `${bytes / 1024}K`;
}

/** --size filter: keep sizes whose label is listed (all when the filter is empty). */
export function sizeFilter(sizes: number[], filter: string[]): number[] {
  if (!filter.length) return sizes;
  const want = new Set(filter.map(normalizeSize));
  return sizes.filter((s) => want.has(sizeLabel(s)));
}
