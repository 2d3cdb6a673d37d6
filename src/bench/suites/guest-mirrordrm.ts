// mirrordrm in the guests: the cost of registering a user buffer with the mock
// device per page, by mode (GUP pins, GUP with FOLL_LONGTERM, plain GUP page
// references, HMM populate through hmm_range_fault) and backing (4 KiB
// anonymous pages, THP, hugetlb 2 MiB), from 4 KiB to 1 GiB; the cost of a
// device read that must revalidate after an invalidation; and the time spent
// in the invalidation callback by event. Modes run interleaved in every round.
import type { BenchBacking } from '../../guest/mirrordrm-bench.js';
import { mirrordrmBench as GUEST } from '../../guest/index.js';
import { MIRROR_MODES as MODES } from '../../mirror/types.js';
import { roundRatio, toMeasurement, type RepeatResult } from '../../measure/repeat.js';
import type { Measurement } from '../../report/results.js';
import type { Suite, SuiteContext } from '../suite.js';
import { GiB, MiB, guestSuiteUnsupported, repeatRounds, sizeFilter, sizeLabel, withGuest } from './guest-common.js';

const PAGE = 4096;

function registrationSizes(quick: boolean, filter: string[]): Array<[BenchBacking, number[]]> {
  const full: Array<[BenchBacking, number[]]> = [
    ['anon', [4096, 64 << 10, MiB, 16 * MiB, 256 * MiB, GiB]],
    ['thp', [2 * MiB, 16 * MiB, 256 * MiB, GiB]],
    ['hugetlb-2M', [2 * MiB, 16 * MiB, 256 * MiB, GiB]],
  ];
  const small: Array<[BenchBacking, number[]]> = [
    ['anon', [4096, 2 * MiB]],
    ['thp', [2 * MiB]],
    ['hugetlb-2M', [2 * MiB]],
  ];
  return (quick ? small : full).map(([b, s]) => [b, sizeFilter(s, filter)] as [BenchBacking, number[]]).filter(([, s]) => s.length > 0);
}

/** Registrations per mode in one round: enough pages that one round is not a single tiny sample. */
function repsFor(size: number): number {
  return Math.max(1, Math.min(16, Math.ceil((256 * PAGE) / size)));
}

/** The same samples as bytes per second (GiB/s), for throughput curves. */
function asThroughput(r: RepeatResult): RepeatResult {
  const f = (nsPerPage: number): number => (PAGE / nsPerPage) * (1e9 / GiB);
  return { ...r, cold: r.cold.map(f), warm: r.warm.map(f), roundMedians: r.roundMedians.map(f) };
}

