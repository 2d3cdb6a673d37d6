// mirrorlab fuzz --kernel K [--target mirrordrm|fakevram|test_hmm|all]
//                [--calls N] [--seed S] [--threads T] [--coverage auto|on|off]
//                [--corpus DIR] [--json] [--dry-run]
// The ioctl fuzzer (kernel-patches/fuzz/mlfuzz.c) in a guest of each kernel:
// exit 0 when the positive control was flagged and every target ran with no
// kernel report and no leak, 1 otherwise, 2 for bad arguments.
import { execFileSync } from 'node:child_process';
import { writeFileAtomic } from '../atomic-file.js';
import { kernelProblem } from '../cli/checks.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, kernelSeries, type KernelSeries } from '../vm/kernels.js';
import { ensureFuzzer } from './build.js';
import { formatHistogram } from './detect.js';
import fs from 'node:fs';
import path from 'node:path';
import { COVERAGE_MODES, FUZZ_TARGETS, kernelHasKcov, runFuzz, runPassed, type CoverageMode, type FuzzRun, type FuzzTarget } from './run.js';

/** The fuzzer's own limit (mlfuzz.c main). */
const MAX_THREADS = 64;

export const fuzzSpec = {
  name: 'fuzz',
  summary: 'Fuzzes every ioctl of mirrordrm, fakevram and test_hmm in a guest (deterministic by seed), then checks for kernel reports, pins, memory and module unload.',
  options: {
    kernel: { type: 'string', list: true, check: kernelProblem, arg: KERNEL_SERIES.join('|'), help: `kernel series (default ${DEFAULT_KERNELS.join(',')}); or a kernel we build: S-test, S-debug, S-test+NAME` },
    target: { type: 'string', values: [...FUZZ_TARGETS, 'all'], default: 'all', arg: 'NAME', help: 'the module whose ioctls are fuzzed' },
    calls: { type: 'integer', min: 1, default: 10000, arg: 'N', help: 'calls per target, all threads together' },
    seed: { type: 'integer', min: 0, default: 1, arg: 'S', help: 'the seed every thread derives its own from' },
    threads: { type: 'integer', min: 1, default: 2, arg: 'T', help: `racing threads (at most ${MAX_THREADS})` },
    coverage: { type: 'string', values: [...COVERAGE_MODES], default: 'auto', arg: 'MODE', help: 'KCOV coverage guidance: auto (where the kernel has KCOV: our debug kernels), on (required), off (the seed fixes the sequence)' },
    corpus: { type: 'string', arg: 'DIR', help: 'a corpus per kernel and target (DIR/KERNEL-TARGET.corpus): its calls are made first, and the calls kept for new coverage (and the recent calls of a report) are added to it' },
    json: { type: 'boolean', help: 'print the runs as JSON' },
    'dry-run': { type: 'boolean', help: 'print the call sequence the seed gives (on this machine, no guest) and run nothing' },
  },
  notes: 'exit status: 0 no kernel report and nothing leaked, 1 a report, a leak, an unflagged positive control or a dead guest, 2 a usage error (nothing boots).',
} as const satisfies CommandSpec;

export function formatFuzzRun(run: FuzzRun): string {
  const out: string[] = [];
  out.push(`fuzz on ${run.kernel}: ${run.release}, ${run.accel}, ${run.cpus} vCPUs, seed ${run.seed}, ${run.threads} threads; ${run.kcov}`);
  out.push(`positive control (mltrigger WARN): ${run.control.length ? `flagged: ${run.control[0].line}` : 'NOT flagged: the detector is blind'}`);
  out.push(`leak control (mltrigger leaks 64 MiB): ${run.leakControl.length ? `flagged: ${run.leakControl[0]}` : 'NOT flagged: the leak check is blind'}`);
  for (const t of run.targets) {
    if (t.skipped !== undefined) {
      out.push(`${t.target}: skipped: ${t.skipped}`);
      continue;
    }
    const pins = t.pins.acquired === null ? 'no pin counters' : `pins ${t.pins.acquired} acquired, ${t.pins.released} released`;
    const mem =
      t.freeKiB.before === null
        ? ''
        : `, MemFree + per-CPU free lists ${t.freeKiB.before} -> ${t.freeKiB.after} kB (per-CPU ${t.perCpuFreeKiB.before} -> ${t.perCpuFreeKiB.after} kB), MemAvailable ${t.memAvailableKiB.before} -> ${t.memAvailableKiB.after} kB`;
    out.push(`${t.target}: ${t.calls} calls in ${t.seconds.toFixed(1)} s (${t.callsPerSecond} calls/s); ${pins}${mem}`);
    if (t.loaded) out.push(`  corpus: ${t.loaded} calls made first`);
    if (t.coverage) {
      const c = t.coverage;
      out.push(`  coverage (KCOV): ${c.edges} edges, ${c.pcs} PCs; ${c.kept} calls kept for a new edge (corpus now ${c.corpus})${c.full ? `; ${c.full} calls filled the trace buffer` : ''}`);
    }
    for (const l of formatHistogram(t.errnos)) out.push(`  ${l}`);
    out.push(`  ${t.reports.length} kernel reports${t.reports.length ? ':' : ''}`);
    for (const r of t.reports) out.push(`    ${r}`);
    if (t.recent.length) out.push(`  the reading thread's last ${t.recent.length} calls (mirrorlab fuzz --corpus replays them): ${t.recent[0]} ... ${t.recent[t.recent.length - 1]}`);
    out.push(`  ${t.leaks.length ? `${t.leaks.length} leaks:` : 'nothing leaked; modules unloaded'}`);
    for (const l of t.leaks) out.push(`    ${l}`);
  }
  if (run.fatal) out.push(`the guest died: ${run.fatal}`);
  out.push(runPassed(run) ? 'PASS' : 'FAIL');
  return out.join('\n');
}

