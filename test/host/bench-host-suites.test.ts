// The host benchmark suites run end to end through the bench runner (--quick):
// valid results files, fault counts as the page sizes predict, page state
// behind every huge-page claim, ratios with their spread, settings restored.
// Speeds are reported, never asserted.
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { runBench } from '../../src/bench/runner.js';
import { SUITES } from '../../src/bench/suites.js';
import { hostFaultsSuite } from '../../src/bench/suites/host-faults.js';
import { hostHugepagesSuite } from '../../src/bench/suites/host-hugepages.js';
import { uffdRoundTripSuite } from '../../src/bench/suites/uffd-roundtrip.js';
import { normalizeSize, settled, sizeWanted } from '../../src/bench/suites/common.js';
import { hugePools, thpSettings } from '../../src/memory/index.js';
import type { Comparison, Measurement, SuiteResult } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-host-suites-'));
const root = process.getuid?.() === 0;
const thp = thpSettings();
const MiB = 1 << 20;

async function runSuite(suite: typeof hostFaultsSuite, sizes: string[] = []): Promise<SuiteResult> {
  const run = await runBench({ suites: [suite], quick: true, sizes, outDir: tmp(), log: () => {} });
  expect(validateResults(JSON.parse(readFileSync(run.written.json, 'utf8')))).toEqual([]);
  const s = run.results.suites[0];
  if (s.status !== 'complete') console.warn(`${suite.id}: ${s.status}: ${s.reason}`);
  return s;
}

const byId = (s: SuiteResult, id: string): Measurement => {
  const m = s.measurements.find((x) => x.id === id);
  if (!m) throw new Error(`no measurement ${id} in ${s.measurements.map((x) => x.id).join(', ')}`);
  return m;
};
const cmp = (s: SuiteResult, id: string): Comparison => {
  const c = s.comparisons.find((x) => x.id === id);
  if (!c) throw new Error(`no comparison ${id}`);
  return c;
};
function check(s: SuiteResult, name: string) {
  const c = s.checks.find((x) => x.name.startsWith(name));
  if (!c) throw new Error(`no check "${name}..." in ${JSON.stringify(s.checks)}`);
  return c;
}

function expectSpread(c: Comparison) {
  expect(c.ratio.median).toBeGreaterThan(0);
  expect(c.ratio.lo).toBeLessThanOrEqual(c.ratio.median);
  expect(c.ratio.median).toBeLessThanOrEqual(c.ratio.hi);
}

describe('suite registry and helpers', () => {
  it('registers the host suites once each', () => {
    const ids = SUITES.map((s) => s.id);
    for (const id of ['host/faults', 'host/uffd-roundtrip', 'host/hugepages', 'guest/fakevram', 'guest/mirrordrm', 'gpu/cuda']) expect(ids.filter((x) => x === id)).toHaveLength(1);
  });

  it('--size names match whatever case the user types', () => {
    expect(['4k', '4K', '4KiB', '2mb', '1G'].map(normalizeSize)).toEqual(['4K', '4K', '4K', '2M', '1G']);
    expect(sizeWanted({ sizes: [] }, '1G')).toBe(true);
    expect(sizeWanted({ sizes: ['2m'] }, '2M')).toBe(true);
    expect(sizeWanted({ sizes: ['2m'] }, '4K')).toBe(false);
    expect(hostHugepagesSuite.steps({ quick: true, sizes: ['4K'] })).toBe((process.arch === 'x64' ? 4 : 2) + 2);
    expect(hostHugepagesSuite.steps({ quick: true, sizes: ['8M'] })).toBe(0);
  });

  it('settled() is repeatUntilStable\'s rule', () => {
    expect(settled([10, 10.1, 10], 0.02)).toBe(true);
    expect(settled([10, 20, 30, 40], 0.02)).toBe(false);
    expect(settled([10, 10], 0.02)).toBe(false);
  });
});

