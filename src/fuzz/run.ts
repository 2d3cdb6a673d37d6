// mirrorlab fuzz in a guest: boots the kernel with the fuzzer (and, for
// test_hmm, the selftests build that holds test_hmm.ko), proves the detector
// sees a kernel WARN (mltrigger), then per target: loads its module, runs
// mlfuzz, unloads the module and judges (kernel reports on the console and
// in dmesg, pins, free memory). Kernel reports during the campaign are
// collected rather than fatal, so that every target's figures come back; a
// guest that dies (panic) ends the run with what was collected so far.
import { CRASH_PATTERNS } from '../vm/crash.js';
import { kernelConfig, type KernelSeries } from '../vm/kernels.js';
import { Vm, type VmOptions } from '../vm/vm.js';
import { loadTestHmm, selftestsArchive, selftestsBuild, type SelftestsBuild } from '../selftests/run.js';
import { ensureFuzzer, GUEST_FUZZER } from './build.js';
import { freeWithPerCpuKiB, leaks, logSince, parseFuzzerOutput, perCpuFreeKiB, procField, scanKernelLog, type ErrnoHistogram, type FuzzCoverage, type KernelReport, type Snapshot } from './detect.js';

export const FUZZ_TARGETS = ['mirrordrm', 'fakevram', 'test_hmm'] as const;
export type FuzzTarget = (typeof FUZZ_TARGETS)[number];

/** The modules a target's campaign loads (fakevram everywhere: its mmap is the device backing). */
const TARGET_MODULES: Record<FuzzTarget, string[]> = {
  mirrordrm: ['fakevram', 'mirrordrm'],
  fakevram: ['fakevram'],
  test_hmm: ['fakevram', 'test_hmm'],
};

/** test_hmm takes the first 512 MiB of the reserved range (two DEVICE_COHERENT chunks), fakevram the next 512 MiB. */
const FAKEVRAM_OFFSET = 512n << 20n;
const FAKEVRAM_SIZE = 512n << 20n;

export interface FuzzOptions {
  kernel: KernelSeries;
  targets: readonly FuzzTarget[];
  /** Calls per target, all threads together. */
  calls: number;
  seed: number;
  threads: number;
  /**
   * Coverage guidance (mlfuzz --coverage): 'auto' where the kernel has KCOV
   * (our debug kernels), 'on' requires it, 'off' keeps the seed's fixed
   * sequence. Default 'auto'.
   */
  coverage?: CoverageMode;
  /** Calls to make first, per target (a corpus kept by an earlier run, or the recent calls of a report). */
  corpus?: Partial<Record<FuzzTarget, string[]>>;
  vm?: Partial<VmOptions>;
  onProgress?: (msg: string) => void;
}

export const COVERAGE_MODES = ['auto', 'on', 'off'] as const;
export type CoverageMode = (typeof COVERAGE_MODES)[number];

export interface TargetResult {
  target: FuzzTarget;
  /** Why the target did not run on this kernel. */
  skipped?: string;
  calls: number;
  seconds: number;
  callsPerSecond: number;
  /** Calls per operation and errno ("ok" for success). */
  errnos: ErrnoHistogram;
  /** Kernel reports: the fuzzer's own (with thread and call index), the console's and dmesg's. */
  reports: string[];
  /** Pins, memory and modules that did not come back. */
  leaks: string[];
  /** --coverage: distinct edges and PCs KCOV saw, and the corpus; null when coverage was off. */
  coverage: FuzzCoverage | null;
  /** --coverage: the calls kept for reaching a new edge, in the form --corpus reads. */
  kept: string[];
  /** The --corpus entries this target made first (those for it in the file). */
  loaded: number;
  /** After a report: the reading thread's last calls, in the form --corpus reads (a reproducer). */
  recent: string[];
  /** The fuzzer's exit status (0: it ran to its end). */
  exitStatus: number;
  pins: { acquired: number | null; released: number | null };
  memAvailableKiB: { before: number | null; after: number | null };
  /** MemFree plus the per-CPU free lists, before and after (what the leak check compares), KiB. */
  freeKiB: { before: number | null; after: number | null };
  /** The per-CPU free lists alone (MemFree does not count them), KiB. */
  perCpuFreeKiB: { before: number | null; after: number | null };
}

