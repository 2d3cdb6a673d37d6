// The kernel selftests in the bench outputs: per case with the baseline
// verdict in results.json (schema-valid), nested per kernel/suite/case in
// results.ktap, and a table with every difference flagged in report.html.
import { describe, expect, it } from 'vitest';
import { selftestsResult } from '../../src/bench/suites/guest-selftests.js';
import { renderHtml } from '../../src/report/html.js';
import { toKtap } from '../../src/report/ktap.js';
import { machineInfo } from '../../src/report/machine.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { compareWithBaseline, type Baseline } from '../../src/selftests/baseline.js';
import { outcomesOf } from '../../src/selftests/cli.js';
import type { SelftestsRun } from '../../src/selftests/run.js';
import { kernelSeries } from '../../src/vm/kernels.js';

const kernel = kernelSeries('6.12');
const run: SelftestsRun = {
  kernel,
  release: '6.12.117+deb12-amd64',
  source: { package: 'linux-source-6.12', version: '6.12.117-1~deb12u1' },
  accel: 'tcg',
  bootMs: 12_000,
  testHmm: 'test_hmm.ko not built: CONFIG_DEVICE_PRIVATE is not set',
  cpus: 4,
  swap: '/dev/ram0 (brd), 512 MiB',
  suites: [
    { suite: 'hmm-tests', binary: 'hmm-tests', args: [], skipped: 'test_hmm.ko not built: CONFIG_DEVICE_PRIVATE is not set', runs: [] },
    {
      suite: 'cow',
      binary: 'cow',
      args: [],
      runs: [
        {
          cases: [
            { name: 'Basic COW after fork() ... with base page', outcome: 'pass' },
            { name: 'vmsplice() + unmap in child ... with base page', outcome: 'fail', reason: 'Leak from parent into child' },
            { name: 'Basic COW after fork() ... with THP', outcome: 'skip', reason: 'MADV_HUGEPAGE failed' },
            { name: 'a case # with a hash', outcome: 'pass' },
          ],
          format: 'ktap',
          exitStatus: 1,
          timedOut: false,
          durationMs: 4200,
          output: '',
        },
      ],
    },
  ],
};
const baseline: Baseline = {
  series: '6.12',
  release: '6.12.117+deb12-amd64',
  source: run.source,
  recordedAt: '2026-12-02T00:00:00.000Z',
  runs: { cow: 1, 'hmm-tests': 1 },
  suites: {
    'hmm-tests': { skipped: 'test_hmm.ko not built', cases: {} },
    cow: {
      cases: {
        'Basic COW after fork() ... with base page': { outcome: 'pass' },
        'vmsplice() + unmap in child ... with base page': { outcome: 'pass' },
        'Basic COW after fork() ... with THP': { outcome: 'skip', reason: 'MADV_HUGEPAGE failed' },
        'a case # with a hash': { outcome: 'pass' },
      },
    },
  },
};

function results(): Results {
  const cmp = compareWithBaseline(baseline, outcomesOf(run));
  const st = selftestsResult(run, cmp, '/x/src/selftests/baselines/6.12.json', baseline.release);
  const failed = st.suites.find((s) => s.suite === 'cow')!;
  return {
    schema: 'mirrorlab/results',
    version: 1,
    run: { startedAt: 'a', finishedAt: 'b', complete: true, argv: [], quick: true, filters: {} },
    machine: machineInfo(),
    suites: [
      {
        id: 'guest/selftests',
        title: 'selftests',
        environment: 'guest',
        kernel,
        guest: { release: run.release, accel: 'tcg' },
        status: 'complete',
        durationMs: 1,
        measurements: [],
        comparisons: [],
        checks: [
          { name: st.suites[0].check, status: 'skip', reason: 'test_hmm.ko not built' },
          { name: failed.check, status: 'fail', reason: 'vmsplice...' },
          { name: 'an ordinary check', status: 'pass' },
        ],
        plots: [],
        selftests: st,
      },
    ],
    kernelComparisons: [],
  };
}

