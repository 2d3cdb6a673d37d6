// Guest-side rounds of the two-pass notifier benchmark (the suite
// src/bench/suites/guest-mirrordrm-twopass.ts), called through
// Vm.call(mirrordrmTwoPassBench, ...). One call is one round: for each rep,
// one-pass then two-pass (the order alternates), a fresh mapping, N HMM
// objects over all of it (populated), and the munmap of the whole mapping
// timed in C around the system call. The records of that munmap give the
// time in the callbacks. Returns raw samples; the host builds the figures.
import { native } from '../addon.js';
import { MockDrm } from '../mirror/mockdrm.js';
import { MIRRORDRM } from '../mirror/uapi.js';
import { mapAnonAlone, unmapAlone, unmapHoldingHole } from './common.js';
export { setNumaBalancing } from './mirrordrm/numa.js';

export const TWO_PASS_KINDS = ['one-pass', 'two-pass'] as const;
export type TwoPassKind = (typeof TWO_PASS_KINDS)[number];

/**
 * One round over `n` objects on a `size`-byte mapping, `reps` munmaps per
 * kind. Samples (ns) by "kind/what": munmap (the system call), callback
 * (mean over the munmap's records of start + finish pass), and for two-pass
 * start and finish (means of each pass). `records` counts the munmap's
 * records, `others` any other record, `lost` what the log dropped (both kinds
 * together). Automatic NUMA balancing must be off (setNumaBalancing(0)): its
 * hinting faults invalidate the range of all N objects in the background.
 */
export async function twoPassRound(n: number, size: number, reps: number, round = 0): Promise<{ samples: Record<string, number[]>; records: number; lost: number; fallbacks: number; others: number }> {
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const samples: Record<string, number[]> = {};
  const push = (k: string, v: number): void => void (samples[k] ??= []).push(v);
  let records = 0;
  let lost = 0;
  let fallbacks = 0;
  let others = 0;
  for (let r = 0; r < reps; r++) {
    const order = (round + r) % 2 ? [...TWO_PASS_KINDS].reverse() : TWO_PASS_KINDS;
    for (const kind of order) {
      // A VMA of its own (mapAnonAlone): merged with a neighbour it could be
      // part of a PMD-mapped THP, and the munmap would first split that PMD,
      // one CLEAR per object (with 4096 objects, a ring full before the
      // UNMAPs). After the munmap a placeholder holds the hole until the
      // objects close: the heap mapping memory there and unmapping it again
      // would give every object another UNMAP.
      const m = mapAnonAlone(size);
      const addr = m.addr;
      native.patternFill(addr, size, 5n, 0);
      const flags = MIRRORDRM.MODE_HMM | MIRRORDRM.POPULATE | (kind === 'two-pass' ? MIRRORDRM.TWO_PASS : 0);
      const handles: number[] = [];
      let release = () => unmapAlone(m);
      try {
        for (let i = 0; i < n; i++) handles.push(md.userptr(dev.fd, addr, size, flags));
        dev.drainInvalidations();
        let ns = 0;
        release = () => undefined;
        release = unmapHoldingHole(m, (a, l) => void (ns = native.timedMunmap(a, l)));
        push(`${kind}/munmap`, ns);
      } finally {
        for (const h of handles) md.gemClose(dev.fd, h);
        release();
      }
      const d = dev.drainInvalidations();
      lost += Number(d.lost);
      let total = 0;
      let start = 0;
      let finish = 0;
      const ours = d.records.filter((x) => x.event === 'UNMAP' && x.start === addr && x.end === addr + BigInt(size));
      others += d.records.length - ours.length;
      for (const x of ours) {
        total += x.durationNs + x.finishNs;
        start += x.durationNs;
        finish += x.finishNs;
        if (x.finishFallback) fallbacks++;
      }
      const k = ours.length;
      records += k;
      if (k) {
        push(`${kind}/callback`, total / k);
        if (kind === 'two-pass') {
          push('two-pass/start', start / k);
          push('two-pass/finish', finish / k);
        }
      }
    }
  }
  return { samples, records, lost, fallbacks, others };
}
