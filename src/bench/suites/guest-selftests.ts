// The kernel's own mm/HMM selftests as peers of our guest suites: every case
// with its baseline comparison (results.json, results.ktap, report.html), one
// check per selftest suite, and hmm-tests' benchmark_thp_migration tables as
// measurements (system->device and device->system, THP vs 4 KiB, per size).
import path from 'node:path';
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import { repoRoot } from '../../paths.js';
import type { Measurement, SelftestCaseResult, SelftestsResult, SelftestSuiteResult } from '../../report/results.js';
import { compareWithBaseline, describeCounts, loadBaseline, baselinePath, type BaselineComparison } from '../../selftests/baseline.js';
import { outcomesOf } from '../../selftests/cli.js';
import { countOutcomes, parseThpMigration, type ThpMigrationFigure } from '../../selftests/parse.js';
import { runSelftests, selftestsBuild, type SelftestsRun } from '../../selftests/run.js';
import { DEFAULT_SELFTEST_SUITES, QUICK_SUITES, THP_BENCHMARK_SUITE, type SelftestSuite } from '../../selftests/suites.js';
import type { Suite, SuiteContext } from '../suite.js';
import { guestSuiteUnsupported } from './guest-common.js';

function suitesFor(quick: boolean) {
  return quick ? DEFAULT_SELFTEST_SUITES.filter((s) => (QUICK_SUITES as readonly string[]).includes(s.name)) : DEFAULT_SELFTEST_SUITES;
}

/** Per suite and case: outcomes over the runs and the verdict against the baseline. */
export function selftestsResult(run: SelftestsRun, cmp: BaselineComparison, baselineFile: string, baselineRelease: string | null): SelftestsResult {
  const suites: SelftestSuiteResult[] = run.suites.map((s) => {
    const cases = new Map<string, SelftestCaseResult>();
    for (const r of s.runs) {
      for (const c of r.cases) {
        let e = cases.get(c.name);
        if (!e) cases.set(c.name, (e = { name: c.name, outcomes: {}, verdict: 'match' }));
        e.outcomes[c.outcome] = (e.outcomes[c.outcome] ?? 0) + 1;
        if (c.reason && !(e.reasons ??= []).includes(c.reason)) e.reasons.push(c.reason);
      }
    }
    for (const d of cmp.differences.filter((x) => x.suite === s.suite && x.case !== null)) {
      const e = cases.get(d.case!) ?? { name: d.case!, outcomes: {}, verdict: 'match' };
      cases.set(d.case!, { ...e, verdict: d.kind, expected: d.expected });
    }
    for (const f of cmp.flaky.filter((x) => x.suite === s.suite)) {
      const e = cases.get(f.case)!;
      cases.set(f.case, { ...e, verdict: 'flaky', expected: f.baseline });
    }
    return {
      suite: s.suite,
      binary: s.binary,
      args: s.args,
      ...(s.skipped !== undefined ? { skipped: s.skipped } : {}),
      runs: s.runs.length,
      durationsMs: s.runs.map((r) => r.durationMs),
      counts: countOutcomes(s.runs.flatMap((r) => r.cases)),
      cases: [...cases.values()],
      suiteDifferences: cmp.differences.filter((x) => x.suite === s.suite && x.case === null).map(({ kind, expected, got }) => ({ kind, expected, got })),
      check: `${run.kernel} ${s.suite}: outcomes match the baseline`,
    };
  });
  return { baseline: path.relative(repoRoot, baselineFile), baselineRelease, source: run.source, testHmm: run.testHmm, cpus: run.cpus, swap: run.swap, suites };
}

