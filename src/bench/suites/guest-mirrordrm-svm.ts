// mirrordrm's two mirrors in the guest, the kernel's drm_gpusvm helpers (MODE_SVM)
// against our hand-written HMM mode: the first device access of a fresh object
// (device faults, then the copy) per size, and the munmap that invalidates it
// (the syscall, and the driver's own time in its callback). Only on kernels
// with drm_gpusvm (CONFIG_DRM_GPUSVM, 6.15 and later); modes alternate in
// every round and the svm/hmm ratios come from the same rounds.
import fs from 'node:fs';
import path from 'node:path';
import { mirrordrmBench as GUEST } from '../../guest/index.js';
import { roundRatio, toMeasurement } from '../../measure/repeat.js';
import type { Measurement } from '../../report/results.js';
import { kernelInfo, type KernelSeries } from '../../vm/kernels.js';
import type { Suite, SuiteContext } from '../suite.js';
import { MiB, guestSuiteUnsupported, repeatRounds, sizeFilter, sizeLabel, withGuest } from './guest-common.js';

const WHAT: Record<string, [unit: string, title: string]> = {
  fault: ['ns', 'first device read (device faults + copy)'],
  munmap: ['ns', 'munmap of the mapped object (syscall)'],
  callback: ['ns', 'time in the invalidation callback for that munmap'],
};

/** Why the kernel has no drm_gpusvm (from its module lists), or null. */
export function gpusvmMissing(kernel: KernelSeries): string | null {
  const k = kernelInfo(kernel);
  const dir = path.join(k.modulesRoot, 'lib/modules', k.release);
  for (const f of ['modules.dep', 'modules.builtin']) {
    const p = path.join(dir, f);
    if (fs.existsSync(p) && fs.readFileSync(p, 'utf8').includes('/drm_gpusvm_helper.ko')) return null;
  }
  return `kernel ${k.release} has no drm_gpusvm (CONFIG_DRM_GPUSVM, 6.15 and later): mirrordrm refuses MODE_SVM`;
}

function sizes(quick: boolean, filter: string[]): number[] {
  return sizeFilter(quick ? [64 << 10, 2 * MiB] : [64 << 10, 2 * MiB, 16 * MiB], filter);
}

export const guestMirrordrmSvmSuite: Suite = {
  id: 'guest/mirrordrm-svm',
  title: 'mirrordrm: drm_gpusvm (svm) against hand-written HMM, first device access and munmap invalidation',
  environment: 'guest',
  async unsupported(kernel) {
    return guestSuiteUnsupported(kernel, ['mirrordrm']) ?? gpusvmMissing(kernel!);
  },
  steps: (ctx) => sizes(ctx.quick, ctx.sizes).length,
  async run(ctx: SuiteContext) {
    const kernel = ctx.kernel!;
    await withGuest(ctx, { kernel, iomemMiB: 0, hugepages1G: 0, hugepages2M: 0, callTimeoutMs: 600_000 }, async (vm) => {
      await vm.loadModule('mirrordrm');
      for (const size of sizes(ctx.quick, ctx.sizes)) {
        if (ctx.signal.aborted) return;
        const label = sizeLabel(size);
        const reps = Math.max(1, Math.min(8, Math.ceil((2 * MiB) / size)));
        const r = await repeatRounds((i) => vm.call(GUEST, 'svmRound', size, reps, i), ctx.repeat, ctx.signal);
        const measured = new Map<string, Measurement>();
        for (const [key, res] of r) {
          const [mode, what] = key.split('/');
          const [unit, title] = WHAT[what];
          const m = toMeasurement({ id: `svm/${what}/${mode}/${label}`, title: `${title}, ${label}, ${mode}`, unit, params: { mode, what, size } }, res);
          ctx.measurement(m);
          measured.set(m.id, m);
        }
        for (const what of Object.keys(WHAT)) {
          const a = measured.get(`svm/${what}/svm/${label}`);
          const b = measured.get(`svm/${what}/hmm/${label}`);
          if (a && b) ctx.comparison({ id: `svm/hmm ${what} ${label}`, title: `drm_gpusvm over hand-written HMM: ${WHAT[what][1]}, ${label}`, a: a.id, b: b.id, ratio: roundRatio(a, b) });
        }
        ctx.plot({ kind: 'bars', title: `${kernel}: svm vs hmm, ${label}`, label: 'mode', measurements: [...measured.keys()] });
        ctx.step(label);
      }
    });
  },
};