describe('kernel selftests in the bench outputs', () => {
  it('results.json carries every case with its verdict, and the schema accepts it', () => {
    const r = results();
    expect(validateResults(JSON.parse(JSON.stringify(r)))).toEqual([]);
    const cow = r.suites[0].selftests!.suites[1];
    expect(cow.counts).toEqual({ pass: 2, fail: 1, skip: 1, xfail: 0, xpass: 0 });
    expect(cow.cases.find((c) => c.name.startsWith('vmsplice'))).toEqual({
      name: 'vmsplice() + unmap in child ... with base page',
      outcomes: { fail: 1 },
      reasons: ['Leak from parent into child'],
      verdict: 'new failure',
      expected: 'pass',
    });
  });

  it('results.ktap nests kernel, selftest suite and case, differences as not ok after their diagnostics, a skipped suite as its result line alone', () => {
    const ktap = toKtap(results());
    expect(ktap).toBe(`KTAP version 1
1..1
    KTAP version 1
    # Subtest: guest/selftests@6.12
    1..3
    ok 1 hmm-tests # SKIP test_hmm.ko not built: CONFIG_DEVICE_PRIVATE is not set
        KTAP version 1
        # Subtest: cow
        1..4
        ok 1 Basic COW after fork() ... with base page
        # new failure: expected pass, got fail Leak from parent into child
        not ok 2 vmsplice() + unmap in child ... with base page
        ok 3 Basic COW after fork() ... with THP # SKIP MADV_HUGEPAGE failed
        ok 4 a case no. with a hash
    not ok 2 cow
    ok 3 an ordinary check
not ok 1 guest/selftests@6.12
`);
  });

  it('report.html has the counts table and flags every difference', () => {
    const html = renderHtml(results());
    expect(html).toContain('Kernel selftests (linux-source-6.12 6.12.117-1~deb12u1');
    expect(html).toMatch(/<tr class="fail"><td>cow<\/td><td>1<\/td><td>2<\/td><td>1<\/td><td>1<\/td>/);
    expect(html).toContain('<li class="fail">cow: vmsplice() + unmap in child ... with base page: new failure: expected pass, got fail 1 (Leak from parent into child)</li>');
  });
});

describe('THP migration measurements', () => {
  // hmm-tests' benchmark_thp_migration as 7.2 printed it in a guest (two sizes of six).
  const output = `#  RUN           hmm.hmm_device_private.benchmark_thp_migration ...

HMM THP Migration Benchmark
---------------------------
System page size: 4096 bytes

=== Small Buffer (0.5 MB) ===
                     | With THP        | Without THP     | Improvement
---------------------------------------------------------------------
Sys->Dev Migration   | 26.563 ms        | 17.776 ms        | -49.4%
Dev->Sys Migration   | 11.012 ms        | 4.132 ms        | -166.5%
S->D Throughput      | 0.02 GB/s      | 0.03 GB/s      | -33.1%
D->S Throughput      | 0.04 GB/s      | 0.12 GB/s      | -62.5%

=== Single THP Size (2.0 MB) ===
                     | With THP        | Without THP     | Improvement
---------------------------------------------------------------------
Sys->Dev Migration   | 69.656 ms        | 92.193 ms        | 24.4%
Dev->Sys Migration   | 23.310 ms        | 50.543 ms        | 53.9%
`;
  it('become ms measurements per direction, page size and buffer size, with 4 KiB / THP ratios', async () => {
    const { thpMigration } = await import('../../src/bench/suites/guest-selftests.js');
    const got = { measurements: [] as { id: string; warm: { median: number } }[], comparisons: [] as { id: string; ratio: { median: number } }[], plots: 0 };
    const runWith = (outputs: string[]): SelftestsRun => ({
      ...run,
      kernel: kernelSeries('7.2'),
      suites: [{ suite: 'hmm-benchmark', binary: 'hmm-tests', args: [], runs: outputs.map((o) => ({ cases: [], format: 'ktap' as const, exitStatus: 1, timedOut: false, durationMs: 1, output: o })) }],
    });
    thpMigration({ measurement: (m) => got.measurements.push(m), comparison: (c) => got.comparisons.push(c), plot: () => got.plots++ }, runWith([output, output]));
    expect(got.measurements.map((m) => [m.id, m.warm.median])).toEqual([
      ['thp-migration/sys-to-dev/thp/524288', 26.563],
      ['thp-migration/sys-to-dev/4K/524288', 17.776],
      ['thp-migration/sys-to-dev/thp/2097152', 69.656],
      ['thp-migration/sys-to-dev/4K/2097152', 92.193],
      ['thp-migration/dev-to-sys/thp/524288', 11.012],
      ['thp-migration/dev-to-sys/4K/524288', 4.132],
      ['thp-migration/dev-to-sys/thp/2097152', 23.31],
      ['thp-migration/dev-to-sys/4K/2097152', 50.543],
    ]);
    expect(got.comparisons.find((c) => c.id === '4K/thp sys-to-dev 2097152')!.ratio.median).toBeCloseTo(92.193 / 69.656, 6);
    expect(got.plots).toBe(2);
  });
});
