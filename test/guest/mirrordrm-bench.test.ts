// mirrordrm benchmarks in one guest (the newest kernel of the run, or
// $MIRRORLAB_BENCH_KERNEL): registration cost per page in each
// mode, revalidation cost after an invalidation, time in the invalidation
// callback by event. Reported with spread and as ratios from one run; nothing
// here asserts a speed. Results also go to results/mirrordrm-bench-<kernel>.json.
import { caseId, caseOf } from './cases.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { guestUnavailableReason, kernelSeries } from '../../src/vm/index.js';
import { repoRoot } from '../../src/paths.js';
import { ensureGuestBuild, kernels, sharedVm } from './helpers.js';
import { guestSystem, mirrordrmBench } from '../../src/guest/index.js';
import { REGISTRATION_MODES, type BenchBacking } from '../../src/guest/mirrordrm-bench.js';
import { ratio, summarize, type Summary } from '../../src/stats/summary.js';

const summaries = (samples: Record<string, number[]>): Record<string, Summary> => Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
const series = kernelSeries(process.env.MIRRORLAB_BENCH_KERNEL ?? kernels()[kernels().length - 1]);
const reason = guestUnavailableReason(series) ?? (fs.existsSync(path.join(repoRoot, 'dist', mirrordrmBench.path)) ? null : 'dist/ not built');
if (reason) console.warn(`mirrordrm benchmarks skipped: ${reason}`);

const fmt = (s: { median: number; min: number; p90: number; max: number; n: number }) =>
  `median ${s.median.toFixed(0)} (min ${s.min.toFixed(0)}, p90 ${s.p90.toFixed(0)}, max ${s.max.toFixed(0)}, n ${s.n})`;

describe.skipIf(reason !== null)(`mirrordrm benchmarks on ${series}`, () => {
  const report: Record<string, unknown> = {};

  beforeAll(() => ensureGuestBuild([series]), 300_000);
  // one guest; each test ends with a console barrier (a WARN fails that test)
  const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
  beforeAll(async () => {
    report.kernel = await guest.vm.call(guestSystem, 'kernelRelease');
  }, 60_000);

  afterAll(() => {
    fs.mkdirSync(path.join(repoRoot, 'results'), { recursive: true });
    fs.writeFileSync(path.join(repoRoot, `results/mirrordrm-bench-${series}.json`), JSON.stringify(report, null, 2));
  }, 120_000);

  for (const [backing, sizes] of [
    ['anon', [4096, 65536, 1 << 20, 16 << 20, 256 << 20]],
    ['thp', [2 << 20, 16 << 20, 256 << 20]],
    ['hugetlb-2M', [2 << 20, 16 << 20, 64 << 20]],
  ] as [BenchBacking, number[]][]) it(...caseOf(caseId('registration', backing), `registration ns per page on ${backing}: gup, gup-longterm, gup-get, hmm (populate, lazy)`, { timeout: 600_000 }), async () => {
    // per size: 7 registrations per mode, the modes interleaved (one round of the bench suite's rounds)
    const r = [];
    for (const size of sizes) {
      const { id, mapOrder } = await guest.vm.callWith({ timeoutMs: 600_000 }, mirrordrmBench, 'registrationOpen', backing, size);
      try {
        const nsPerPage = summaries(await guest.vm.callWith({ timeoutMs: 600_000 }, mirrordrmBench, 'registrationRound', id, Object.keys(REGISTRATION_MODES), 7));
        r.push({ backing, mapOrder, size, pages: size / 4096, nsPerPage, gupOverHmm: ratio(nsPerPage.gup, nsPerPage.hmm), longtermOverGup: ratio(nsPerPage['gup-longterm'], nsPerPage.gup) });
      } finally {
        await guest.vm.call(mirrordrmBench, 'registrationClose', id);
      }
    }
    report[`registration-${backing}`] = r;
    for (const row of r) {
      console.log(`${report.kernel} ${backing} (map order ${row.mapOrder}) ${row.size} B (${row.pages} pages), ns/page:`);
      for (const [m, s] of Object.entries(row.nsPerPage)) console.log(`  ${m.padEnd(13)} ${fmt(s)}`);
      console.log(`  gup/hmm-populate median ratio ${row.gupOverHmm.median.toFixed(2)} [${row.gupOverHmm.lo.toFixed(2)}, ${row.gupOverHmm.hi.toFixed(2)}], longterm/gup ${row.longtermOverGup.median.toFixed(2)}`);
      expect(row.nsPerPage.gup.n).toBe(7);
    }
  });

  it(...caseOf('revalidation-read', 'device read of 1 MiB: warm vs right after MADV_DONTNEED (revalidation)', { timeout: 600_000 }), async () => {
    const { samples, revalidations } = await guest.vm.callWith({ timeoutMs: 600_000 }, mirrordrmBench, 'revalidationRound', 1 << 20, 15);
    const r = Object.fromEntries(Object.entries(revalidations).map(([m, n]) => {
      const [warmNs, afterInvalidationNs] = [summarize(samples[`${m}/warm`]), summarize(samples[`${m}/after-dontneed`])];
      return [m, { warmNs, afterInvalidationNs, slowdown: ratio(afterInvalidationNs, warmNs), stats: { revalidations: n } }];
    }));
    report.revalidation = r;
    for (const [m, v] of Object.entries(r)) {
      console.log(`${report.kernel} ${m}: warm ${fmt(v.warmNs)} ns; after DONTNEED ${fmt(v.afterInvalidationNs)} ns; slowdown ${v.slowdown.median.toFixed(1)}x [${v.slowdown.lo.toFixed(1)}, ${v.slowdown.hi.toFixed(1)}]; revalidations ${v.stats.revalidations}`);
      expect(v.stats.revalidations).toBeGreaterThanOrEqual(15);
    }
  });

  it(...caseOf('callback-time', 'time in the invalidation callback by mode and event (16 pages)', { timeout: 600_000 }), async () => {
    const r = summaries(await guest.vm.callWith({ timeoutMs: 600_000 }, mirrordrmBench, 'callbackRound', 15));
    report.callbacks = r;
    for (const [k, s] of Object.entries(r)) console.log(`${report.kernel} ${k.padEnd(22)} ns ${fmt(s)}`);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['gup/PROTECTION_VMA', 'hmm/PROTECTION_VMA', 'gup/CLEAR', 'hmm/CLEAR', 'gup/UNMAP', 'hmm/UNMAP']));
  });
});