describe('native clearing and madvise timing', () => {
  const C = native.mmConstants;
  it('clearTiming zeroes the whole range, one sample per chunk per pass', () => {
    for (const method of process.arch === 'x64' ? [0, 1] : [0]) {
      const length = 3 * 4096 + 100;
      const map = 4 * 4096;
      const addr = native.mmap(0n, map, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
      const handle = native.newView(addr, map, false);
      try {
        const view = new Uint8Array(handle.buffer);
        view.fill(0xa5);
        const s = native.clearTiming(addr, length, 2, method, 4096);
        expect(s.length).toBe(2 * 4);
        for (const ns of s) expect(ns).toBeGreaterThan(0);
        expect(view.subarray(0, length).every((b) => b === 0)).toBe(true);
        // nothing past the range
        expect(view.subarray(length).every((b) => b === 0xa5)).toBe(true);
        expect(native.clearTiming(addr, length, 3, method, 0).length).toBe(3);
      } finally {
        native.releaseView(handle.buffer, handle.record);
        native.munmap(addr, map);
      }
    }
    expect(() => native.clearTiming(0n, 4096, 1, 0, 0)).toThrow(RangeError);
    expect(() => native.clearTiming(4096n, 4096, 1, 2, 0)).toThrow(RangeError);
  });

  it('timedMadvise times one call and throws the kernel\'s errno', () => {
    const addr = native.mmap(0n, 2 * MiB, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
    try {
      expect(native.timedMadvise(addr, 2 * MiB, C.MADV_POPULATE_WRITE)).toBeGreaterThan(0);
      expect(() => native.timedMadvise(addr + 1n, 4096, C.MADV_DONTNEED)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'madvise' }));
    } finally {
      native.munmap(addr, 2 * MiB);
    }
  });
});

