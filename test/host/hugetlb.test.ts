// hugetlb 2 MiB and 1 GiB mappings. Each test reserves the pool pages it needs
// and gives them back; it skips, saying why, when it cannot.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Mapping, PAGE_SIZE, hugePool, hugePools, reserveHugePages, runInChild, type HugeReservation, type HugeSize } from '../../src/memory/index.js';
import { pageState, pageSummary, smapsFor } from '../../src/pagestate/index.js';

const M2 = 2 * 1024 * 1024;
const G1 = 1024 * 1024 * 1024;

function reserve(size: HugeSize, n: number, ctx: { skip: () => void }): HugeReservation {
  if (!hugePool(size)) {
    console.warn(`skipping: no ${size} hugetlb pool on this kernel`);
    ctx.skip();
  }
  try {
    return reserveHugePages(size, n);
  } catch (e) {
    console.warn(`skipping: cannot reserve ${n} x ${size} huge pages: ${(e as Error).message}`);
    ctx.skip();
    throw e;
  }
}

function catchErr(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('hugetlb pools', () => {
  it('hugePools() reads the sysfs counters', () => {
    const pools = hugePools();
    for (const p of pools) {
      expect(p.nr).toBe(Number(fs.readFileSync(`${p.dir}/nr_hugepages`, 'utf8')));
      expect(p.bytes).toBeGreaterThan(PAGE_SIZE);
    }
    if (pools.length) expect(pools.map((p) => p.size)).toContain('2M');
  });

  it('a reservation grows nr_hugepages and puts the previous value back', (ctx) => {
    const before = hugePool('2M')?.nr;
    {
      using r = reserve('2M', 3, ctx);
      expect(r.available).toBeGreaterThanOrEqual(3);
      expect(hugePool('2M')!.nr).toBe(r.previous + r.added);
    }
    expect(hugePool('2M')!.nr).toBe(before);
  });
});

describe('hugetlb 2 MiB', () => {
  it('private mapping: bytes written and read back, page state says hugetlb', (ctx) => {
    using _r = reserve('2M', 2, ctx);
    using m = Mapping.hugetlb(2 * M2, '2M');
    expect(m.backing).toBe('hugetlb-2M');
    expect(m.pageSize).toBe(M2);
    for (let i = 0; i < m.length; i += PAGE_SIZE) m.view[i] = (i / PAGE_SIZE) & 0xff;
    for (let i = 0; i < m.length; i += PAGE_SIZE) expect(m.view[i]).toBe((i / PAGE_SIZE) & 0xff);
    const s = pageSummary(m);
    expect(s.present).toBe(1024);
    expect(s.smaps.hugetlbKb * 1024).toBe(2 * M2);
    expect(s.smaps.anonHugePagesKb).toBe(0);
    if (s.pagemapScan) {
      expect(s.scanHuge).toBe(1024); // a huge page-table entry ...
      expect(s.pmdMapped).toBe(0); // ... that is hugetlb, not a THP
    }
    if (s.kpageflags) {
      expect(s.hugetlb).toBe(1024);
      expect(s.thp).toBe(0);
      expect(pageState(m).flags(0)).toEqual(expect.arrayContaining(['HUGE', 'COMPOUND_HEAD']));
      expect(pageState(m).flags(1)).toEqual(expect.arrayContaining(['HUGE', 'COMPOUND_TAIL']));
    }
    expect(smapsFor(m)[0].kB.KernelPageSize).toBe(2048);
    expect(hugePool('2M')!.free).toBeGreaterThanOrEqual(0);
  });

  it('kernel refusals: MADV_COLLAPSE and a 4 KiB mprotect are EINVAL; a 4 KiB MADV_DONTNEED succeeds and frees nothing', (ctx) => {
    using _r = reserve('2M', 1, ctx);
    using m = Mapping.hugetlb(M2, '2M', { populate: true });
    const c = catchErr(() => m.advise('COLLAPSE'));
    expect(c).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'madvise', args: { addr: m.address, length: M2, advice: 25 } });
    const p = catchErr(() => m.protect('r', 0, PAGE_SIZE));
    expect(p).toMatchObject({ code: 'EINVAL', syscall: 'mprotect', args: { addr: m.address, length: PAGE_SIZE, prot: 1n } });
    m.view[0] = 7;
    m.advise('DONTNEED', 0, PAGE_SIZE); // the kernel aligns the end down to the huge page: an empty range
    expect(pageSummary(m).present).toBe(512);
    expect(m.view[0]).toBe(7);
    m.advise('DONTNEED'); // the whole huge page goes
    expect(pageSummary(m).present).toBe(0);
    expect(m.view[0]).toBe(0);
  });

  it('fork: child writes to a shared hugetlb mapping are visible, to a private one not (CoW takes a pool page)', async (ctx) => {
    using _r = reserve('2M', 3, ctx);
    using shared = Mapping.hugetlb(M2, '2M', { shared: true });
    using priv = Mapping.hugetlb(M2, '2M');
    shared.view.fill(1);
    priv.view.fill(1);
    const r = await runInChild([
      { op: 'write', mapping: shared, offset: 100, length: 4, value: 9 },
      { op: 'write', mapping: priv, offset: 100, length: 4, value: 9 },
      { op: 'read', mapping: priv, offset: 99, length: 6 },
    ]);
    expect(r.exitCode).toBe(0);
    expect([...shared.view.subarray(99, 105)]).toEqual([1, 9, 9, 9, 9, 1]);
    expect([...priv.view.subarray(99, 105)]).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...r.results[2]!.bytes!]).toEqual([1, 9, 9, 9, 9, 1]);
  });

  it('memfd with MFD_HUGETLB | MFD_HUGE_2MB', (ctx) => {
    using _r = reserve('2M', 1, ctx);
    using m = Mapping.memfd(M2, { hugetlb: '2M' });
    expect(m.backing).toBe('memfd-hugetlb-2M');
    m.view[M2 - 1] = 0x42;
    expect(m.view[M2 - 1]).toBe(0x42);
    expect(smapsFor(m)[0].kB.KernelPageSize).toBe(2048);
    expect(smapsFor(m)[0].path).toMatch(/^\/memfd:mirrorlab/);
  });

  it('length must be a multiple of the huge page size', () => {
    expect(catchErr(() => Mapping.hugetlb(PAGE_SIZE, '2M')).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(catchErr(() => Mapping.hugetlb(M2, '4M' as never)).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(catchErr(() => Mapping.memfd(PAGE_SIZE, { hugetlb: '2M' })).code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('hugetlb 1 GiB', () => {
  it('without free pool pages mmap fails with ENOMEM, shaped like a system error', (ctx) => {
    const p = hugePool('1G');
    if (!p || p.free - p.resv > 0) {
      console.warn(`skipping: the 1G pool ${p ? `has ${p.free - p.resv} usable pages` : 'does not exist'}`);
      ctx.skip();
    }
    const e = catchErr(() => Mapping.hugetlb(G1, '1G'));
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'ENOMEM', errno: -12, syscall: 'mmap' });
    expect(e.args.length).toBe(G1);
    expect(e.args.flags & (0x40000n | (30n << 26n))).toBe(0x40000n | (30n << 26n)); // MAP_HUGETLB | MAP_HUGE_1GB
    expect(e.args.fd).toBe(-1);
    expect(e.message).toMatch(/^ENOMEM: Cannot allocate memory, mmap\(addr=0x0, length=1073741824, prot=0x3, flags=0x78040022, fd=-1, offset=0\)$/);
  });

  it('a 1 GiB page written at both ends and read back; page state huge', (ctx) => {
    using _r = reserve('1G', 1, ctx);
    using m = Mapping.hugetlb(G1, '1G');
    expect(m.backing).toBe('hugetlb-1G');
    expect(m.address % BigInt(G1)).toBe(0n);
    m.view[0] = 0x11;
    m.view[G1 / 2] = 0x22;
    m.view[G1 - 1] = 0x33;
    expect([m.view[0], m.view[G1 / 2], m.view[G1 - 1], m.view[1]]).toEqual([0x11, 0x22, 0x33, 0]);
    const s = pageSummary(m);
    expect(s.present).toBe(G1 / PAGE_SIZE);
    expect(s.smaps.hugetlbKb * 1024).toBe(G1);
    if (s.pagemapScan) expect(s.scanHuge).toBe(G1 / PAGE_SIZE);
    if (s.kpageflags) expect(s.hugetlb).toBe(G1 / PAGE_SIZE);
    expect(smapsFor(m)[0].kB.KernelPageSize).toBe(1024 * 1024);
  });
});
