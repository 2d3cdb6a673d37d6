// Shared by the guest test files: the kernel matrix, skip reasons, making
// sure the guest never runs stale code, and per-test console excerpts.
import { runChecked } from '../run-command.js';
import { holdFlock } from '../flock.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, onTestFailed, type TestContext } from 'vitest';
import { DEFAULT_KERNELS, guestUnavailableReason, kernelCacheDir, kernelSeries, type KernelSeries } from '../../src/vm/kernels.js';
import type { Vm as VmType, VmOptions } from '../../src/vm/vm.js';
import { repoRoot } from '../../src/paths.js';

/** Kernels to run on: the default series, or $MIRRORLAB_KERNEL (comma-separated series or aliases). */
export function kernels(): KernelSeries[] {
  const env = process.env.MIRRORLAB_KERNEL;
  return env ? env.split(',').map((s) => s.trim()).filter(Boolean).map(kernelSeries) : [...DEFAULT_KERNELS];
}

/** Why guest tests cannot run for this kernel (printed once), or null. */
const warned = new Set<string>();
export function skipReason(kernel: KernelSeries): string | null {
  const r = guestUnavailableReason(kernel);
  if (r && !warned.has(kernel)) {
    warned.add(kernel);
    console.warn(`guest tests on ${kernel} skipped: ${r}`);
  }
  return r;
}

function newest(dir: string, filter: (p: string) => boolean): number {
  let t = 0;
  if (!fs.existsSync(dir)) return 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, filter));
    else if (filter(p)) t = Math.max(t, fs.statSync(p).mtimeMs);
  }
  return t;
}

/** Absolute paths of the files under `dir` (of the repository) that git ignores: build outputs. */
function gitIgnored(dir: string): Set<string> {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', dir], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return new Set(out.split('\0').filter(Boolean).map((f) => path.join(repoRoot, f)));
  } catch {
    return new Set(); // not a git checkout: every file counts
  }
}

/**
 * Rebuilds what the guest runs when its sources are newer: the addon (if
 * missing), dist/ (tsc), and build/modules/<series>/ (scripts/build-modules.sh).
 */
export async function ensureGuestBuild(series: KernelSeries[]): Promise<void> {
  await underBuildLock(() => buildWhatIsStale(series));
}

/** kernel-patches/mirrordrm/selftest/mirrordrm_test, made when stale; its path. */
export async function mirrordrmSelftest(): Promise<string> {
  const bin = path.join(repoRoot, 'kernel-patches/mirrordrm/selftest/mirrordrm_test');
  await underBuildLock(() => runChecked('make', ['-s', '-C', path.dirname(bin), 'mirrordrm_test']));
  return bin;
}

/** Files run in parallel: one of them builds while the others wait, then find it done. */
async function underBuildLock(build: () => Promise<unknown>): Promise<void> {
  fs.mkdirSync(path.join(repoRoot, 'build'), { recursive: true });
  const release = await holdFlock(path.join(repoRoot, 'build/.guest-build.lock'), 'exclusive');
  try {
    await build();
  } finally {
    release();
  }
}

async function buildWhatIsStale(series: KernelSeries[]): Promise<void> {
  const run = async (cmd: string, args: string[]): Promise<void> => {
    await runChecked(cmd, args, { cwd: repoRoot, inherit: true });
  };
  if (!fs.existsSync(path.join(repoRoot, 'build/Release/mirrorlab.node'))) await run('npm', ['run', '--silent', 'build:native']);
  const src = newest(path.join(repoRoot, 'src'), (p) => p.endsWith('.ts'));
  const dist = newest(path.join(repoRoot, 'dist'), (p) => p.endsWith('.js'));
  if (src > dist) await run(path.join(repoRoot, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json']);
  // Sources only: the selftest programs that tests build inside
  // kernel-patches/ (git ignores them) would otherwise make the modules look
  // stale each time one is built, and every file after it rebuild them.
  const built = gitIgnored('kernel-patches');
  const kp = newest(path.join(repoRoot, 'kernel-patches'), (p) => !built.has(p));
  const stale = series.filter((s) => {
    const stamp = path.join(repoRoot, 'build/modules', path.basename(kernelCacheDir(s)), 'release');
    return !fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < kp;
  });
  if (stale.length) await run(path.join(repoRoot, 'scripts/build-modules.sh'), stale);
}

/** QEMU processes started by this test process that are still alive (from /proc). */
export function ourQemuPids(): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.startsWith('qemu-system') || cmd.includes('/qemu-system')) {
        if (cmd.includes(`mirrorlab-vm-${process.pid}-`)) pids.push(Number(d));
      }
    } catch {
      /* gone */
    }
  }
  return pids;
}

export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie is dead, only not yet reaped
  } catch {
    return false;
  }
}

/** Attaches the guest console lines of the running test to its result (and to the failure). */
export function attachConsole(ctx: TestContext, vm: VmType | undefined, from: number): void {
  if (!vm) return;
  const excerpt = vm.log.since(from).split('\n').slice(-200).join('\n');
  (ctx.task.meta as Record<string, unknown>).guestLog = excerpt;
  (ctx.task.meta as Record<string, unknown>).kernel = vm.kernel;
}

/**
 * One guest per describe block: booted before the first test, shut down
 * after the last; every test ends with a console barrier so that a WARN it
 * caused fails that test, and its console lines are attached to its result.
 */
export function sharedVm(options: () => VmOptions): { readonly vm: VmType } {
  let vm: VmType | undefined;
  let mark = 0;
  beforeAll(async () => {
    const { Vm } = await import('../../src/vm/vm.js');
    vm = await Vm.boot(options());
  }, 300_000);
  beforeEach((ctx) => {
    mark = vm?.log.mark ?? 0;
    onTestFailed(() => attachConsole(ctx, vm, mark));
  });
  afterEach(async (ctx) => {
    attachConsole(ctx, vm, mark);
    if (vm && !vm.error) await vm.sync();
    if (vm?.error) throw vm.error;
  });
  afterAll(async () => {
    if (vm) await vm.close();
  }, 120_000);
  return {
    get vm(): VmType {
      if (!vm) throw new Error('guest not booted');
      return vm;
    },
  };
}
