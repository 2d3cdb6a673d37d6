import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { backingSpec, runFaults, touchRange, runReference, clockOverhead } from '../../src/faults/index.js';
import { Mapping, PAGE_SIZE, reserveHugePages, thpSettings } from '../../src/memory/index.js';
import { smapsFor } from '../../src/pagestate/index.js';

const anonHugeKb = (address: bigint, length: number) => smapsFor({ address, length }).reduce((a, v) => a + (v.kB.AnonHugePages ?? 0), 0);
const thpOff = () => {
  const mode = thpSettings().enabled;
  return mode === undefined || mode === 'never' ? `THP unavailable (transparent_hugepage/enabled = ${mode})` : null;
};

const c = native.mmConstants;
const REGION = 262144;

describe('native fault loop', () => {
  it('counts one fault per 4 KiB page of a private anonymous region, one sample per touch', () => {
    const r = runFaults({ ...backingSpec('4K', REGION), repetitions: 3 });
    expect(r.touches).toBe(REGION / 4096);
    expect(r.reps).toHaveLength(3);
    for (const rep of r.reps) {
      expect(rep.samples.length).toBe(64);
      expect(rep.faults).toBe(64);
      expect(rep.rusage.minflt).toBe(64);
      expect(rep.rusage.majflt).toBe(0);
      if (rep.perf) expect(rep.perf).toEqual({ pageFaults: 64, minor: 64, major: 0 });
      for (const s of rep.samples) expect(s).toBeGreaterThan(0);
    }
    if (!r.perf.available) console.warn(`perf counters unavailable, counted with getrusage: ${r.faultSource.why}`);
    expect(r.faultSource.used).toBe(r.perf.available ? 'perf' : 'getrusage');
    expect(r.cold.n).toBe(64);
    expect(r.warm.n).toBe(128);
    expect(r.warmMedians.n).toBe(2);
    expect(r.faults).toMatchObject({ min: 64, max: 64 });
  });

  it('read faults on 4 KiB pages also count one per page', () => {
    const r = runFaults({ ...backingSpec('4K', REGION), access: 'read', repetitions: 2 });
    for (const rep of r.reps) expect(rep.faults).toBe(64);
  });

  it('a 2 MiB THP region touched every 4 KiB takes one fault when PMD-mapped (fresh mappings)', (ctx) => {
    const off = thpOff();
    if (off) {
      console.warn(`${off}: skipping`);
      return ctx.skip();
    }
    const r = runFaults({ ...backingSpec('thp', 2 << 20), stride: 4096, repetitions: 2, keepLast: true });
    const addr = r.keptAddress!;
    try {
      const kb = anonHugeKb(addr, 2 << 20);
      if (kb !== 2048) {
        console.warn(`THP not PMD-mapped here (AnonHugePages ${kb} kB, defrag ${thpSettings().defrag}): skipping`);
        return ctx.skip();
      }
      expect(r.touches).toBe(512);
      expect(r.reps[1].samples.length).toBe(512);
      expect(r.reps[1].faults).toBe(1);
    } finally {
      native.munmap(addr, 2 << 20);
    }
  });

  it('touchRange over a THP Mapping: one fault, then none', (ctx) => {
    const off = thpOff();
    if (off) {
      console.warn(`${off}: skipping`);
      return ctx.skip();
    }
    using m = Mapping.anonymous(2 << 20, { thp: true });
    const r = touchRange(m, { stride: 4096 });
    const kb = anonHugeKb(m.address, m.length);
    if (kb !== 2048) {
      console.warn(`THP not PMD-mapped here (AnonHugePages ${kb} kB): skipping`);
      return ctx.skip();
    }
    expect(r.reps[0].samples.length).toBe(512);
    expect(r.reps[0].faults).toBe(1);
    expect(touchRange(m, { stride: 4096, access: 'read' }).reps[0].faults).toBe(0);
  });

  it('touchRange times an existing range and counts its faults', () => {
    using m = Mapping.anonymous(REGION);
    const first = touchRange(m);
    expect(first.reps[0].samples.length).toBe(64);
    expect(first.reps[0].faults).toBe(64);
    expect(m.view[4096]).toBe(1); // the loop wrote 1 at each touched byte
    const again = touchRange(m.address, m.length);
    expect(again.reps[0].faults).toBe(0);
  });

  it('MADV_POPULATE_WRITE: one sample per region, faults counted by getrusage', () => {
    const r = runFaults({ ...backingSpec('4K', REGION), method: 'populate-write', repetitions: 2 });
    expect(r.touches).toBe(1);
    expect(r.faultSource.used).toBe('getrusage');
    for (const rep of r.reps) expect(rep.faults).toBe(64);
  });

  it('hugetlb 2 MiB: one fault per huge page', (ctx) => {
    let pool;
    try {
      pool = reserveHugePages('2M', 2);
    } catch (e) {
      console.warn(`hugetlb 2 MiB pool unavailable: ${(e as Error).message}`);
      return ctx.skip();
    }
    try {
      const r = runFaults({ ...backingSpec('hugetlb-2M', 4 << 20), stride: 4096, repetitions: 2 });
      for (const rep of r.reps) {
        expect(rep.samples.length).toBe(1024);
        expect(rep.faults).toBe(2);
      }
    } finally {
      pool.release();
    }
  });

  it('the C reference runs the same spec and reports the same fault counts', async () => {
    const spec = { ...backingSpec('4K', REGION), repetitions: 2 };
    const ref = await runReference(spec);
    const ml = runFaults(spec);
    expect(ref.touches).toBe(64);
    expect(ref.reps.map((r) => r.faults)).toEqual(ml.reps.map((r) => r.faults));
    expect(ref.reps[0].samples.length).toBe(64);
    expect(ref.faultSource.used).toBe(ml.faultSource.used);
  });

  it('large regions: the sample buffers add no fault to the counts (both loops)', async () => {
    // 5 x 4096 samples of 8 bytes: buffers past malloc's mmap threshold, not page aligned
    const spec = { ...backingSpec('4K', 16 << 20), repetitions: 5 };
    const ml = runFaults(spec);
    const ref = await runReference(spec);
    for (const r of [ml, ref]) {
      expect(r.touches).toBe(4096);
      expect(r.reps.map((x) => x.faults)).toEqual([4096, 4096, 4096, 4096, 4096]);
      expect(r.reps.map((x) => x.rusage.minflt)).toEqual([4096, 4096, 4096, 4096, 4096]);
    }
  });

  it('without perf counters, faults are counted by getrusage, in both loops', async () => {
    const spec = { ...backingSpec('4K', REGION), repetitions: 2, perf: false };
    const ml = runFaults(spec);
    const ref = await runReference(spec);
    for (const r of [ml, ref]) {
      expect(r.perf).toMatchObject({ available: false, code: 'disabled' });
      expect(r.faultSource.used).toBe('getrusage');
      expect(r.faultSource.why).toMatch(/not requested/);
      expect(r.reps.map((x) => x.faults)).toEqual([64, 64]);
      expect(r.reps[0].perf).toBeNull();
    }
  });

  it('a failing mmap in the C reference comes back as an error with its errno', async () => {
    await expect(runReference({ length: PAGE_SIZE, flags: c.MAP_PRIVATE, repetitions: 1 })).rejects.toMatchObject({ code: 'EBADF', syscall: 'mmap', errno: -9 });
  });

  it('refuses bad arguments before any system call', () => {
    expect(() => runFaults({ length: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => runFaults({ length: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => runFaults({ length: PAGE_SIZE, access: 'exec' as any })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => runFaults({ length: PAGE_SIZE, align: 3 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => runFaults({ length: PAGE_SIZE, bogus: 1 } as any)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => runFaults({ ...backingSpec('hugetlb-2M', 4096) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => touchRange(4096 as any, 4096)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('a failing mmap raises a system error with the arguments', () => {
    let err: any;
    try {
      runFaults({ length: PAGE_SIZE, flags: c.MAP_PRIVATE }); // no fd, not anonymous
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe('EBADF');
    expect(err.syscall).toBe('mmap');
    expect(err.args.length).toBe(PAGE_SIZE);
    expect(err.args.fd).toBe(-1);
  });

  it('clock overhead is measured, not assumed', () => {
    const s = clockOverhead(1000);
    expect(s.n).toBe(1000);
    expect(s.min).toBeGreaterThanOrEqual(0);
  });
});