describe('host/hugepages', () => {
  it.skipIf(!root)('4 KiB, THP, shmem THP and hugetlb faults against the clearing bandwidth, confirmed by the page state', async () => {
    const before = { shmem: thpSettings().shmemEnabled, pools: hugePools().map((p) => [p.size, p.nr]) };
    const s = await runSuite(hostHugepagesSuite);
    // A missed target is reported, never a failed suite.
    expect(s.status).toBe('complete');
    // Settings and pools are as they were.
    expect(thpSettings().shmemEnabled).toBe(before.shmem);
    expect(hugePools().map((p) => [p.size, p.nr])).toEqual(before.pools);

    const clear = byId(s, 'clear/memset');
    expect(clear.unit).toBe('GiB/s');
    expect(clear.warm.median).toBeGreaterThan(0);
    expect(clear.observed!.present).toBe(clear.params.length);

    // 2 MiB of 4 KiB pages: 512 faults, touched or populated.
    for (const method of ['touch', 'populate']) {
      const m = byId(s, `fault/anon-4K/${method}`);
      expect(m.params).toMatchObject({ length: 2 * MiB, pages: 512 });
      expect(m.observed).toMatchObject({ faultsMin: 512, faultsMax: 512, pmdMapped: false, verifiedRuns: expect.stringMatching(/^(\d+)\/\1$/) });
      // Observations stay out of the identity compare matches on.
      for (const k of Object.keys(m.observed!)) expect(m.params, k).not.toHaveProperty(k);
      expect(m.cold!.n).toBe(method === 'touch' ? 512 : 1);
      expect(check(s, `anon-4K ${method}: 512 faults per run`)!.status).toBe('pass');
      expectSpread(cmp(s, `fraction-of-clear/anon-4K/${method}`));
      expect(cmp(s, `fraction-of-clear/anon-4K/${method}`).target).toBeUndefined();
    }
    expect(byId(s, 'fault/anon-4K/touch').observed!.faultSource).toBe('perf');
    expect(byId(s, 'fault/anon-4K/populate').observed!.faultSource).toBe('getrusage');

    // One fault per 2 MiB for THP, shmem THP and hugetlb 2 MiB, and the page state says huge.
    for (const id of ['thp', 'shmem-thp', 'hugetlb-2M']) {
      for (const method of ['touch', 'populate']) {
        const m = byId(s, `fault/${id}/${method}`);
        const pages = (m.params.length as number) / (2 * MiB);
        expect(m.params).toMatchObject({ pageSize: 2 * MiB, expectedFaults: pages });
        expect(m.observed).toMatchObject({ faultsMin: pages, faultsMax: pages });
        expect(check(s, `${id} ${method}: ${pages} faults per run`)!.status).toBe('pass');
        const state = check(s, `${id} ${method}: page state`)!;
        expect(state.status, state.reason).toBe('pass');
        expect(m.observed![id === 'hugetlb-2M' ? 'hugetlbMapped' : 'pmdMapped']).toBe(true);
        expect(m.observed!.hugeBytesLastRun).toBe(m.params.length);
        const rate = byId(s, `rate/${id}/${method}`);
        expect(rate.warm.median).toBeGreaterThan(0);
        // page size over the median fault latency (the median of an odd count is one of the samples)
        if (method === 'touch' && m.warm.n % 2) expect(rate.warm.median).toBeCloseTo((2 * MiB) / m.warm.median * 1e9 / 2 ** 30, 6);
        if (method === 'touch') expectSpread(cmp(s, `wall-fraction-of-clear/${id}/touch`));
        const c = cmp(s, `fraction-of-clear/${id}/${method}`);
        expectSpread(c);
        expect(c.b).toBe('clear/memset');
        if (id === 'thp') expect(c.target).toEqual({ op: '>=', value: 0.7, met: c.ratio.median >= 0.7 });
        else expect(c.target).toBeUndefined();
      }
    }
    expect(byId(s, 'fault/thp/touch').cold!.n).toBe(4);

    // hugetlb 1 GiB: measured with one fault per page, or skipped with the reason.
    const skip = s.checks.find((c) => c.name.startsWith('hugetlb-1G:') && c.status === 'skip');
    if (skip) {
      console.warn(`hugetlb 1G skipped: ${skip.reason}`);
      expect(skip.reason).toMatch(/cannot reserve 1 hugetlb 1G page/);
      expect(s.measurements.some((m) => m.id.includes('hugetlb-1G'))).toBe(false);
    } else {
      for (const method of ['touch', 'populate']) {
        expect(byId(s, `fault/hugetlb-1G/${method}`).params).toMatchObject({ pages: 1 });
        expect(byId(s, `fault/hugetlb-1G/${method}`).observed).toMatchObject({ faultsMin: 1, faultsMax: 1, hugetlbMapped: true });
        const c = cmp(s, `fraction-of-clear/hugetlb-1G/${method}`);
        expectSpread(c);
        expect(c.target).toEqual({ op: '>=', value: 0.7, met: c.ratio.median >= 0.7 });
      }
    }

    // MADV_COLLAPSE turned 4 KiB pages into PMD mappings.
    expect(check(s, 'MADV_COLLAPSE: 4 KiB pages before').status).toBe('pass');
    expect(byId(s, 'collapse/thp').observed!.pmdMapped).toBe(true);

    // Plots: a histogram per touch latency, bars of rates against the bandwidth.
    const hist = s.plots.filter((p) => p.kind === 'histogram').map((p) => (p as { measurement: string }).measurement);
    expect(hist).toEqual(s.measurements.filter((m) => m.id.startsWith('fault/') && m.id.endsWith('/touch')).map((m) => m.id));
    const bars = s.plots.find((p) => p.kind === 'bars') as { measurements: string[] };
    expect(bars.measurements[0]).toBe('clear/memset');
    expect(byId(s, 'clear/memset-2M').params.bytesPerSample).toBe(2 * MiB);
    expectSpread(cmp(s, 'fraction-of-clear-2M/thp/touch'));
    expect(bars.measurements).toContain('rate/thp/touch');
    expect(s.checks.filter((c) => c.status === 'fail')).toEqual([]);
  });

  it.skipIf(!root)('--size 4K runs the 4 KiB case and the bandwidth only', async () => {
    const s = await runSuite(hostHugepagesSuite, ['4K']);
    expect(s.status).toBe('complete');
    expect(s.measurements.map((m) => m.id).filter((id) => !id.startsWith('clear/'))).toEqual([
      'fault/anon-4K/touch', 'rate/anon-4K/touch', 'rate-wall/anon-4K/touch', 'fault/anon-4K/populate', 'rate/anon-4K/populate',
    ]);
  });
});

