// mirrordrm benchmarks in the guest (6.12): registration cost per page in each
// mode, revalidation cost after an invalidation, time in the invalidation
// callback by event. Reported with spread and as ratios from one run; nothing
// here asserts a speed. Results also go to results/mirrordrm-bench-<kernel>.json.
import { caseId, caseOf } from './cases.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { guestUnavailableReason, kernelSeries } from '../../src/vm/index.js';
import { repoRoot } from '../../src/paths.js';
import { sharedVm } from './helpers.js';

const SCEN = 'mirror/guest-scenarios.js';
const series = kernelSeries(process.env.MIRRORLAB_BENCH_KERNEL ?? '6.12');
const reason = guestUnavailableReason(series) ?? (fs.existsSync(path.join(repoRoot, 'dist', SCEN)) ? null : 'dist/ not built');
if (reason) console.warn(`mirrordrm benchmarks skipped: ${reason}`);

const fmt = (s: { median: number; min: number; p90: number; max: number; n: number }) =>
  `median ${s.median.toFixed(0)} (min ${s.min.toFixed(0)}, p90 ${s.p90.toFixed(0)}, max ${s.max.toFixed(0)}, n ${s.n})`;

describe.skipIf(reason !== null)(`mirrordrm benchmarks on ${series}`, () => {
  const report: Record<string, unknown> = {};

  beforeAll(() => {
    execFileSync('bash', [path.join(repoRoot, 'scripts/build-modules.sh'), series], { stdio: 'pipe' });
  }, 300_000);
  // one guest; each test ends with a console barrier (a WARN fails that test)
  const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
  beforeAll(async () => {
    report.kernel = await guest.vm.call(SCEN, 'kernelRelease');
  }, 60_000);

  afterAll(() => {
    fs.mkdirSync(path.join(repoRoot, 'results'), { recursive: true });
    fs.writeFileSync(path.join(repoRoot, `results/mirrordrm-bench-${series}.json`), JSON.stringify(report, null, 2));
  }, 120_000);

  for (const [backing, sizes] of [
    ['anon', [4096, 65536, 1 << 20, 16 << 20, 256 << 20]],
    ['thp', [2 << 20, 16 << 20, 256 << 20]],
    ['hugetlb-2M', [2 << 20, 16 << 20, 64 << 20]],
  ] as [string, number[]][]) it(...caseOf(caseId('registration', backing), `registration ns per page on ${backing}: gup, gup-longterm, gup-get, hmm (populate, lazy)`, { timeout: 600_000 }), async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const r = await guest.vm.callWith<any[]>({ timeoutMs: 600_000 }, SCEN, 'benchRegistration', sizes, 7, backing);
    report[`registration-${backing}`] = r;
    for (const row of r) {
      console.log(`${report.kernel} ${backing} (map order ${row.mapOrder}) ${row.size} B (${row.pages} pages), ns/page:`);
      for (const [m, s] of Object.entries(row.nsPerPage)) console.log(`  ${m.padEnd(13)} ${fmt(s as never)}`);
      console.log(`  gup/hmm-populate median ratio ${row.gupOverHmm.median.toFixed(2)} [${row.gupOverHmm.lo.toFixed(2)}, ${row.gupOverHmm.hi.toFixed(2)}], longterm/gup ${row.longtermOverGup.median.toFixed(2)}`);
      expect(row.nsPerPage.gup.n).toBe(7);
    }
  });

  it(...caseOf('revalidation-read', 'device read of 1 MiB: warm vs right after MADV_DONTNEED (revalidation)', { timeout: 600_000 }), async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const r = await guest.vm.callWith<any>({ timeoutMs: 600_000 }, SCEN, 'benchRevalidation', 15);
    report.revalidation = r;
    for (const [m, v] of Object.entries(r) as [string, any][]) {
      console.log(`${report.kernel} ${m}: warm ${fmt(v.warmNs)} ns; after DONTNEED ${fmt(v.afterInvalidationNs)} ns; slowdown ${v.slowdown.median.toFixed(1)}x [${v.slowdown.lo.toFixed(1)}, ${v.slowdown.hi.toFixed(1)}]; revalidations ${v.stats.revalidations}`);
      expect(v.stats.revalidations).toBeGreaterThanOrEqual(15);
    }
  });

  it(...caseOf('callback-time', 'time in the invalidation callback by mode and event (16 pages)', { timeout: 600_000 }), async () => {
    const r = await guest.vm.callWith<Record<string, never>>({ timeoutMs: 600_000 }, SCEN, 'benchCallbacks', 15);
    report.callbacks = r;
    for (const [k, s] of Object.entries(r)) console.log(`${report.kernel} ${k.padEnd(22)} ns ${fmt(s)}`);
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['gup PROTECTION_VMA', 'hmm PROTECTION_VMA', 'gup CLEAR', 'hmm CLEAR', 'gup UNMAP', 'hmm UNMAP']));
  });
});