/** The THP migration figures of every hmm-tests run as measurements, with 4 KiB / THP ratios per size. */
export function thpMigration(ctx: Pick<SuiteContext, 'measurement' | 'comparison' | 'plot'>, run: SelftestsRun): void {
  const hmm = run.suites.find((s) => s.suite === THP_BENCHMARK_SUITE);
  const perRun = (hmm?.runs ?? []).map((r) => parseThpMigration(r.output)).filter((f) => f.length);
  if (!perRun.length) return;
  const sizes = [...new Set(perRun.flat().map((f) => f.bytes))].sort((a, b) => a - b);
  const dirs = [
    { key: 'sys-to-dev', title: 'system to device', pick: (f: ThpMigrationFigure) => f.sysToDevMs },
    { key: 'dev-to-sys', title: 'device to system', pick: (f: ThpMigrationFigure) => f.devToSysMs },
  ] as const;
  for (const d of dirs) {
    const ids: string[] = [];
    for (const bytes of sizes) {
      const byPages: Partial<Record<'thp' | '4K', Measurement>> = {};
      for (const pages of ['thp', '4K'] as const) {
        // One sample per hmm-tests run: the mean of its 5 timed migrations.
        const v = perRun.map((figs) => figs.find((f) => f.bytes === bytes)).filter((f): f is ThpMigrationFigure => !!f).map((f) => d.pick(f)[pages === 'thp' ? 'thp' : 'regular']);
        if (!v.length) continue;
        const id = `thp-migration/${d.key}/${pages}/${bytes}`;
        const m = toMeasurement(
          { id, title: `hmm-tests benchmark_thp_migration, ${d.title}, ${pages === 'thp' ? 'THP' : '4 KiB pages'}, ${bytes / 1024} KiB (mean of 5 migrations per run)`, unit: 'ms', params: { direction: d.key, pages, size: bytes } },
          { cold: [], warm: v, roundMedians: v, stable: v.length > 1, tolerance: 0 },
        );
        ctx.measurement(m);
        ids.push(id);
        byPages[pages] = m;
      }
      if (byPages.thp && byPages['4K']) {
        ctx.comparison({ id: `4K/thp ${d.key} ${bytes}`, title: `4 KiB over THP migration time, ${d.title}, ${bytes / 1024} KiB`, a: byPages['4K'].id, b: byPages.thp.id, ratio: roundRatio(byPages['4K'], byPages.thp) });
      }
    }
    ctx.plot({ kind: 'curve', title: `${run.kernel}: HMM migration ${d.title} (hmm-tests benchmark_thp_migration)`, x: 'size', series: 'pages', measurements: ids, logX: true });
  }
}

/**
 * Runs selftest suites in a guest for a bench suite: the guest recorded in
 * the results, progress as steps, the guest killed at once when the run is
 * aborted (then null: nothing to report).
 */
export async function runSelftestsInSuite(ctx: SuiteContext, suites: readonly SelftestSuite[], repeat = 1): Promise<SelftestsRun | null> {
  if (ctx.signal.aborted) return null;
  let kill: (() => void) | null = null;
  const onAbort = (): void => kill?.();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await runSelftests({
      kernel: ctx.kernel!,
      suites,
      repeat,
      vm: { clock: ctx.guestClock },
      onVm: (vm) => {
        ctx.guest({ release: vm.release, accel: vm.accel, clock: vm.clock, cpu: vm.cpuModel });
        kill = () => void vm.kill();
      },
      onProgress: (m) => {
        if (/ in [\d.]+ s$/.test(m)) ctx.step(m);
      },
    });
  } catch (e) {
    if (ctx.signal.aborted) return null;
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

export const guestSelftestsSuite: Suite = {
  id: 'guest/selftests',
  title: "the kernel's own mm/HMM selftests, compared with their baseline",
  environment: 'guest',
  async unsupported(kernel) {
    const why = guestSuiteUnsupported(kernel, []);
    if (why) return why;
    const build = selftestsBuild(kernel!);
    return 'missing' in build ? build.missing : null;
  },
  steps: (ctx) => suitesFor(ctx.quick).length,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    const run = await runSelftestsInSuite(ctx, suitesFor(ctx.quick));
    if (!run) return;
    const baseline = loadBaseline(kernel);
    const cmp = compareWithBaseline(baseline, outcomesOf(run));
    const result = selftestsResult(run, cmp, baselinePath(kernel), baseline?.release ?? null);
    ctx.selftests(result);
    for (const s of result.suites) {
      const diffs = [...s.suiteDifferences.map((d) => `${d.kind}: expected ${d.expected}, got ${d.got}`), ...s.cases.filter((c) => c.verdict !== 'match' && c.verdict !== 'flaky').map((c) => `${c.name}: ${c.verdict}: expected ${c.expected}, got ${describeCounts(c.outcomes, s.runs)}`)];
      if (s.skipped !== undefined && !diffs.length) ctx.check({ name: s.check, status: 'skip', reason: s.skipped });
      else ctx.check({ name: s.check, status: diffs.length ? 'fail' : 'pass', ...(diffs.length ? { reason: diffs.join('; ') } : {}) });
    }
    thpMigration(ctx, run);
  },
};
