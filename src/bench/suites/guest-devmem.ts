// mirrordrm's device-private memory in the guest (kernels with
// CONFIG_DEVICE_PRIVATE): migration to the device and back per size, 4 KiB
// pages against 2 MiB folios (MIGRATE_VMA_SELECT_COMPOUND); the cost of a
// CPU fault that brings a page back (migrate_to_ram); the device reading its
// own memory against system memory. In a full run, hmm-tests'
// benchmark_thp_migration runs in the same guest with lib/test_hmm.ko, and
// its figures stand beside ours as ratios mirrorlab / test_hmm per size.
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import type { Measurement } from '../../report/results.js';
import { devmemBench as GUEST } from '../../guest/index.js';
import type { DevmemPages } from '../../guest/devmem-bench.js';
import { parseThpMigration } from '../../selftests/parse.js';
import { loadTestHmm, runSuite, selftestsArchive, selftestsBuild, suiteBinary } from '../../selftests/run.js';
import { THP_BENCHMARK_SUITE, selftestSuite } from '../../selftests/suites.js';
import { kernelConfig } from '../../vm/kernels.js';
import type { Suite, SuiteContext } from '../suite.js';
import { GiB, MiB, guestSuiteUnsupported, repeatRounds, sizeFilter, sizeLabel, withGuest } from './guest-common.js';

/** hmm-tests' benchmark_thp_migration sizes (a quarter THP to 128 THPs), then ours up to 1 GiB. */
const PEER_SIZES = [512 << 10, MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 256 * MiB];

function migrationSizes(quick: boolean, filter: string[]): number[] {
  return sizeFilter(quick ? [2 * MiB] : [...PEER_SIZES, GiB], filter);
}

/** Migrations per direction in one round: a few, more for small buffers. */
function repsFor(size: number): number {
  return Math.max(1, Math.min(8, Math.ceil((16 * MiB) / size)));
}