describe('host/faults', () => {
  it('mirrorlab loop against the C reference loop, with the overhead ratio and its spread', async () => {
    const s = await runSuite(hostFaultsSuite, root ? [] : ['4K']);
    expect(s.status).toBe('complete');
    const ids = root ? ['4K', 'thp', 'hugetlb-2M'] : ['4K'];
    if (thp.enabled === 'never') ids.splice(ids.indexOf('thp'), 1);
    for (const b of ids) {
      const ml = byId(s, `fault/${b}/mirrorlab`);
      const ref = byId(s, `fault/${b}/c-reference`);
      for (const m of [ml, ref]) {
        expect(m.cold!.n).toBe(m.params.touchesPerRepetition);
        // 2 warm repetitions per round in --quick
        expect(m.samplesTotal).toBe((m.params.touchesPerRepetition as number) * 2 * m.roundMedians.length);
      }
      const c = cmp(s, `overhead/${b}`);
      expectSpread(c);
      expect(c.target).toEqual({ op: '<=', value: 1.05, met: c.ratio.median <= 1.05 });
      expect(s.plots.some((p) => p.kind === 'histogram' && p.measurement === ml.id)).toBe(true);
    }
    expect(byId(s, 'fault/4K/mirrorlab').params.expectedFaults).toBe(256);
    for (const c of s.checks) expect(c.status, `${c.name}: ${c.reason}`).not.toBe('fail');
    expect(byId(s, 'fault/4K/mirrorlab').observed!.faultsMedian).toBe(256);
    if (ids.includes('thp')) expect(byId(s, 'fault/thp/mirrorlab').observed!.pmdMapped).toBe(true);
  });
});

describe('host/uffd-roundtrip', () => {
  it('native fault server against the JavaScript handler (poll and thread delivery), cold apart from warm', async (t) => {
    const why = await uffdRoundTripSuite.unsupported(null);
    if (why) {
      console.warn(`uffd-roundtrip: ${why}`);
      t.skip();
    }
    const s = await runSuite(uffdRoundTripSuite);
    expect(s.status).toBe('complete');
    const nat = byId(s, 'roundtrip/native');
    const js = byId(s, 'roundtrip/js');
    const jsThread = byId(s, 'roundtrip/js-thread');
    expect(js.params.delivery).toBe('poll');
    expect(jsThread.params.delivery).toBe('thread');
    for (const m of [nat, js, jsThread]) {
      expect(m.cold!.n).toBe(64);
      expect(m.samplesTotal).toBe(64 * 2 * m.roundMedians.length);
      expect(m.warm.min).toBeGreaterThan(0);
    }
    expect(jsThread.roundMedians.length).toBe(js.roundMedians.length);
    const main = cmp(s, 'js-vs-native');
    expectSpread(main);
    // The target is declared and its verdict follows the median (met or not is a finding, not a failure).
    expect(main.target).toEqual({ op: '<=', value: 1.5, met: main.ratio.median <= 1.5 });
    expectSpread(cmp(s, 'js-thread-vs-native'));
    expectSpread(cmp(s, 'js-thread-vs-js'));
    expect(check(s, 'every fault resolved')!.status).toBe('pass');
  });
});
