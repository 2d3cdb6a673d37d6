// The guest benchmark suites (fakevram, mirrordrm) end to end through the
// bench runner with --quick on each kernel: results valid against the schema,
// fault counts exact, comparisons present with their spread, kernel
// differences reported as skips with the reason. Nothing here asserts a speed.
import { caseOf } from './cases.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/runner.js';
import { guestFakevramSuite } from '../../src/bench/suites/guest-fakevram.js';
import { guestMirrordrmSuite } from '../../src/bench/suites/guest-mirrordrm.js';
import type { Results, SuiteResult } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import type { Suite } from '../../src/bench/suite.js';
import { ensureGuestBuild, kernels, ourQemuPids, skipReason } from './helpers.js';
import { kernelInfo, kernelSeries } from '../../src/vm/kernels.js';

const matrix = kernels().filter((k) => !skipReason(k));
const GiB = 1 << 30;

describe.skipIf(matrix.length === 0)('guest bench suites, --quick', () => {
  let results: Results;
  let ktap = '';
  beforeAll(async () => {
    await ensureGuestBuild(matrix);
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-guest-bench-'));
    const lines: string[] = [];
    const started = Date.now();
    const run = await runBench({ suites: [guestFakevramSuite, guestMirrordrmSuite], kernels: matrix, quick: true, outDir, log: (l) => lines.push(l) });
    console.log(`guest bench --quick on ${matrix.join(', ')}: ${((Date.now() - started) / 1000).toFixed(0)} s\n${lines.join('\n')}`);
    results = JSON.parse(readFileSync(run.written.json, 'utf8')) as Results;
    ktap = readFileSync(run.written.ktap, 'utf8');
  }, 1_500_000);

  const suite = (id: string, kernel: string): SuiteResult => {
    const s = results.suites.find((x) => x.id === id && x.kernel === kernel);
    if (!s) throw new Error(`no ${id}@${kernel} in the results`);
    return s;
  };
  const warmOf = (s: SuiteResult, id: string): number[] => {
    const m = s.measurements.find((x) => x.id === id);
    if (!m) throw new Error(`no measurement ${id} in ${s.id}@${s.kernel}`);
    return m.samples;
  };

  it(...caseOf('results-valid', 'writes results that validate against the schema, every suite complete with no failed check'), () => {
    expect(validateResults(results)).toEqual([]);
    expect(results.run.quick).toBe(true);
    expect(results.suites.map((s) => `${s.id}@${s.kernel}`)).toEqual(['guest/fakevram', 'guest/mirrordrm'].flatMap((id) => matrix.map((k) => `${id}@${k}`)));
    for (const s of results.suites) {
      expect(s.status, `${s.id}@${s.kernel}: ${s.reason ?? ''}`).toBe('complete');
      // the release the kernel cache holds (a kernel we build: 7.2.13-mirrorlab-debug for 7.2-debug)
      expect(s.guest?.release).toBe(kernelInfo(kernelSeries(s.kernel!)).release);
      expect(s.checks.filter((c) => c.status === 'fail')).toEqual([]);
    }
    expect(ktap).toMatch(/^KTAP version 1/m);
  });

  for (const kernel of matrix) {
    const huge = kernel !== '6.1';
    it(...caseOf('fakevram-fault-counts', `${kernel}: fakevram fault counts are exact per entry size and policy`, { kernel }), () => {
      const s = suite('guest/fakevram', kernel);
      // touched once per 4 KiB: one fault per entry
      expect(new Set(warmOf(s, 'faults/touch-all/per-fault/pte'))).toEqual(new Set([GiB / 4096]));
      expect(new Set(warmOf(s, 'faults/touch-1-per-2M/per-fault/pte'))).toEqual(new Set([GiB / (2 << 20)]));
      expect(new Set(warmOf(s, 'faults/touch-all/prefault/pte'))).toEqual(new Set([1]));
      if (huge) {
        expect(new Set(warmOf(s, 'faults/touch-all/per-fault/pmd'))).toEqual(new Set([GiB / (2 << 20)]));
        expect(new Set(warmOf(s, 'faults/touch-all/per-fault/pud'))).toEqual(new Set([1]));
        expect(new Set(warmOf(s, 'faults/touch-1-per-2M/per-fault/pud'))).toEqual(new Set([1]));
      } else {
        expect(s.measurements.some((m) => m.params.entry === 'pmd' || m.params.entry === 'pud')).toBe(false);
        const skips = s.checks.filter((c) => c.status === 'skip');
        expect(skips.map((c) => c.name)).toEqual([`pmd entries on ${kernel}`, `pud entries on ${kernel}`]);
        for (const c of skips) expect(c.reason).toMatch(/no huge pfnmap/);
      }
      for (const m of s.measurements.filter((x) => x.unit === 'ms')) {
        expect(m.warm.n, m.id).toBeGreaterThanOrEqual(3);
        expect(m.cold?.n, m.id).toBe(1);
      }
    });

    it(...caseOf('fakevram-comparisons', `${kernel}: fakevram comparisons with their spread; the pte/pmd and pte/pud targets reported on 6.12`, { kernel }), () => {
      const s = suite('guest/fakevram', kernel);
      for (const c of s.comparisons) {
        expect(c.ratio.lo, c.id).toBeLessThanOrEqual(c.ratio.median);
        expect(c.ratio.median, c.id).toBeLessThanOrEqual(c.ratio.hi);
      }
      const ids = s.comparisons.map((c) => c.id);
      expect(ids).toContain('per-fault/prefault touch-all pte');
      expect(ids).toContain('per-fault/prefault touch-1-per-2M pte');
      if (huge) {
        const pmd = s.comparisons.find((c) => c.id === 'pte/pmd touch-all')!;
        const pud = s.comparisons.find((c) => c.id === 'pte/pud touch-all')!;
        expect(pmd.target).toEqual({ op: '>=', value: 100, met: pmd.ratio.median >= 100 });
        expect(pud.target).toEqual({ op: '>=', value: 1000, met: pud.ratio.median >= 1000 });
        console.log(`${kernel} fakevram: pte/pmd ${pmd.ratio.median.toFixed(1)} [${pmd.ratio.lo.toFixed(1)}, ${pmd.ratio.hi.toFixed(1)}] (target >= 100 ${pmd.target!.met ? 'met' : 'not met'}), pte/pud ${pud.ratio.median.toFixed(1)} [${pud.ratio.lo.toFixed(1)}, ${pud.ratio.hi.toFixed(1)}] (target >= 1000 ${pud.target!.met ? 'met' : 'not met'})`);
        expect(s.plots.filter((p) => p.kind === 'bars')[0]).toMatchObject({ label: 'entry', measurements: ['fault-in/touch-all/per-fault/pte', 'fault-in/touch-all/per-fault/pmd', 'fault-in/touch-all/per-fault/pud'] });
      } else {
        expect(ids.filter((id) => id.startsWith('pte/'))).toEqual([]);
      }
    });

    it(...caseOf('mirrordrm-registration', `${kernel}: mirrordrm registration per mode and backing, revalidation and callbacks, with comparisons and curves`, { kernel }), () => {
      const s = suite('guest/mirrordrm', kernel);
      for (const backing of ['anon', 'thp', 'hugetlb-2M']) {
        for (const mode of ['gup', 'gup-longterm', 'gup-get', 'hmm']) {
          const label = backing === 'anon' ? '4K' : '2M';
          const m = s.measurements.find((x) => x.id === `registration/${backing}/${mode}/${label}`);
          expect(m, `${backing} ${mode}`).toBeDefined();
          expect(m!.unit).toBe('ns/page');
          expect(m!.warm.min).toBeGreaterThan(0);
        }
      }
      // THP and hugetlb buffers really were PMD-mapped (the check passed, see the first test).
      expect(s.checks.filter((c) => /pages mapped at order 9/.test(c.name)).map((c) => c.status)).toEqual(['pass', 'pass']);
      const gh = s.comparisons.filter((c) => c.id.startsWith('gup/hmm '));
      expect(gh.map((c) => c.id)).toEqual(['gup/hmm anon 4K', 'gup/hmm anon 2M', 'gup/hmm thp 2M', 'gup/hmm hugetlb-2M 2M']);
      for (const c of s.comparisons) {
        expect(c.ratio.lo, c.id).toBeLessThanOrEqual(c.ratio.median);
        expect(c.ratio.median, c.id).toBeLessThanOrEqual(c.ratio.hi);
      }
      console.log(`${kernel} mirrordrm gup/hmm: ${gh.map((c) => `${c.id.slice(8)} ${c.ratio.median.toFixed(2)} [${c.ratio.lo.toFixed(2)}, ${c.ratio.hi.toFixed(2)}]`).join('; ')}`);
      const curves = s.plots.filter((p) => p.kind === 'curve');
      expect(curves).toHaveLength(3);
      for (const p of curves) expect(p).toMatchObject({ x: 'size', series: 'mode', logX: true });
      const ids = s.measurements.map((m) => m.id);
      expect(ids).toEqual(expect.arrayContaining(['revalidation/hmm/warm', 'revalidation/hmm/after-dontneed', 'revalidation/gup-repin/warm', 'revalidation/gup-repin/after-dontneed']));
      expect(ids).toEqual(expect.arrayContaining(['callback/gup/UNMAP', 'callback/hmm/UNMAP', 'callback/gup/CLEAR', 'callback/hmm/CLEAR', 'callback/gup/PROTECTION_VMA', 'callback/hmm/PROTECTION_VMA']));
      expect(s.comparisons.map((c) => c.id)).toEqual(expect.arrayContaining(['revalidation slowdown hmm', 'callback gup/hmm UNMAP']));
    });
  }

  it(...caseOf('ctrl-c', 'Ctrl-C in the middle of a guest call: the guest is killed at once, the suite is marked incomplete, no QEMU is left', { timeout: 300_000 }), async () => {
    const kernel = matrix[matrix.length - 1];
    const controller = new AbortController();
    // Abort 2 s into the first round of fault-ins (a guest call in flight).
    const suite: Suite = {
      ...guestFakevramSuite,
      run: (ctx) => guestFakevramSuite.run({ ...ctx, step: (d) => (ctx.step(d), void setTimeout(() => controller.abort(), 2000)) }),
    };
    const started = Date.now();
    const run = await runBench({ suites: [suite], kernels: [kernel], quick: true, outDir: mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-guest-bench-')), signal: controller.signal, log: () => {} });
    const s = run.results.suites[0];
    console.log(`aborted ${kernel} fakevram suite: ${s.status} (${s.reason}) after ${((Date.now() - started) / 1000).toFixed(1)} s, ${s.measurements.length} measurements`);
    expect(s.status).toBe('incomplete');
    expect(run.results.run.complete).toBe(false);
    expect(s.guest?.release).toBeDefined();
    expect(ourQemuPids()).toEqual([]);
    expect(validateResults(JSON.parse(readFileSync(run.written.json, 'utf8')))).toEqual([]);
  });
});