export const guestDevmemSuite: Suite = {
  id: 'guest/devmem',
  title: 'mirrordrm device memory: migration to the device and back, CPU fault-back, device reads (4 KiB vs THP)',
  environment: 'guest',
  async unsupported(kernel) {
    const why = guestSuiteUnsupported(kernel, ['mirrordrm']);
    if (why) return why;
    if (kernelConfig(kernel!, 'CONFIG_DEVICE_PRIVATE') !== 'y') return `${kernel} is built without CONFIG_DEVICE_PRIVATE: no device-private memory`;
    return null;
  },
  steps: (ctx) => 2 * migrationSizes(ctx.quick, ctx.sizes).length + 3,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    const sizes = migrationSizes(ctx.quick, ctx.sizes);
    const largest = Math.max(0, ...sizes);
    // hmm-tests and test_hmm only in a full run: its 256 MiB size alone takes minutes under TCG
    const build = ctx.quick ? null : selftestsBuild(kernel);
    const peer = build && !('missing' in build) ? build : null;
    const peerWhy = ctx.quick ? 'not in a quick run (hmm-tests runs every size up to 256 MiB)' : build && 'missing' in build ? build.missing : null;
    await withGuest(
      ctx,
      { kernel, callTimeoutMs: 600_000, ...(peer ? { extraInitrd: [selftestsArchive(kernel, peer)] } : {}) },
      async (vm) => {
        // device memory for the largest buffer, and never less than the default
        await vm.loadModule('mirrordrm', { devmem_mb: Math.max(256, Math.ceil(largest / MiB) + 64) });
        await vm.exec('/bin/sh', ['-c', 'echo 0 > /proc/sys/kernel/numa_balancing']);
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

        for (const pages of ['4K', 'thp'] as DevmemPages[]) {
          const curve: string[] = [];
          for (const size of sizes) {
            if (ctx.signal.aborted) return;
            const label = sizeLabel(size);
            const opened = await vm.call(GUEST, 'migrationOpen', pages, size);
            try {
              // below 2 MiB no THP can back the buffer, whatever the advice (hmm-tests' smaller sizes too)
              const want = pages === 'thp' && size >= 2 * MiB ? 9 : 0;
              ctx.check({
                name: `${kernel} devmem ${pages} ${label}: buffer mapped at order ${want}`,
                status: opened.mapOrder === want ? 'pass' : 'fail',
                ...(opened.mapOrder === want ? {} : { reason: `first page mapped at order ${opened.mapOrder}` }),
              });
              const r = await repeatRounds(() => vm.call(GUEST, 'migrationRound', opened.id, repsFor(size)), { ...ctx.repeat, budgetMs: ctx.quick ? 3000 : 20_000 }, ctx.signal);
              for (const [dir, res] of r) {
                const id = `migrate/${dir}/${pages}/${label}`;
                add(toMeasurement({ id, title: `MIGRATE ${dir} of ${label}, ${pages === 'thp' ? '2 MiB folios' : '4 KiB pages'}`, unit: 'ms', params: { direction: dir, pages, size } }, res));
                if (dir === 'to-device') curve.push(id);
              }
            } finally {
              if (!vm.error && !ctx.signal.aborted) await vm.call(GUEST, 'migrationClose', opened.id);
            }
            ctx.step(`migrate ${pages} ${label}`);
          }
          if (curve.length) ctx.plot({ kind: 'curve', title: `${kernel}: migration to device memory vs size, ${pages}`, x: 'size', series: 'pages', measurements: curve, logX: true });
        }
        for (const size of sizes) {
          const label = sizeLabel(size);
          for (const dir of ['to-device', 'to-ram']) compare(`devmem 4K/thp ${dir} ${label}`, `4 KiB over THP migration time, ${dir}, ${label}`, `migrate/${dir}/4K/${label}`, `migrate/${dir}/thp/${label}`);
        }

        // CPU fault-back and device reads: 2 MiB, both page sizes
        for (const pages of ['4K', 'thp'] as DevmemPages[]) {
          if (ctx.signal.aborted) return;
          const opened = await vm.call(GUEST, 'migrationOpen', pages, 2 * MiB);
          try {
            const r = await repeatRounds(() => vm.call(GUEST, 'faultBackRound', opened.id, 3), { ...ctx.repeat, budgetMs: ctx.quick ? 3000 : 15_000 }, ctx.signal);
            const fb = r.get('fault-back');
            if (fb) add(toMeasurement({ id: `fault-back/${pages}`, title: `CPU read of a page on the device (migrate_to_ram), ${pages === 'thp' ? 'one 2 MiB folio per fault' : 'one 4 KiB page per fault'}`, unit: 'ns', params: { pages } }, fb));
            for (const where of ['system', 'device']) {
              const res = r.get(`device-read/${where}`);
              if (res) add(toMeasurement({ id: `device-read/${where}/${pages}`, title: `device read of 2 MiB in ${where} memory, ${pages}, per page`, unit: 'ns/page', params: { where, pages } }, res));
            }
            compare(`device-read device/system ${pages}`, `device read of its own memory over system memory, ${pages}`, `device-read/device/${pages}`, `device-read/system/${pages}`);
          } finally {
            if (!vm.error && !ctx.signal.aborted) await vm.call(GUEST, 'migrationClose', opened.id);
          }
          ctx.step(`fault-back ${pages}`);
        }
        compare('fault-back thp/4K', 'CPU fault-back of a 2 MiB folio over one 4 KiB page', 'fault-back/thp', 'fault-back/4K');

        // the peer: hmm-tests' own benchmark in this guest, on test_hmm's device
        if (ctx.signal.aborted) return;
        if (!peer) {
          ctx.check({ name: `${kernel} devmem: hmm-tests benchmark_thp_migration beside ours`, status: 'skip', reason: peerWhy ?? 'no selftests build' });
          ctx.step('peer skipped');
          return;
        }
        const loaded = await loadTestHmm(vm, peer);
        const suite = selftestSuite(THP_BENCHMARK_SUITE)!;
        const bin = suiteBinary(peer, suite);
        if (!loaded.startsWith('loaded') || !('binary' in bin)) {
          ctx.check({ name: `${kernel} devmem: hmm-tests benchmark_thp_migration beside ours`, status: 'skip', reason: 'binary' in bin ? loaded : bin.skip });
          ctx.step('peer skipped');
          return;
        }
        const run = await runSuite(vm, suite, bin.binary);
        const figs = parseThpMigration(run.output);
        ctx.check({
          name: `${kernel} devmem: hmm-tests benchmark_thp_migration beside ours`,
          status: figs.length ? 'pass' : 'fail',
          ...(figs.length ? {} : { reason: `no figures in its output (exit ${run.exitStatus}${run.timedOut ? ', timed out' : ''})` }),
        });
        for (const f of figs) {
          const label = sizeLabel(f.bytes);
          for (const [dir, key] of [['to-device', 'sysToDevMs'], ['to-ram', 'devToSysMs']] as const) {
            for (const pages of ['4K', 'thp'] as const) {
              const v = f[key][pages === 'thp' ? 'thp' : 'regular'];
              const id = `test_hmm/${dir}/${pages}/${label}`;
              // one sample: the mean of hmm-tests' 5 timed migrations
              add(toMeasurement({ id, title: `hmm-tests (test_hmm) ${dir} of ${label}, ${pages}, mean of 5`, unit: 'ms', params: { direction: dir, pages, size: f.bytes, peer: 'test_hmm' } }, { cold: [], warm: [v], roundMedians: [v], stable: false, tolerance: 0 }));
              compare(`mirrorlab/test_hmm ${dir} ${pages} ${label}`, `mirrordrm over test_hmm migration time, ${dir}, ${pages}, ${label}`, `migrate/${dir}/${pages}/${label}`, id);
            }
          }
        }
        ctx.step('peer');
      },
    );
  },
};