export const guestMirrordrmSuite: Suite = {
  id: 'guest/mirrordrm',
  title: 'mirrordrm: registration, revalidation and callback cost, GUP vs GUP-longterm vs HMM',
  environment: 'guest',
  async unsupported(kernel) {
    return guestSuiteUnsupported(kernel, ['mirrordrm']);
  },
  steps: (ctx) => registrationSizes(ctx.quick, ctx.sizes).reduce((n, [, s]) => n + s.length, 0) + 2,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    const plan = registrationSizes(ctx.quick, ctx.sizes);
    const largest = Math.max(0, ...plan.flatMap(([b, s]) => (b === 'hugetlb-2M' ? s : [])));
    await withGuest(
      ctx,
      // No 1 GiB hugetlb page and no iomem range: the memory goes to the buffers.
      { kernel, iomemMiB: 0, hugepages1G: 0, hugepages2M: Math.max(8, largest / (2 * MiB) + 8), callTimeoutMs: 600_000 },
      async (vm) => {
        await vm.loadModule('mirrordrm');
        // Our guests have two NUMA nodes, so automatic NUMA balancing is on:
        // its hinting faults made a THP buffer PMD-unmapped between the fault
        // and the order check (a CI run saw order 0 on 6.12), and would add
        // faults to the rounds. Registration is what is measured here.
        await vm.exec('/bin/sh', ['-c', 'f=/proc/sys/kernel/numa_balancing; [ ! -e $f ] || echo 0 > $f']);
        const measured = new Map<string, Measurement>();
        const add = (m: Measurement): void => {
          ctx.measurement(m);
          measured.set(m.id, m);
        };
        const compare = (id: string, title: string, a: string, b: string): void => {
          const ma = measured.get(a);
          const mb = measured.get(b);
          if (ma && mb) ctx.comparison({ id, title, a, b, ratio: roundRatio(ma, mb) });
        };

        for (const [backing, sizes] of plan) {
          const curve: string[] = [];
          for (const size of sizes) {
            if (ctx.signal.aborted) return;
            const label = sizeLabel(size);
            let opened: { id: number; mapOrder: number };
            try {
              opened = await vm.call(GUEST, 'registrationOpen', backing, size);
            } catch (e) {
              if (ctx.signal.aborted || vm.error) throw e;
              ctx.check({ name: `${kernel} registration ${backing} ${label}: buffer`, status: 'skip', reason: (e as Error).message });
              ctx.step(`${backing} ${label}: skipped`);
              continue;
            }
            const wantOrder = backing === 'anon' ? 0 : 9;
            ctx.check({
              name: `${kernel} registration ${backing} ${label}: pages mapped at order ${wantOrder}`,
              status: opened.mapOrder === wantOrder ? 'pass' : 'fail',
              ...(opened.mapOrder === wantOrder ? {} : { reason: `first page mapped at order ${opened.mapOrder}` }),
            });
            try {
              const reps = repsFor(size);
              const r = await repeatRounds((i) => vm.call(GUEST, 'registrationRound', opened.id, MODES, reps, i), ctx.repeat, ctx.signal);
              for (const mode of MODES) {
                const res = r.get(mode);
                if (!res) continue;
                const params = { backing, mode, size };
                // The order the kernel mapped the buffer at is what it did, not what was asked (the check above judges it).
                const observed = { mapOrder: opened.mapOrder };
                add(toMeasurement({ id: `registration/${backing}/${mode}/${label}`, title: `registration of ${label} ${backing}, ${mode}, per page`, unit: 'ns/page', params, observed }, res));
                const tid = `throughput/${backing}/${mode}/${label}`;
                add(toMeasurement({ id: tid, title: `registration throughput, ${label} ${backing}, ${mode}`, unit: 'GiB/s', better: 'higher', params, observed }, asThroughput(res)));
                curve.push(tid);
              }
              compare(`gup/hmm ${backing} ${label}`, `GUP over HMM registration per page, ${backing} ${label}`, `registration/${backing}/gup/${label}`, `registration/${backing}/hmm/${label}`);
              compare(`gup-longterm/gup ${backing} ${label}`, `FOLL_LONGTERM over plain pin, ${backing} ${label}`, `registration/${backing}/gup-longterm/${label}`, `registration/${backing}/gup/${label}`);
              compare(`gup-get/gup ${backing} ${label}`, `get_user_pages_fast over pin_user_pages_fast, ${backing} ${label}`, `registration/${backing}/gup-get/${label}`, `registration/${backing}/gup/${label}`);
            } finally {
              if (!vm.error && !ctx.signal.aborted) await vm.call(GUEST, 'registrationClose', opened.id);
            }
            ctx.step(`${backing} ${label}`);
          }
          if (curve.length) ctx.plot({ kind: 'curve', title: `${kernel}: registration throughput vs size, ${backing}`, x: 'size', series: 'mode', measurements: curve, logX: true });
        }

        if (ctx.signal.aborted) return;
        const revalSize = MiB;
        const reval = await repeatRounds(() => vm.call(GUEST, 'revalidationRound', revalSize, ctx.quick ? 3 : 5).then((r) => r.samples), ctx.repeat, ctx.signal);
        const revalPages = revalSize / PAGE;
        const perPage = (r: RepeatResult): RepeatResult => {
          const f = (ns: number): number => ns / revalPages;
          return { ...r, cold: r.cold.map(f), warm: r.warm.map(f), roundMedians: r.roundMedians.map(f) };
        };
        for (const [key, res] of reval) {
          const [mode, state] = key.split('/');
          add(toMeasurement({ id: `revalidation/${key}`, title: `device read of 1 MiB, ${mode}, ${state}`, unit: 'ns', params: { mode, state, size: revalSize } }, res));
          add(toMeasurement({ id: `revalidation-per-page/${key}`, title: `device read of 1 MiB, ${mode}, ${state}, per page`, unit: 'ns/page', params: { mode, state, size: revalSize, pages: revalPages } }, perPage(res)));
        }
        for (const mode of ['hmm', 'gup-repin']) {
          compare(`revalidation slowdown ${mode}`, `device read after MADV_DONTNEED over warm read, ${mode}`, `revalidation/${mode}/after-dontneed`, `revalidation/${mode}/warm`);
        }
        compare('revalidation gup-repin/hmm', 'read after MADV_DONTNEED, gup-repin over hmm', 'revalidation/gup-repin/after-dontneed', 'revalidation/hmm/after-dontneed');
        ctx.plot({ kind: 'bars', title: `${kernel}: device read of 1 MiB, warm and after MADV_DONTNEED`, label: 'state', measurements: [...reval.keys()].map((k) => `revalidation/${k}`) });
        ctx.step('revalidation');

        if (ctx.signal.aborted) return;
        const cb = await repeatRounds(() => vm.call(GUEST, 'callbackRound', ctx.quick ? 2 : 4), ctx.repeat, ctx.signal);
        const events = new Set<string>();
        for (const [key, res] of cb) {
          const [mode, event] = key.split('/');
          events.add(event);
          add(toMeasurement({ id: `callback/${key}`, title: `invalidation callback, ${mode}, ${event}`, unit: 'ns', params: { mode, event } }, res));
        }
        for (const ev of events) compare(`callback gup/hmm ${ev}`, `time in the callback, GUP over HMM, ${ev}`, `callback/gup/${ev}`, `callback/hmm/${ev}`);
        for (const mode of ['gup', 'hmm']) {
          ctx.plot({ kind: 'bars', title: `${kernel}: invalidation callback by event, ${mode}`, label: 'event', measurements: [...cb.keys()].filter((k) => k.startsWith(`${mode}/`)).map((k) => `callback/${k}`) });
        }
        if (cb.has('hmm/UNMAP')) ctx.plot({ kind: 'histogram', title: `${kernel}: HMM UNMAP callback`, measurement: 'callback/hmm/UNMAP' });
        ctx.step('callbacks');
      },
    );
  },
};
