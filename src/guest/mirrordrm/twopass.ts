// Two-pass interval notifiers (Linux 7.1+ mmu_interval_notifier_ops
// invalidate_start / invalidate_finish) in the guest: a two-pass object and
// a one-pass object over the same buffer on one file, a partial munmap, the
// records each gets and what the device reads afterwards. Older kernels
// refuse the flag with EOPNOTSUPP; twoPassSupport() returns the kernel's
// answer as it is.
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { PAGE, mapAnon, mapAnonAlone, unmapAll, unmapAlone, unmapHoldingHole, attempt, rel, pattern } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';

/** Mirror options of a scenario's object: GUP objects re-pin, so the finish pass has pages to release. */
function options(mode: MirrorMode, twoPass: boolean) {
  return mode === 'hmm' ? { mode, populate: true, twoPass } : { mode, repin: true, twoPass };
}

/** The kernel's answer to a USERPTR with MIRRORDRM_USERPTR_TWO_PASS (one page, each mode). */
export async function twoPassSupport() {
  using dev = MockDrm.open();
  const r = mapAnon(PAGE);
  try {
    r.bytes.fill(1);
    const out: Record<string, unknown> = {};
    for (const mode of ['hmm', 'gup'] as const) {
      out[mode] = await attempt(async () => {
        using buf = await dev.userptr({ address: r.addr, length: r.length }, options(mode, true));
        return Array.from(await buf.read(0, 4));
      });
    }
    return out;
  } finally {
    unmapAll(r);
  }
}

/**
 * 8 patterned pages, a two-pass and a one-pass object over all of them (both
 * populated, both with the same emulated fence wait), munmap of pages 2-3,
 * then a new mapping in the hole with new bytes: the records of the munmap,
 * each object's counters right after it, and what each device reads of all
 * 8 pages afterwards.
 */
export async function twoPassMunmap(mode: MirrorMode, fenceWaitNs: number) {
  using dev = MockDrm.open();
  const n = 8;
  // a VMA of its own: merged with a neighbour it could be part of a THP,
  // and the munmap would split that PMD (a CLEAR) before its UNMAP
  const r = mapAnonAlone(n * PAGE);
  const c = native.mmConstants;
  try {
    for (let i = 0; i < r.length; i++) r.bytes[i] = pattern(i);
    using two = await dev.userptr({ address: r.addr, length: r.length }, options(mode, true));
    using one = await dev.userptr({ address: r.addr, length: r.length }, options(mode, false));
    two.setBehaviour({ fenceWaitNs });
    one.setBehaviour({ fenceWaitNs });
    await two.read(0, r.length);
    await one.read(0, r.length);
    dev.drainInvalidations();

    native.munmap(r.addr + BigInt(2 * PAGE), 2 * PAGE);
    const records = rel(dev.drainInvalidations().records, r.addr);
    const stats = { two: two.stats(), one: one.stats() };

    // new memory in the hole, new bytes in it (NOREPLACE: never over
    // something the process mapped there meanwhile)
    native.mmap(r.addr + BigInt(2 * PAGE), 2 * PAGE, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_FIXED_NOREPLACE, -1, 0);
    r.bytes.fill(0xc3, 2 * PAGE, 4 * PAGE);
    const expected = Array.from(r.bytes);
    const mismatches = async (b: typeof two) => {
      const got = await b.read(0, r.length);
      let bad = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) bad++;
      return { bad, hole: Array.from(got.subarray(2 * PAGE, 2 * PAGE + 4)), first: got[0], last: got[r.length - 1] };
    };
    const read = { two: await mismatches(two), one: await mismatches(one) };
    return { handles: { two: two.handle, one: one.handle }, records, stats, read, expect: { hole: [0xc3, 0xc3, 0xc3, 0xc3], first: pattern(0), last: pattern(r.length - 1) } };
  } finally {
    unmapAlone(r);
  }
}

/**
 * The finish state holds the GUP pages to release and is allocated with
 * GFP_NOWAIT, at most one page: an invalidation that releases more pages than
 * fit runs as one pass (FINISH_FALLBACK). munmap of `pages` pages of a
 * re-pinning two-pass object with a fence wait: its record and counters.
 */
export async function twoPassFallback(mode: MirrorMode, pages: number, fenceWaitNs: number) {
  using dev = MockDrm.open();
  // a VMA of its own (no THP from a merged neighbour to split first), and
  // after the munmap a placeholder in the hole (no later UNMAP of memory
  // the heap puts there while the object still watches the range)
  const r = mapAnonAlone(pages * PAGE);
  let release = () => unmapAlone(r);
  try {
    r.bytes.fill(0x5a);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, options(mode, true));
    buf.setBehaviour({ fenceWaitNs });
    await buf.read(0, r.length);
    const before = buf.stats();
    dev.drainInvalidations();
    release = () => undefined;
    release = unmapHoldingHole(r);
    const records = rel(dev.drainInvalidations().records, r.addr);
    const after = buf.stats();
    const read = await attempt(async () => Array.from(await buf.read(0, 1)));
    return { handle: buf.handle, records, before, after, read };
  } finally {
    release();
  }
}
