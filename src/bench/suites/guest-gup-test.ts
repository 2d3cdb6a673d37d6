// The kernel's own GUP benchmarks beside ours: tools/testing/selftests/mm's
// gup_test drives CONFIG_GUP_TEST's /sys/kernel/debug/gup_test, which times
// get_user_pages_fast (GUP_FAST), pin_user_pages_fast (PIN_FAST) and
// pin_user_pages with FOLL_LONGTERM (PIN_LONGTERM) over a range, in the
// kernel, and the matching put. Debian's kernels leave GUP_TEST out; our
// test and debug kernels have it (mirrorlab kernel build).
//
// Each gup_test run maps SIZE MiB (4 KiB pages with THP off for the range,
// THP, or hugetlb 2 MiB), faults it in, then GUPs it 512 pages per call
// (-n 512), REPEATS times; every repeat prints "get:N put:M us". The figures
// are per 4 KiB page (GUP hands out every base page, THP or not). Rounds run
// every mode and page size once each, in turn, so that their ratios come from
// one guest run.
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import type { Measurement } from '../../report/results.js';
import { selftestsBuild, type SelftestsRun } from '../../selftests/run.js';
import type { SelftestSuite } from '../../selftests/suites.js';
import { builtKernel, kernelConfig, type KernelSeries } from '../../vm/kernels.js';
import type { Suite, SuiteContext } from '../suite.js';
import { guestSuiteUnsupported } from './guest-common.js';
import { runSelftestsInSuite } from './guest-selftests.js';

export const GUP_MODES = [
  { key: 'gup-fast', flag: '-u', name: 'GUP_FAST_BENCHMARK', title: 'get_user_pages_fast' },
  { key: 'pin-fast', flag: '-a', name: 'PIN_FAST_BENCHMARK', title: 'pin_user_pages_fast' },
  { key: 'pin-longterm', flag: '-L', name: 'PIN_LONGTERM_BENCHMARK', title: 'pin_user_pages(FOLL_LONGTERM)' },
] as const;

export const GUP_PAGES = [
  { key: '4K', flag: '-T', title: '4 KiB pages (THP off for the range)' },
  { key: 'thp', flag: '-t', title: 'THP' },
  { key: 'hugetlb-2M', flag: '-H', title: 'hugetlb 2 MiB' },
] as const;

/** Pages per GUP call (-n), as a driver pinning a buffer in chunks would. */
const NR_PAGES = 512;

/** One gup_test benchmark line: the command and its get/put times in µs. */
export interface GupTime {
  cmd: string;
  getUs: number;
  putUs: number;
}

/** The timing lines of gup_test's output ("# PIN_FAST_BENCHMARK: Time: get:123 put:45 us"). */
export function parseGupTimes(output: string): GupTime[] {
  const out: GupTime[] = [];
  for (const m of output.matchAll(/\b([A-Z_]+_BENCHMARK): Time: get:(\d+) put:(\d+) us/g)) {
    out.push({ cmd: m[1], getUs: Number(m[2]), putUs: Number(m[3]) });
  }
  return out;
}

export function gupSuites(sizeMiB: number, repeats: number): SelftestSuite[] {
  return GUP_MODES.flatMap((mode) =>
    GUP_PAGES.map((pages) => ({
      name: `gup_test ${mode.key} ${pages.key}`,
      binaries: ['gup_test'],
      args: [mode.flag, pages.flag, '-m', String(sizeMiB), '-r', String(repeats), '-n', String(NR_PAGES)],
      limitS: 300,
      covers: `${mode.title} of ${sizeMiB} MiB of ${pages.title}, ${NR_PAGES} pages per call`,
    })),
  );
}

/** Why gup_test cannot run on this kernel, or null. */
export function gupTestUnsupported(kernel: KernelSeries): string | null {
  if (kernelConfig(kernel, 'CONFIG_GUP_TEST') !== 'y') {
    const b = builtKernel(kernel);
    return `kernel ${kernel} has no CONFIG_GUP_TEST (Debian's kernels leave it out); ${b ? 'a kernel we build has it' : `mirrorlab kernel build --series ${kernel} --flavour test builds one that has it (then --kernel ${kernel}-test)`}`;
  }
  return null;
}

