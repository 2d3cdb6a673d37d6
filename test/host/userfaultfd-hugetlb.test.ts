// userfaultfd on hugetlb: faults are reported and resolved per huge page.
import { describe, expect, it } from 'vitest';
import { Mapping, hugePool, reserveHugePages, type HugeReservation } from '../../src/memory/index.js';
import { native } from '../../src/addon.js';
import { Userfaultfd, threadRead } from '../../src/userfaultfd/index.js';
import { lacks, pattern } from './userfaultfd-memory.js';

const M2 = 2 * 1024 * 1024;

function reserve(n: number, ctx: { skip: () => void }): HugeReservation {
  if (lacks('MISSING_HUGETLBFS')) ctx.skip();
  if (!hugePool('2M')) {
    console.warn('skipped: no 2M hugetlb pool on this kernel');
    ctx.skip();
  }
  try {
    return reserveHugePages('2M', n);
  } catch (e) {
    console.warn(`skipped: cannot reserve ${n} x 2M huge pages: ${(e as Error).message}`);
    ctx.skip();
    throw e;
  }
}

describe('hugetlb 2M', () => {
  it('a fault anywhere in a huge page is one fault on the huge page, resolved by one 2 MiB COPY; the server uses the same size', async (ctx) => {
    using _pool = reserve(2, ctx);
    using m = Mapping.hugetlb(2 * M2, '2M');
    using u = Userfaultfd.open();
    const reg = u.register(m, 'missing');
    expect(reg.pageSize).toBe(M2);
    expect(reg.ioctls).toContain('COPY');
    expect(reg.ioctls).not.toContain('ZEROPAGE');
    const data = pattern(M2, 12);
    const r = threadRead({ address: m.address + 12288n, length: 64 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.pageSize).toBe(M2);
    expect(f.page).toBe(m.address);
    expect(f.copy(data)).toBe(M2);
    expect((await r).bytes).toEqual(data.subarray(12288, 12288 + 64));

    u.stopListening();
    using server = u.serve({ pattern: new Uint8Array([0xab]) });
    const r2 = await threadRead(m.range(M2, M2), { stride: 4096, width: 1 });
    expect(r2.bytes!.every((b) => b === 0xab)).toBe(true);
    expect(server.stop()).toMatchObject({ faults: 1, errors: 0 });
  });

  it('MINOR on a hugetlb memfd: the page cache filled through a second mapping is mapped by one CONTINUE', async (ctx) => {
    if (lacks('MINOR_HUGETLBFS')) ctx.skip();
    using _pool = reserve(1, ctx);
    using a = Mapping.memfd(M2, { hugetlb: '2M' });
    const M = native.mmConstants;
    const addr = native.mmap(0n, M2, M.PROT_READ | M.PROT_WRITE, M.MAP_SHARED, a.fd!, 0);
    using b = Mapping.adopt(addr, M2, { shared: true, pageSize: M2 });
    const data = pattern(M2, 77);
    b.view.set(data);
    using u = Userfaultfd.open({ features: ['MINOR_HUGETLBFS'] });
    const reg = u.register(a, 'minor');
    expect(reg.pageSize).toBe(M2);
    expect(reg.ioctls).toContain('CONTINUE');
    const r = threadRead({ address: a.address + BigInt(M2 / 2), length: 4096 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags.minor).toBe(true);
    expect(f.page).toBe(a.address);
    expect(f.continue()).toBe(M2);
    expect((await r).bytes).toEqual(data.subarray(M2 / 2, M2 / 2 + 4096));
  });
});