export interface FuzzRun {
  kernel: KernelSeries;
  release: string;
  accel: string;
  cpus: number;
  seed: number;
  threads: number;
  /** The positive control: the detector's reports for mltrigger's WARN (must not be empty). */
  control: KernelReport[];
  /** The leak check's positive control: what it said of the memory mltrigger leaked (must not be empty). */
  leakControl: string[];
  /** Whether this kernel has KCOV and the campaign was coverage-guided, in words. */
  kcov: string;
  /** Whether the campaign was coverage-guided (KCOV). */
  coverage: boolean;
  targets: TargetResult[];
  /** Set when the guest died during the run: what killed it. */
  fatal?: string;
}

/** Whether the run is clean: the control flagged, every target ran with no report and no leak. */
export function runPassed(run: FuzzRun): boolean {
  return !run.fatal && run.control.length > 0 && run.leakControl.length > 0 && run.targets.every((t) => t.skipped !== undefined || (t.exitStatus === 0 && !t.reports.length && !t.leaks.length));
}

const ALL_REPORTS = CRASH_PATTERNS.map((p) => p.re);

/** Whether the kernel's configuration has KCOV (checked before any boot; the guest's debugfs is checked again). */
export function kernelHasKcov(kernel: KernelSeries): boolean {
  return kernelConfig(kernel, 'CONFIG_KCOV') === 'y';
}

