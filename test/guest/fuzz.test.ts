// A short fuzz campaign per kernel (mirrorlab fuzz, src/fuzz/run.ts): a few
// thousand calls per target, fixed seeds, two racing threads. Asserts the
// detector's positive controls (mltrigger's WARN and its 64 MiB leak flagged), zero kernel
// reports, balanced pins, modules unloaded and memory back for our modules.
// test_hmm is not fuzzed here: the upstream test module wedges the 7.2 guest
// under the fuzzer (docs/fuzz.md, "test_hmm"), which is a finding about it,
// not about our modules, and CI would only ever report that.
// The long campaign is `mirrorlab fuzz --calls 1000000` (docs/fuzz.md).
import { beforeAll, describe, expect, it } from 'vitest';
import { caseId, caseOf } from './cases.js';
import { ensureGuestBuild, kernels, skipReason } from './helpers.js';
import { runFuzz, type FuzzRun, type FuzzTarget } from '../../src/fuzz/run.js';
import { formatFuzzRun } from '../../src/fuzz/cli.js';
import { DEFAULT_KERNELS, kernelSeries, type KernelSeries } from '../../src/vm/kernels.js';

const CALLS = 3000;
const SEED = 1;
const TARGETS: FuzzTarget[] = ['mirrordrm', 'fakevram'];
const matrix = kernels();
beforeAll(() => ensureGuestBuild(matrix.filter((k) => !skipReason(k))), 600_000);

for (const kernel of matrix) {
  const reason = skipReason(kernel);
  describe.skipIf(reason !== null)(`fuzz on ${kernel}`, () => {
    let run: FuzzRun;
    beforeAll(async () => {
      run = await runFuzz({ kernel, targets: TARGETS, calls: CALLS, seed: SEED, threads: 2 });
      console.log(formatFuzzRun(run));
    }, 900_000);

    it(...caseOf('fuzz-control', 'the detector flags the WARN mltrigger raises (console and dmesg): a blind detector fails the campaign'), () => {
      expect(run.fatal).toBeUndefined();
      expect(run.control.length).toBeGreaterThan(0);
      expect(run.control[0].kind).toBe('warning');
      expect(run.control[0].line).toMatch(/mltrigger/);
    });

    it(...caseOf('fuzz-leak-control', 'the leak check flags the 64 MiB mltrigger leaks: MemFree and MemAvailable (per-CPU free lists added back) both short by it, to within 4 MiB, and SUnreclaim grown by all of it'), () => {
      expect(run.fatal).toBeUndefined();
      expect(run.leakControl).toHaveLength(2);
      for (const [i, field] of ['MemFree', 'MemAvailable'].entries()) {
        const m = new RegExp(`^memory: ${field} \\+ per-CPU free lists \\d+ kB after, \\d+ kB before: (\\d+) kB not back`).exec(run.leakControl[i]);
        expect(m, run.leakControl[i]).not.toBeNull();
        // 64 MiB kmalloc'd and dropped. Other memory moves meanwhile (the
        // page cache, per-CPU lists): 6.12 once had 64184 kB not back, 328 kB
        // short of the leak, so the shortfall is held to within 4 MiB of it,
        // and the unreclaimable slab, where the leak is, to all of it.
        expect(Number(m![1]), run.leakControl[i]).toBeGreaterThanOrEqual(64 * 1024 - 4096);
        const slab = /SUnreclaim \+(\d+) kB/.exec(run.leakControl[i]);
        expect(slab, run.leakControl[i]).not.toBeNull();
        expect(Number(slab![1]), run.leakControl[i]).toBeGreaterThanOrEqual(64 * 1024);
      }
    });

    for (const target of TARGETS) {
      it(...caseOf(caseId('fuzz-short', target), `${CALLS} calls (seed ${SEED}, 2 threads) of every ${target} ioctl: no kernel report, pins balanced, module unloaded, memory back`), () => {
        const t = run.targets.find((x) => x.target === target);
        expect(t, `${target} ran`).toBeDefined();
        expect(t!.skipped).toBeUndefined();
        expect(t!.exitStatus).toBe(0);
        expect(t!.calls).toBe(CALLS);
        expect(t!.reports).toEqual([]);
        expect(t!.leaks).toEqual([]);
        if (t!.pins.acquired !== null) expect(t!.pins.acquired).toBe(t!.pins.released);
        // The calls reached the driver: some of its ioctls succeeded.
        const succeeded = Object.entries(t!.errnos).filter(([op, e]) => /^(MIRRORDRM|FAKEVRAM|HMM)_/.test(op) && (e.ok ?? 0) > 0);
        expect(succeeded.length).toBeGreaterThan(0);
      });
    }
  });
}

