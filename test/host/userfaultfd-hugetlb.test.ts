// userfaultfd on hugetlb: faults are reported and resolved per huge page.
import { describe, expect, it } from 'vitest';
import { Mapping, hugePool, reserveHugePages, type HugeReservation } from '../../src/memory/index.js';
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
});