/** A corpus directory must be a writable directory (made if missing) before anything boots. */
function checkCorpusDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    if (!fs.statSync(dir).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new UsageError('fuzz', `--corpus ${dir}: not a writable directory (${(e as Error).message})`);
  }
}

export function corpusFile(dir: string, kernel: KernelSeries, target: FuzzTarget): string {
  return path.join(dir, `${kernel}-${target}.corpus`);
}

/** The call lines of a corpus file (none when it does not exist). */
function corpusLines(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('call t')) : [];
}

export function readCorpus(dir: string, kernel: KernelSeries, targets: FuzzTarget[]): Partial<Record<FuzzTarget, string[]>> {
  const out: Partial<Record<FuzzTarget, string[]>> = {};
  for (const t of targets) {
    const f = corpusFile(dir, kernel, t);
    if (fs.existsSync(f)) out[t] = corpusLines(f);
  }
  return out;
}

/** Adds what the run kept (and a report's recent calls) to the corpus files, each call once. */
export function writeCorpus(dir: string, run: FuzzRun): void {
  for (const t of run.targets) {
    const add = [...t.recent, ...t.kept];
    if (!add.length) continue;
    const f = corpusFile(dir, run.kernel, t.target);
    const have = corpusLines(f);
    // the same call made again counts once: compare without its thread and index
    const key = (l: string): string => l.replace(/^call t\d+ #\d+ /, '');
    const seen = new Set(have.map(key));
    const lines = [...have];
    for (const l of add) if (!seen.has(key(l))) (seen.add(key(l)), lines.push(l));
    writeFileAtomic(f, lines.join('\n') + '\n');
  }
}

export async function fuzzCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(fuzzSpec, argv);
  if (values.threads > MAX_THREADS) {
    throw new UsageError('fuzz', `--threads must be an integer from 1 to ${MAX_THREADS}, got ${values.threads}`);
  }
  const targets: FuzzTarget[] = values.target === 'all' ? [...FUZZ_TARGETS] : [values.target as FuzzTarget];
  if (values['dry-run']) {
    const { binary } = ensureFuzzer();
    for (const t of targets) {
      process.stdout.write(execFileSync(binary, ['--dry-run', '--target', t, '--calls', String(values.calls), '--seed', String(values.seed), '--threads', String(values.threads)], { encoding: 'utf8', maxBuffer: 1 << 30 }));
    }
    return 0;
  }
  const kernels: KernelSeries[] = values.kernel.length ? values.kernel.map(kernelSeries) : [...DEFAULT_KERNELS];
  const coverage = values.coverage as CoverageMode;
  if (coverage === 'on') {
    const without = kernels.filter((k) => !kernelHasKcov(k));
    if (without.length) throw new UsageError('fuzz', `--coverage on: no KCOV in ${without.join(', ')} (our debug kernels have it: --kernel S-debug, built by mirrorlab kernel build --flavour debug)`);
  }
  const corpusDir = values.corpus;
  if (corpusDir !== undefined) checkCorpusDir(corpusDir);
  const runs: FuzzRun[] = [];
  for (const kernel of kernels) {
    const corpus = corpusDir === undefined ? undefined : readCorpus(corpusDir, kernel, targets);
    const run = await runFuzz({ kernel, targets, calls: values.calls, seed: values.seed, threads: values.threads, coverage, corpus, onProgress: (m) => console.error(`mirrorlab fuzz: ${m}`) });
    if (corpusDir !== undefined) writeCorpus(corpusDir, run);
    runs.push(run);
    if (!values.json) console.log(formatFuzzRun(run) + '\n');
  }
  if (values.json) console.log(JSON.stringify(runs, null, 2));
  return runs.every(runPassed) ? 0 : 1;
}
