import { describe, expect, it } from 'vitest';
import { decode, encode, frame, LineSplitter } from '../../src/vm/codec.js';
import { guestLayout } from '../../src/vm/vm.js';
import { matchCrash } from '../../src/vm/crash.js';

describe('vm codec', () => {
  it('round-trips BigInt, bytes, undefined in arrays, $-keys, non-finite numbers and errors', () => {
    const v = { a: -(2n ** 70n), b: Buffer.from([1, 2, 3]), c: [undefined, null, NaN, Infinity], $d: { $bytes: 'x' }, skip: undefined };
    const back = decode(JSON.parse(JSON.stringify(encode(v)))) as Record<string, unknown>;
    expect(back).toEqual({ a: -(2n ** 70n), b: Buffer.from([1, 2, 3]), c: [undefined, null, NaN, Infinity], $d: { $bytes: 'x' } });
    expect('skip' in back).toBe(false);
    const e = decode(JSON.parse(JSON.stringify(encode(Object.assign(new Error('boom'), { code: 'EFAULT', errno: -14 }))))) as Error;
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ message: 'boom', code: 'EFAULT', errno: -14 });
  });

  it('frames one message per line and reassembles lines split across chunks', () => {
    const big = Buffer.alloc(300_000, 7);
    const f = Buffer.from(frame({ id: 1, result: big }) + frame({ id: 2, result: 'a\nb' }));
    expect(f.toString().split('\n')).toHaveLength(3);
    const got: unknown[] = [];
    const s = new LineSplitter((l) => got.push(decode(JSON.parse(l))));
    for (let i = 0; i < f.length; i += 4096) s.push(f.subarray(i, i + 4096));
    expect(got).toEqual([{ id: 1, result: big }, { id: 2, result: 'a\nb' }]);
  });
});

describe('vm crash patterns', () => {
  const cases: [string, string | undefined][] = [
    ['[   12.3] WARNING: CPU: 1 PID: 99 at drivers/x.c:10 f+0x1/0x2', 'warning'],
    ['[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008', 'bug'],
    ['[    1.0] Oops: 0002 [#1] PREEMPT SMP NOPTI', 'oops'],
    ['[    1.0] Oops: general protection fault, probably for non-canonical address', 'oops'],
    ['[    1.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP', 'gpf'],
    ['[    1.0] BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2', 'kasan'],
    ['[    1.0] list_add corruption. prev->next should be next (ffff), but was 0000.', 'list-corruption'],
    ['[    1.0] list_del corruption, ffff->next is LIST_POISON1', 'list-corruption'],
    ['[  245.0] INFO: task kworker/0:1:12 blocked for more than 120 seconds.', 'hung-task'],
    ['[   30.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]', 'soft-lockup'],
    ['[   30.0] rcu: INFO: rcu_preempt self-detected stall on CPU', 'rcu-stall'],
    ['[   30.0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:', 'rcu-stall'],
    ['[    1.0] WARNING: possible circular locking dependency detected', 'lockdep'],
    ['[    1.0] WARNING: inconsistent lock state', 'lockdep'],
    ['[    1.0] Kernel panic - not syncing: Fatal exception', 'panic'],
    ['[    1.0] kernel BUG at mm/memory.c:1234!', 'bug'],
    ['[   20.1] mm/pgtable-generic.c:45: bad pud 00000000a1b2c3d4(8000000140000ae7)', 'bad-page-table'],
    ['[   20.1] mm/pgtable-generic.c:53: bad pmd 00000000a1b2c3d4(0000000000000001)', 'bad-page-table'],
    ['[   20.1] BUG: Bad page map in process node  pte:8000000100000225 pmd:10a1b0067', 'bad-page'],
    ['[   20.1] BUG: Bad page state in process node  pfn:10000', 'bad-page'],
    ['[   20.1] BUG: Bad rss-counter state mm:00000000 type:MM_ANONPAGES val:-1', 'bad-page'],
    ['[   20.1] the test found a bad pudding recipe', undefined],
    ['[    1.0] mtrr: your CPUs had inconsistent fixed MTRR settings', undefined],
    ['[    1.0] pci_bus 0000:00: Unknown NUMA node; performance will be reduced', undefined],
    ['mirrorlab-sync 1-2-3', undefined],
  ];
  it.each(cases)('%s -> %s', (line, kind) => {
    expect(matchCrash(line)?.kind).toBe(kind);
  });
});

describe('guest memory layout', () => {
  it('puts the reserved iomem range at the top of RAM above 4 GiB, 1 GiB aligned', () => {
    // pc machine: RAM [0, 3 GiB) and [4 GiB, 4 GiB + total - 3 GiB)
    expect(guestLayout(4096, 1024)).toEqual({ totalMiB: 5120, iomemBase: 0x140000000n, iomemSize: 1n << 30n });
    expect(guestLayout(4096, 2048)).toEqual({ totalMiB: 6144, iomemBase: 0x140000000n, iomemSize: 2n << 30n });
    expect(guestLayout(4096, 256)).toEqual({ totalMiB: 4352, iomemBase: 0x140000000n, iomemSize: 256n << 20n });
    expect(() => guestLayout(2048, 256)).toThrow(RangeError); // all RAM below 4 GiB
    expect(() => guestLayout(3072, 512)).toThrow(RangeError); // nothing left for node 1 above 4 GiB
    expect(guestLayout(3072, 0)).toEqual({ totalMiB: 3072, iomemBase: 0n, iomemSize: 0n });
  });
});