async function sh(vm: Vm, script: string): Promise<string> {
  const r = await vm.exec('sh', ['-c', script]);
  if (r.status !== 0) throw new Error(`guest: ${script}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function snapshot(vm: Vm): Promise<Snapshot> {
  const meminfo = await sh(vm, 'sync; echo 3 > /proc/sys/vm/drop_caches; cat /proc/meminfo');
  // Right after: the free pages on the per-CPU lists, which MemFree leaves out.
  const zoneinfo = await sh(vm, 'cat /proc/zoneinfo');
  // The pin counters are per-CPU counters folded into the global ones now and
  // then: /proc/vmstat alone can be a few counts behind on either side.
  // stat_refresh folds them first.
  return { meminfo, zoneinfo, vmstat: await sh(vm, 'echo 1 > /proc/sys/vm/stat_refresh; cat /proc/vmstat') };
}

let markerSeq = 0;
async function mark(vm: Vm, what: string): Promise<string> {
  const marker = `mirrorlab-fuzz ${process.pid}-${++markerSeq} ${what}`;
  await vm.request('kmsg', [`<5>${marker}\n`]);
  return marker;
}

async function dmesgSince(vm: Vm, marker: string): Promise<string> {
  return logSince(await sh(vm, 'dmesg'), marker);
}

/**
 * The detector's positive controls: mltrigger's WARN must be flagged, on the
 * console and in dmesg, and the memory it leaks ("leak": 64 MiB kmalloc'd and
 * dropped, twice the tolerance) must be flagged by the leak check.
 */
async function positiveControl(vm: Vm): Promise<{ warn: KernelReport[]; leak: string[] }> {
  const before = await snapshot(vm);
  await vm.loadModule('mltrigger');
  const marker = await mark(vm, 'control');
  const { lines } = await vm.allowing([/mltrigger|WARNING:/], () => sh(vm, 'echo warn > /dev/mltrigger'));
  const found = scanKernelLog(await dmesgSince(vm, marker));
  await sh(vm, 'echo leak > /dev/mltrigger');
  await vm.unloadModule('mltrigger');
  const leak = leaks(before, await snapshot(vm)).filter((l) => l.startsWith('memory:'));
  // Both views must see it: the console (what a crashing guest leaves) and dmesg.
  return { warn: lines.length && found.some((r) => /mltrigger/.test(r.line) || r.kind === 'warning') ? found : [], leak };
}

async function loadTarget(vm: Vm, target: FuzzTarget, hmm: SelftestsBuild | null): Promise<void> {
  await vm.loadModule('fakevram', { kind: 'iomem', base: vm.iomem.base + FAKEVRAM_OFFSET, size: FAKEVRAM_SIZE });
  if (target === 'mirrordrm') await vm.loadModule('mirrordrm');
  if (target === 'test_hmm') {
    const state = await loadTestHmm(vm, hmm!);
    if (!state.startsWith('loaded')) throw new Error(`test_hmm: ${state}`);
  }
}

/** Unloads the target's modules, newest first; what would not unload, in words. */
async function unloadTarget(vm: Vm, target: FuzzTarget): Promise<string[]> {
  const out: string[] = [];
  for (const m of [...TARGET_MODULES[target]].reverse()) {
    const r = await vm.exec('rmmod', [m]);
    if (r.status !== 0) out.push(`module ${m}: rmmod failed (${r.status}): ${r.stderr.trim()}`);
  }
  return out;
}

function skippedTarget(target: FuzzTarget, why: string): TargetResult {
  const none = { before: null, after: null };
  return { target, skipped: why, calls: 0, seconds: 0, callsPerSecond: 0, errnos: {}, reports: [], leaks: [], coverage: null, kept: [], loaded: 0, recent: [], exitStatus: 0, pins: { acquired: null, released: null }, memAvailableKiB: none, freeKiB: none, perCpuFreeKiB: none };
}

async function fuzzTarget(vm: Vm, opts: FuzzOptions, target: FuzzTarget, hmm: SelftestsBuild | null, coverage: boolean): Promise<TargetResult> {
  const before = await snapshot(vm);
  await loadTarget(vm, target, hmm);
  const marker = await mark(vm, target);
  const args = ['--target', target, '--calls', String(opts.calls), '--seed', String(opts.seed), '--threads', String(opts.threads)];
  if (coverage) args.push('--coverage');
  const corpus = opts.corpus?.[target];
  if (corpus?.length) {
    const file = `/tmp/mlfuzz-${target}.corpus`;
    const w = await vm.exec('sh', ['-c', `cat > ${file}`], { input: corpus.join('\n') + '\n' });
    if (w.status !== 0) throw new Error(`guest: writing ${file}: ${w.stderr.trim()}`);
    args.push('--corpus', file);
  }
  // A generous limit: 500 calls/s is far below what TCG managed (docs/fuzz.md).
  const timeoutMs = 120_000 + Math.ceil(opts.calls / 500) * 1000;
  const { value: r, lines } = await vm.allowing(ALL_REPORTS, () => vm.exec(GUEST_FUZZER, args, { timeoutMs }));
  const out = parseFuzzerOutput(r.stdout);
  const unload = await unloadTarget(vm, target);
  const after = await snapshot(vm);
  const logged = scanKernelLog(await dmesgSince(vm, marker));
  const reports = [
    ...out.reports.map((x) => `fuzzer: thread ${x.thread} call ${x.call} (--seed ${x.seed}): ${x.line}`),
    ...lines.map((l) => `console: ${l}`),
    ...logged.map((x) => `dmesg: ${x.kind}: ${x.line}`),
  ];
  if (r.status !== 0 || !out.finished) reports.push(`mlfuzz exit status ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const field = procField;
  return {
    target,
    calls: out.calls,
    seconds: out.seconds,
    callsPerSecond: out.seconds > 0 ? Math.round(out.calls / out.seconds) : 0,
    errnos: out.errnos,
    reports,
    coverage: out.coverage,
    kept: out.kept.map((k) => k.call),
    loaded: out.loaded?.entries ?? 0,
    recent: out.recent,
    leaks: [...unload, ...leaks(before, after)],
    exitStatus: r.status,
    pins: { acquired: field(after.vmstat, 'nr_foll_pin_acquired'), released: field(after.vmstat, 'nr_foll_pin_released') },
    memAvailableKiB: { before: field(before.meminfo, 'MemAvailable'), after: field(after.meminfo, 'MemAvailable') },
    freeKiB: { before: freeWithPerCpuKiB(before, 'MemFree'), after: freeWithPerCpuKiB(after, 'MemFree') },
    perCpuFreeKiB: { before: perCpuFreeKiB(before.zoneinfo), after: perCpuFreeKiB(after.zoneinfo) },
  };
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzRun> {
  const progress = opts.onProgress ?? (() => {});
  for (const t of opts.targets) {
    if (!FUZZ_TARGETS.includes(t)) throw new RangeError(`unknown fuzz target ${JSON.stringify(t)} (one of: ${FUZZ_TARGETS.join(', ')})`);
  }
  const mode = opts.coverage ?? 'auto';
  if (mode === 'on' && !kernelHasKcov(opts.kernel)) {
    throw Object.assign(new Error(`fuzz --coverage on: kernel ${opts.kernel} has no KCOV (CONFIG_KCOV); our debug kernels have it: mirrorlab kernel build --series ${opts.kernel.split(/[-+]/)[0]} --flavour debug`), { code: 'ERR_FUZZ_NO_KCOV' });
  }
  const fuzzer = ensureFuzzer();
  let hmm: SelftestsBuild | null = null;
  let hmmMissing = '';
  if (opts.targets.includes('test_hmm')) {
    const found = selftestsBuild(opts.kernel);
    if ('missing' in found) hmmMissing = found.missing;
    else if (found.manifest.testHmm !== true) hmmMissing = `test_hmm.ko not built for ${found.manifest.release}: ${found.manifest.testHmm}`;
    else hmm = found;
  }
  const extraInitrd = [fuzzer.archive, ...(hmm ? [selftestsArchive(opts.kernel, hmm)] : [])];
  const cpus = opts.vm?.cpus ?? 2;
  // No boot-time 1 GiB hugetlb page: the fuzzer maps 2 MiB ones only.
  const vm = await Vm.boot({ kernel: opts.kernel, hugepages1G: 0, callTimeoutMs: 600_000, ...opts.vm, cpus, extraInitrd });
  const run: FuzzRun = { kernel: opts.kernel, release: vm.release, accel: vm.accel, cpus, seed: opts.seed, threads: opts.threads, control: [], leakControl: [], kcov: '', coverage: false, targets: [] };
  try {
    const kcov = (await vm.exec('test', ['-e', '/sys/kernel/debug/kcov'])).status === 0;
    run.coverage = kcov && mode !== 'off';
    run.kcov = !kcov
      ? 'no KCOV in this kernel: a plain random campaign, its call sequence fixed by the seed'
      : run.coverage
        ? 'KCOV present: coverage-guided (calls that reach a new edge are kept and mutated; the sequence is no longer fixed by the seed alone)'
        : 'KCOV present, coverage off (--coverage off): a plain random campaign, its call sequence fixed by the seed';
    if (mode === 'on' && !kcov) throw new Error(`${opts.kernel} has CONFIG_KCOV but no /sys/kernel/debug/kcov in the guest`);
    progress(`${opts.kernel}: ${run.kcov}`);
    const control = await positiveControl(vm);
    run.control = control.warn;
    run.leakControl = control.leak;
    progress(`${opts.kernel}: positive control: ${run.control.length ? `flagged (${run.control[0].line})` : 'NOT flagged'}`);
    progress(`${opts.kernel}: leak control: ${run.leakControl.length ? `flagged (${run.leakControl[0]})` : 'NOT flagged'}`);
    for (const target of opts.targets) {
      if (target === 'test_hmm' && !hmm) {
        run.targets.push(skippedTarget(target, hmmMissing));
        progress(`${opts.kernel}: test_hmm skipped: ${hmmMissing}`);
        continue;
      }
      progress(`${opts.kernel}: ${target}: ${opts.calls} calls, seed ${opts.seed}, ${opts.threads} threads`);
      const t = await fuzzTarget(vm, opts, target, hmm, run.coverage);
      run.targets.push(t);
      progress(`${opts.kernel}: ${target}: ${t.calls} calls in ${t.seconds.toFixed(1)} s (${t.callsPerSecond} calls/s), ${t.reports.length} reports, ${t.leaks.length} leaks${t.coverage ? `; coverage: ${t.coverage.edges} edges, ${t.coverage.pcs} PCs, ${t.coverage.kept} calls kept` : ''}`);
    }
    await vm.close();
  } catch (e) {
    await vm.kill();
    run.fatal = (e as Error).message;
  }
  return run;
}