/** The run's figures as measurements (ns per 4 KiB page), with the ratios between page sizes and modes. */
export function gupMeasurements(ctx: Pick<SuiteContext, 'measurement' | 'comparison' | 'check'>, run: SelftestsRun, sizeMiB: number): void {
  const pagesPerRun = (sizeMiB << 20) / 4096;
  const byKey = new Map<string, Measurement>();
  for (const mode of GUP_MODES) {
    for (const pages of GUP_PAGES) {
      const rep = run.suites.find((s) => s.suite === `gup_test ${mode.key} ${pages.key}`);
      if (!rep) continue;
      if (rep.skipped !== undefined) {
        ctx.check({ name: `${run.kernel} gup_test ${mode.key} ${pages.key}`, status: 'skip', reason: rep.skipped });
        continue;
      }
      const rounds = rep.runs.map((r) => parseGupTimes(r.output).filter((t) => t.cmd === mode.name));
      const failed = rep.runs.flatMap((r) => r.cases.filter((c) => c.outcome === 'fail'));
      const got = rounds.flat().length;
      const want = rep.runs.length * Number(rep.args[rep.args.indexOf('-r') + 1]);
      ctx.check({
        name: `${run.kernel} gup_test ${mode.key} ${pages.key}: every repeat timed`,
        status: failed.length || got !== want ? 'fail' : 'pass',
        ...(failed.length || got !== want ? { reason: `${got} of ${want} timing lines${failed.length ? `; ${failed.map((c) => `${c.name}: ${c.outcome}`).join(', ')}` : ''}` } : {}),
      });
      if (!got) continue;
      for (const op of ['get', 'put'] as const) {
        const perRound = rounds.filter((r) => r.length).map((r) => r.map((t) => ((op === 'get' ? t.getUs : t.putUs) * 1000) / pagesPerRun));
        const warm = perRound.flat();
        const medians = perRound.map((v) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)]);
        const id = `gup-test/${mode.key}/${pages.key}/${op}`;
        const m = toMeasurement(
          {
            id,
            title: `gup_test ${mode.title}, ${op === 'get' ? 'get' : 'put (unpin)'}, ${pages.title}, ${sizeMiB} MiB, ${NR_PAGES} pages per call, per 4 KiB page`,
            unit: 'ns',
            params: { mode: mode.key, pages: pages.key, op, sizeMiB, pagesPerCall: NR_PAGES },
          },
          { cold: [], warm, roundMedians: medians, stable: medians.length > 1, tolerance: 0 },
        );
        ctx.measurement(m);
        byKey.set(`${mode.key}/${pages.key}/${op}`, m);
      }
    }
  }
  const ratio = (id: string, title: string, a?: Measurement, b?: Measurement): void => {
    if (a && b) ctx.comparison({ id, title, a: a.id, b: b.id, ratio: roundRatio(a, b) });
  };
  for (const mode of GUP_MODES) {
    ratio(`gup-test ${mode.key} 4K/thp`, `${mode.title}: 4 KiB pages over THP (get, per page)`, byKey.get(`${mode.key}/4K/get`), byKey.get(`${mode.key}/thp/get`));
    ratio(`gup-test ${mode.key} 4K/hugetlb`, `${mode.title}: 4 KiB pages over hugetlb 2 MiB (get, per page)`, byKey.get(`${mode.key}/4K/get`), byKey.get(`${mode.key}/hugetlb-2M/get`));
  }
  for (const pages of GUP_PAGES) {
    ratio(`gup-test longterm/fast ${pages.key}`, `FOLL_LONGTERM pin over pin_user_pages_fast, ${pages.title} (get, per page)`, byKey.get(`pin-longterm/${pages.key}/get`), byKey.get(`pin-fast/${pages.key}/get`));
    ratio(`gup-test pin/gup ${pages.key}`, `pin_user_pages_fast over get_user_pages_fast, ${pages.title} (get, per page)`, byKey.get(`pin-fast/${pages.key}/get`), byKey.get(`gup-fast/${pages.key}/get`));
  }
}

export const guestGupTestSuite: Suite = {
  id: 'guest/gup-test',
  title: "the kernel's gup_test benchmarks (GUP_FAST, PIN_FAST, PIN_LONGTERM per page size), on kernels with CONFIG_GUP_TEST",
  environment: 'guest',
  async unsupported(kernel) {
    const why = guestSuiteUnsupported(kernel, []);
    if (why) return why;
    const noGup = gupTestUnsupported(kernel!);
    if (noGup) return noGup;
    const build = selftestsBuild(kernel!);
    return 'missing' in build ? build.missing : null;
  },
  steps: (ctx) => (ctx.quick ? 2 : 3) * GUP_MODES.length * GUP_PAGES.length,
  async run(ctx: SuiteContext) {
    const sizeMiB = ctx.quick ? 16 : 64;
    const rounds = ctx.quick ? 2 : 3;
    const repeats = ctx.quick ? 3 : 5;
    const run = await runSelftestsInSuite(ctx, gupSuites(sizeMiB, repeats), rounds);
    if (!run) return;
    gupMeasurements(ctx, run, sizeMiB);
  },
};
