// The icount guest clock (--guest-clock icount) on 7.2: QEMU runs with
// -icount, and the guest's CLOCK_MONOTONIC counts instructions. Two boots
// time the same loop in the guest and get the same deltas, whatever the host
// was doing meanwhile; the host's time for the same calls is only printed.
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { selftest } from '../../src/guest/index.js';
import { Vm } from '../../src/vm/vm.js';
import { kernelSeries } from '../../src/vm/kernels.js';
import { caseOf } from './cases.js';
import { ensureGuestBuild, ourQemuPids, skipReason } from './helpers.js';

const kernel = kernelSeries('7.2');
const reason = skipReason(kernel);
beforeAll(async () => {
  if (!reason) await ensureGuestBuild([kernel]);
}, 600_000);

// About 12 guest instructions per iteration (a 7.2 run: 30 M iterations took 360.5 M ns of
// icount time, the same to 0.01 % in two boots): 5 M iterations are ~60 ms of guest time,
// about a second of host time per repetition under TCG.
const ITERATIONS = 5_000_000;
const TIMES = 5;

it.skipIf(reason !== null)(
  ...caseOf('icount-deterministic', 'with the icount clock, a fixed loop timed by CLOCK_MONOTONIC in the guest takes the same time in two boots (QEMU ran with -icount shift=0,sleep=off)', { timeout: 600_000, kernel }),
  async () => {
    const runs: { minNs: number; deltasNs: number[]; hostMs: number; checksum: number }[] = [];
    for (let boot = 0; boot < 2; boot++) {
      // No iomem range and no 1 GiB page: a small guest, booted quickly.
      const vm = await Vm.boot({ kernel, clock: 'icount', iomemMiB: 0, hugepages1G: 0, hugepages2M: 0, callTimeoutMs: 300_000, timeoutMs: 300_000 });
      try {
        expect(vm.clock).toBe('icount');
        expect(vm.accel).toBe('tcg');
        // The QEMU process really runs with the instruction counter.
        const argv = readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
        expect(argv.slice(argv.indexOf('-icount'), argv.indexOf('-icount') + 2)).toEqual(['-icount', 'shift=0,sleep=off']);
        const t0 = performance.now();
        const r = await vm.call(selftest, 'clockProbe', ITERATIONS, TIMES);
        const hostMs = performance.now() - t0;
        expect(r.deltasNs).toHaveLength(TIMES);
        runs.push({ minNs: Math.min(...r.deltasNs), deltasNs: r.deltasNs, hostMs, checksum: r.checksum });
      } finally {
        await vm.close();
      }
    }
    for (const [i, r] of runs.entries()) console.log(`${kernel} icount boot ${i + 1}: guest deltas ${r.deltasNs.join(' ')} ns; host time of the call ${r.hostMs.toFixed(0)} ms`);
    // The same loop computed the same value (the loop ran, and was not optimized away).
    expect(runs[1].checksum).toBe(runs[0].checksum);
    // Every iteration is at least one instruction, 1 ns each under icount.
    for (const r of runs) expect(r.minNs).toBeGreaterThan(ITERATIONS);
    // Interrupts that land in a loop add their instructions to it: the fastest of five repetitions
    // of each boot leaves them out, and the two boots agree within 1%.
    const ratio = Math.max(runs[0].minNs, runs[1].minNs) / Math.min(runs[0].minNs, runs[1].minNs);
    expect(ratio).toBeLessThan(1.01);
    expect(ourQemuPids()).toEqual([]);
  },
);