// Coverage guidance needs KCOV, which only our debug kernel has (mirrorlab
// kernel build --flavour debug). The campaign keeps the calls that reached a
// new edge; a second run makes those calls first (--corpus) and must make
// exactly them, with the detector as quiet as before.
const DEBUG: KernelSeries = kernelSeries(`${DEFAULT_KERNELS[DEFAULT_KERNELS.length - 1]}-debug`);
const COVERAGE_CALLS = 2000;
const debugReason = skipReason(DEBUG);
describe.skipIf(debugReason !== null)(`coverage-guided fuzz on ${DEBUG}`, () => {
  let run: FuzzRun;
  let replay: FuzzRun;
  beforeAll(async () => {
    await ensureGuestBuild([DEBUG]);
    run = await runFuzz({ kernel: DEBUG, targets: TARGETS, calls: COVERAGE_CALLS, seed: SEED, threads: 2, coverage: 'on' });
    console.log(formatFuzzRun(run));
    const kept = run.targets.find((t) => t.target === 'fakevram')?.kept ?? [];
    replay = await runFuzz({ kernel: DEBUG, targets: ['fakevram'], calls: Math.max(1, kept.length), seed: SEED, threads: 1, coverage: 'on', corpus: { fakevram: kept } });
    console.log(formatFuzzRun(replay));
  }, 1_800_000);

  for (const target of TARGETS) {
    it(...caseOf(caseId('fuzz-coverage', target), `${COVERAGE_CALLS} coverage-guided calls of every ${target} ioctl on ${DEBUG} (KCOV, KASAN, lockdep): edges found, the calls that found them kept (some of them ${target}'s own ioctls), no kernel report, no leak`, { kernel: DEBUG }), () => {
      expect(run.fatal).toBeUndefined();
      expect(run.coverage).toBe(true);
      expect(run.control.length).toBeGreaterThan(0);
      const t = run.targets.find((x) => x.target === target)!;
      expect(t.exitStatus).toBe(0);
      expect(t.calls).toBe(COVERAGE_CALLS);
      expect(t.reports).toEqual([]);
      expect(t.leaks).toEqual([]);
      const c = t.coverage!;
      expect(c, 'a coverage line').not.toBeNull();
      expect(c.edges).toBeGreaterThan(0);
      expect(c.pcs).toBeGreaterThan(0);
      // every kept call reached at least one new edge; fewer calls than made
      expect(c.kept).toBe(t.kept.length);
      expect(c.kept).toBeGreaterThan(0);
      expect(c.kept).toBeLessThanOrEqual(c.edges);
      expect(c.kept).toBeLessThan(COVERAGE_CALLS);
      // the driver's own ioctls found new edges, not only mmap and friends
      const prefix = target === 'mirrordrm' ? /^call t\d+ #\d+ (MIRRORDRM|DRM)_/ : /^call t\d+ #\d+ FAKEVRAM_/;
      expect(t.kept.filter((l) => prefix.test(l)).length).toBeGreaterThan(0);
    });
  }

  it(...caseOf('fuzz-corpus-replay', `the fakevram calls kept on ${DEBUG} made again first (--corpus, one thread): exactly those calls, no report, no leak`, { kernel: DEBUG }), () => {
    expect(replay.fatal).toBeUndefined();
    const kept = run.targets.find((t) => t.target === 'fakevram')!.kept;
    const t = replay.targets[0];
    expect(t.exitStatus).toBe(0);
    expect(t.loaded).toBe(kept.length);
    expect(t.calls).toBe(kept.length);
    expect(t.coverage!.loaded).toBe(kept.length);
    expect(t.reports).toEqual([]);
    expect(t.leaks).toEqual([]);
    // the calls made were the corpus's: per operation, as many as the corpus holds
    const perOp = new Map<string, number>();
    for (const l of kept) {
      const op = /^call t\d+ #\d+ (\S+) /.exec(l)![1];
      perOp.set(op, (perOp.get(op) ?? 0) + 1);
    }
    const made = Object.fromEntries(Object.entries(t.errnos).map(([op, e]) => [op, Object.values(e).reduce((a, b) => a + b, 0)]));
    expect(made).toEqual(Object.fromEntries(perOp));
  });
});
