// userfaultfd on this machine's kernel: faults raised by accessor threads,
// resolved from JavaScript, with the bytes the faulting thread sees checked.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { pageState } from '../../src/pagestate/index.js';
import {
  Userfaultfd,
  forkAccess,
  stillPending,
  threadRead,
  threadWrite,
  type PageFault,
} from '../../src/userfaultfd/index.js';
import { Mapping, PAGE, lacks, memfdTwice, pagePresent, pattern, uffdProbe } from './userfaultfd-memory.js';

const probe = uffdProbe!;
const noUffd = uffdProbe === null;

function errorOf(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe.skipIf(noUffd)('handshake', () => {
  it('reports the features and ioctls this kernel offers, by name', () => {
    expect(probe.api).toBe(0xaa);
    expect(probe.offered).toContain('THREAD_ID');
    expect(probe.offered).toContain('EVENT_FORK');
    expect(probe.ioctls).toEqual(['REGISTER', 'UNREGISTER', 'API']);
    expect(probe.enabled).toEqual([]);
    console.log(`userfaultfd: offered ${probe.offered.join(' ')}; unknown bits 0x${probe.unknownFeatureBits.toString(16)}`);
  });

  it('opens through /dev/userfaultfd as well, with the requested features enabled', () => {
    using u = Userfaultfd.open({ via: 'device', features: ['THREAD_ID', 'EVENT_REMOVE'] });
    expect(u.via).toBe('device');
    expect(u.api.enabled).toEqual(['EVENT_REMOVE', 'THREAD_ID']);
    expect(u.has('THREAD_ID')).toBe(true);
    expect(u.has('EVENT_FORK')).toBe(false);
  });

  it('opens with UFFD_USER_MODE_ONLY when asked', () => {
    using u = Userfaultfd.open({ userModeOnly: true });
    expect(u.userModeOnly).toBe(true);
    using m = Mapping.anonymous(PAGE);
    expect(u.register(m, 'missing').ioctls).toContain('COPY');
  });
});

describe.skipIf(noUffd)('MISSING', () => {
  it('COPY: the faulting thread reads the copied bytes, and the fault names its thread', async () => {
    using u = Userfaultfd.open({ features: ['THREAD_ID'] });
    using m = Mapping.anonymous(4 * PAGE);
    const reg = u.register(m, 'missing');
    expect(reg.ioctls).toEqual(expect.arrayContaining(['WAKE', 'COPY', 'ZEROPAGE']));
    expect(reg.ioctls).not.toContain('CONTINUE');
    const data = pattern(4 * PAGE, 7);
    const faults: PageFault[] = [];
    u.on('pagefault', (f: PageFault) => {
      faults.push(f);
      const off = Number(f.page - m.address);
      f.copy(data.subarray(off, off + PAGE));
    });
    const r = await threadRead(m);
    expect(Buffer.from(r.bytes!).equals(Buffer.from(data))).toBe(true);
    expect(faults.map((f) => f.page)).toEqual([0, 1, 2, 3].map((i) => m.address + BigInt(i * PAGE)));
    for (const f of faults) {
      expect(f.flags).toEqual({ write: false, wp: false, minor: false });
      expect(f.tid).toBe(r.tid);
      expect(f.resolvedBy).toBe('copy');
    }
    expect(r.latencyNs.length).toBe(4);
  });

  it('ZEROPAGE: the faulting thread reads zeros', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    u.register(m, 'missing');
    u.on('pagefault', (f: PageFault) => f.zeropage());
    const r = await threadRead(m);
    expect(r.bytes!.length).toBe(2 * PAGE);
    expect(r.bytes!.every((b) => b === 0)).toBe(true);
  });

  it('a write fault carries the WRITE flag', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    const w = threadWrite(m, { fill: 0x42 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags.write).toBe(true);
    f.zeropage(); // the write then faults again (on the zero page), outside userfaultfd
    await w;
    expect(m.view[0]).toBe(0x42);
  });

  it('the fault address is the page unless EXACT_ADDRESS is enabled', async () => {
    for (const exact of [false, true]) {
      if (exact && lacks('EXACT_ADDRESS')) continue;
      using u = Userfaultfd.open({ features: exact ? ['EXACT_ADDRESS'] : [] });
      using m = Mapping.anonymous(PAGE);
      u.register(m, 'missing');
      const r = threadRead({ address: m.address + 123n, length: 1 });
      const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
      expect(f.address).toBe(exact ? m.address + 123n : m.address);
      expect(f.page).toBe(m.address);
      f.copy(pattern(PAGE, 2));
      expect((await r).bytes![0]).toBe(pattern(PAGE, 2)[123]);
    }
  });

  it('COPY with DONTWAKE maps the page but leaves the thread asleep until WAKE', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    const r = threadRead(m);
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    f.copy(pattern(PAGE, 3), { dontWake: true });
    expect(await stillPending(r, 100)).toBe(true);
    f.wake();
    expect((await r).bytes).toEqual(pattern(PAGE, 3));
  });

  it('a partial COPY throws EAGAIN with the bytes copied in args.copy', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    u.register(m, 'missing');
    u.copy({ address: m.address + BigInt(PAGE), length: PAGE }, pattern(PAGE, 1));
    const e = errorOf(() => u.copy(m, pattern(2 * PAGE, 2)));
    expect(e.code).toBe('EAGAIN');
    expect(e.syscall).toBe('ioctl(UFFDIO_COPY)');
    expect(e.args.copy).toBe(PAGE);
    expect(m.view.subarray(0, PAGE)).toEqual(pattern(2 * PAGE, 2).subarray(0, PAGE));
    // The second page kept its first copy: COPY never overwrites.
    expect(m.view.subarray(PAGE)).toEqual(pattern(PAGE, 1));
  });
});

describe.skipIf(noUffd)('held faults', () => {
  it('a reader stays blocked while JavaScript holds the fault, and gets its bytes on release', async () => {
    using u = Userfaultfd.open({ features: ['THREAD_ID'] });
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    const reader = threadRead(m);
    const fault = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    // Hold it: the reader must still be waiting 200 ms later.
    expect(await stillPending(reader, 200)).toBe(true);
    const data = pattern(PAGE, 99);
    fault.copy(data);
    const r = await reader;
    expect(r.bytes).toEqual(data);
    expect(r.tid).toBe(fault.tid);
    expect(r.latencyNs[0]).toBeGreaterThan(200e6);
  });

  it('two threads faulting on one page wait for one resolution', async () => {
    using u = Userfaultfd.open({ features: ['THREAD_ID'] });
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    const a = threadRead(m);
    const b = threadRead(m);
    const first = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(await stillPending(Promise.all([a, b]), 50)).toBe(true);
    first.copy(pattern(PAGE, 5));
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.bytes).toEqual(pattern(PAGE, 5));
    expect(rb.bytes).toEqual(pattern(PAGE, 5));
  });

  it('closing the uffd wakes a held thread, which then sees the range unregistered (zeros)', async () => {
    const u = Userfaultfd.open();
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    const reader = threadRead(m);
    const pending = u.nextEvent('pagefault', { timeoutMs: 5000 });
    await pending;
    expect(await stillPending(reader, 50)).toBe(true);
    const later = u.nextEvent('pagefault');
    u.close();
    await expect(later).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    const r = await reader;
    expect(r.signal).toBe(null);
    expect(r.bytes!.every((b) => b === 0)).toBe(true);
    expect(() => u.copy(m, pattern(PAGE, 1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it.skipIf(lacks('PAGEFAULT_FLAG_WP') || lacks('MINOR_SHMEM'))('closing also releases held WP and MINOR faults: the write lands, the page cache is read', async () => {
    using m = Mapping.anonymous(PAGE);
    m.view.fill(1);
    const u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP', 'MINOR_SHMEM'] });
    u.register(m, 'wp');
    u.writeProtect(m, true);
    using pair = memfdTwice(PAGE);
    pair.b.view.fill(0x33);
    u.register(pair.a, 'minor');
    const writer = threadWrite(m, { fill: 2 });
    const reader = threadRead(pair.a);
    const held = [await u.nextEvent('pagefault', { timeoutMs: 5000 }), await u.nextEvent('pagefault', { timeoutMs: 5000 })];
    expect(held.map((f) => (f.flags.wp ? 'wp' : f.flags.minor ? 'minor' : 'missing')).sort()).toEqual(['minor', 'wp']);
    expect(await stillPending(Promise.race([writer, reader]), 50)).toBe(true);
    u.close();
    await writer;
    expect(m.view.every((b) => b === 2)).toBe(true);
    expect(pageState(m).page(0).uffdWp).toBe(false);
    expect((await reader).bytes!.every((b) => b === 0x33)).toBe(true);
  });

  it('read() takes queued messages without a reader thread (non-blocking)', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    expect(u.read()).toEqual([]);
    const r = threadRead(m);
    let evs = u.read();
    for (let i = 0; i < 500 && evs.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 2));
      evs = u.read();
    }
    expect(evs).toHaveLength(1);
    const f = evs[0] as PageFault;
    expect(f.type).toBe('pagefault');
    expect(f.page).toBe(m.address);
    f.zeropage();
    await r;
    u.listen();
    expect(() => u.read()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('events() iterates faults in order', async () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(3 * PAGE);
    u.register(m, 'missing');
    const reader = threadRead(m);
    const seen: bigint[] = [];
    for await (const ev of u.events()) {
      if (ev.type !== 'pagefault') continue;
      seen.push(ev.page);
      ev.zeropage();
      if (seen.length === 3) break;
    }
    await reader;
    expect(seen).toEqual([0, 1, 2].map((i) => m.address + BigInt(i * PAGE)));
  });
});

describe('WP', () => {
  it.skipIf(lacks('PAGEFAULT_FLAG_WP'))('a write to a write-protected page is a WP fault, resolved by clearing protection', async () => {
    using u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP', 'THREAD_ID'] });
    using m = Mapping.anonymous(2 * PAGE);
    m.view.fill(0x11); // populate before registering
    const reg = u.register(m, ['missing', 'wp']);
    expect(reg.ioctls).toContain('WRITEPROTECT');
    u.writeProtect(m, true);
    expect(pageState(m).count(pageState(m).uffdWp)).toBe(2);
    const w = threadWrite(m.range(PAGE, PAGE), { fill: 0x77 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags).toEqual({ write: true, wp: true, minor: false });
    expect(f.page).toBe(m.address + BigInt(PAGE));
    expect(await stillPending(w, 50)).toBe(true);
    expect(m.view[PAGE]).toBe(0x11);
    f.unprotect();
    const r = await w;
    expect(r.tid).toBe(f.tid);
    expect(pageState(m).page(0).uffdWp).toBe(true);
    expect(pageState(m).page(1).uffdWp).toBe(false);
    expect(m.view.subarray(PAGE).every((b) => b === 0x77)).toBe(true);
    expect(m.view.subarray(0, PAGE).every((b) => b === 0x11)).toBe(true);
  });

  it.skipIf(lacks('WP_UNPOPULATED'))('write protection covers unpopulated anonymous pages only with WP_UNPOPULATED', async () => {
    for (const unpopulated of [false, true]) {
      using u = Userfaultfd.open({ features: unpopulated ? ['PAGEFAULT_FLAG_WP', 'WP_UNPOPULATED'] : ['PAGEFAULT_FLAG_WP'] });
      using m = Mapping.anonymous(PAGE);
      u.register(m, 'wp');
      u.writeProtect(m, true);
      const w = threadWrite(m, { fill: 5, width: 1 });
      if (unpopulated) {
        const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
        expect(f.flags).toMatchObject({ write: true, wp: true });
        f.unprotect();
      }
      await w;
      expect(m.view[0]).toBe(5);
    }
  });

  it.skipIf(lacks('WP_ASYNC'))('WP_ASYNC: writes resolve themselves, and the uffd-wp bit records which pages were written', async () => {
    using u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP', 'WP_ASYNC'] });
    using m = Mapping.anonymous(4 * PAGE);
    m.view.fill(1);
    u.register(m, 'wp');
    u.writeProtect(m, true);
    const events: unknown[] = [];
    u.on('event', (e) => events.push(e));
    await threadWrite(m.range(PAGE, PAGE), { fill: 2, width: 1 });
    await threadWrite(m.range(3 * PAGE, PAGE), { fill: 2, width: 1 });
    const ps = pageState(m);
    expect([0, 1, 2, 3].map((i) => ps.page(i).uffdWp)).toEqual([true, false, true, false]);
    expect(events).toEqual([]);
  });

  it.skipIf(lacks('PAGEFAULT_FLAG_WP'))('COPY with MODE_WP maps the page write-protected', async () => {
    using u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP'] });
    using m = Mapping.anonymous(PAGE);
    u.register(m, ['missing', 'wp']);
    u.copy(m, pattern(PAGE, 4), { wp: true });
    const w = threadWrite(m, { fill: 1, width: 1 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags.wp).toBe(true);
    f.unprotect();
    await w;
    expect(m.view[0]).toBe(1);
    expect(m.view[1]).toBe(pattern(PAGE, 4)[1]);
  });
});

describe('MINOR', () => {
  it.skipIf(lacks('MINOR_SHMEM'))('a shmem page present in the page cache is a MINOR fault, resolved by CONTINUE', async () => {
    using u = Userfaultfd.open({ features: ['MINOR_SHMEM'] });
    using pair = memfdTwice(2 * PAGE);
    const data = pattern(2 * PAGE, 21);
    pair.b.view.set(data); // fill the page cache through the second mapping
    const reg = u.register(pair.a, 'minor');
    expect(reg.ioctls).toContain('CONTINUE');
    const r = threadRead(pair.a);
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags).toEqual({ write: false, wp: false, minor: true });
    expect(f.page).toBe(pair.a.address);
    expect(f.continue()).toBe(PAGE);
    const g = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(g.page).toBe(pair.a.address + BigInt(PAGE));
    g.continue();
    expect((await r).bytes).toEqual(data);
  });
});

describe('MINOR + WP on shmem', () => {
  it.skipIf(lacks('MINOR_SHMEM') || lacks('WP_HUGETLBFS_SHMEM'))('CONTINUE with MODE_WP maps the page-cache page write-protected', async () => {
    using u = Userfaultfd.open({ features: ['MINOR_SHMEM', 'WP_HUGETLBFS_SHMEM', 'PAGEFAULT_FLAG_WP'] });
    using pair = memfdTwice(PAGE);
    pair.b.view.fill(0x44);
    const reg = u.register(pair.a, ['minor', 'wp']);
    expect(reg.ioctls).toEqual(expect.arrayContaining(['CONTINUE', 'WRITEPROTECT']));
    const w = threadWrite(pair.a, { fill: 0x55, width: 1 });
    const minor = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(minor.flags).toEqual({ write: true, wp: false, minor: true });
    minor.continue({ wp: true });
    const wp = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(wp.flags).toEqual({ write: true, wp: true, minor: false });
    expect(pair.b.view[0]).toBe(0x44);
    wp.unprotect();
    await w;
    expect(pair.b.view[0]).toBe(0x55);
  });
});

describe('MOVE', () => {
  it.skipIf(lacks('MOVE'))('moves a page: the destination has its bytes, the source is empty', async () => {
    using u = Userfaultfd.open({ features: ['MOVE'] });
    using src = Mapping.anonymous(PAGE);
    using dst = Mapping.anonymous(PAGE);
    const data = pattern(PAGE, 33);
    src.view.set(data);
    u.register(dst, 'missing');
    u.register(src, 'missing');
    expect(u.move(dst.address, src.address, PAGE)).toBe(PAGE);
    expect(pagePresent(src.address)).toBe(false);
    expect(pagePresent(dst.address)).toBe(true);
    expect((await threadRead(dst)).bytes).toEqual(data);
    // The source is a hole again: reading it faults.
    const r = threadRead(src);
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.page).toBe(src.address);
    f.zeropage();
    expect((await r).bytes!.every((b) => b === 0)).toBe(true);
  });
});

describe('POISON', () => {
  it.skipIf(lacks('POISON'))('an access to a poisoned page raises SIGBUS in the accessing thread', async () => {
    using u = Userfaultfd.open({ features: ['POISON'] });
    using m = Mapping.anonymous(2 * PAGE);
    u.register(m, 'missing');
    u.copy({ address: m.address, length: PAGE }, pattern(PAGE, 8));
    expect(u.poison({ address: m.address + BigInt(PAGE), length: PAGE })).toBe(PAGE);
    const r = await threadRead(m);
    expect(r.completed).toBe(1);
    expect(r.bytes!.subarray(0, PAGE)).toEqual(pattern(PAGE, 8));
    expect(r.signal).toMatchObject({ signal: 'SIGBUS', address: m.address + BigInt(PAGE) });
    console.log(`poisoned page: SIGBUS si_code ${r.signal!.code}`);
  });
});

describe('SIGBUS feature', () => {
  it.skipIf(lacks('SIGBUS'))('a MISSING fault raises SIGBUS instead of an event', async () => {
    using u = Userfaultfd.open({ features: ['SIGBUS'] });
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    u.listen();
    const r = await threadRead(m);
    expect(r.completed).toBe(0);
    expect(r.signal).toMatchObject({ signal: 'SIGBUS', address: m.address });
  });
});

describe('non-cooperative events', () => {
  it.skipIf(lacks('EVENT_FORK'))('FORK: the child gets its own uffd, and its faults arrive there', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_FORK', 'THREAD_ID'] });
    using m = Mapping.anonymous(PAGE);
    u.register(m, 'missing');
    u.listen();
    const child = forkAccess(m);
    const fork = await u.nextEvent('fork', { timeoutMs: 5000 });
    using cu = fork.child;
    expect(cu.fd).toBeGreaterThan(2);
    expect(cu.fd).not.toBe(u.fd);
    const f = await cu.nextEvent('pagefault', { timeoutMs: 5000 });
    const data = pattern(PAGE, 61);
    f.copy(data);
    const r = await child;
    expect(r.exitCode).toBe(0);
    expect(r.bytes).toEqual(data);
    expect(f.tid).toBe(r.pid);
    // The parent's page is still missing: the child's COPY went to the child's mm.
    expect(pagePresent(m.address)).toBe(false);
  });

  it.skipIf(lacks('EVENT_REMOVE'))('REMOVE: MADV_DONTNEED reports the range', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_REMOVE'] });
    using m = Mapping.anonymous(8 * PAGE);
    u.register(m, 'missing');
    u.listen();
    const start = m.address + BigInt(2 * PAGE);
    m.advise('DONTNEED', 2 * PAGE, 3 * PAGE);
    const ev = await u.nextEvent('remove', { timeoutMs: 5000 });
    expect(ev.start).toBe(start);
    expect(ev.end).toBe(start + BigInt(3 * PAGE));
  });

  it.skipIf(lacks('EVENT_UNMAP'))('UNMAP: munmap reports the range', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_UNMAP'] });
    using m = Mapping.anonymous(8 * PAGE);
    u.register(m, 'missing');
    u.listen();
    const { address, end } = m;
    m.unmap();
    const ev = await u.nextEvent('unmap', { timeoutMs: 5000 });
    expect(ev.start).toBe(address);
    expect(ev.end).toBe(end);
  });

  it.skipIf(lacks('EVENT_REMAP'))('REMAP: mremap reports from, to and length, and faults follow the new address', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_REMAP', 'THREAD_ID'] });
    using m = Mapping.anonymous(4 * PAGE);
    const hole = Mapping.anonymous(4 * PAGE);
    const to = hole.address;
    hole.unmap();
    u.register(m, 'missing');
    u.listen();
    const from = m.address;
    m.remap(4 * PAGE, { mayMove: true, fixed: to });
    expect(m.address).toBe(to);
    const ev = await u.nextEvent('remap', { timeoutMs: 5000 });
    expect(ev.from).toBe(from);
    expect(ev.to).toBe(to);
    expect(ev.length).toBe(4 * PAGE);
    // The registration moved with the pages.
    const r = threadRead(m.range(PAGE, PAGE));
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.page).toBe(to + BigInt(PAGE));
    f.zeropage();
    await r;
  });
});

describe.skipIf(noUffd)('errors', () => {
  it('bad arguments are refused before any system call', () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    expect(errorOf(() => u.register({ address: m.address + 1n, length: PAGE }, 'missing')).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.register({ address: m.address, length: 100 }, 'missing')).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.register({ address: m.address, length: 0 }, 'missing')).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.register(m, 'sometimes' as never)).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.register(m, [])).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.register({ address: 0xffff_ffff_ffff_f000n, length: 2 * PAGE }, 'missing')).code).toBe('ERR_OUT_OF_RANGE');
    expect(errorOf(() => u.register({ address: Number(m.address) as never, length: PAGE }, 'missing')).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => u.copy(m, pattern(PAGE, 0))).code).toBe('ERR_OUT_OF_RANGE');
    expect(errorOf(() => u.copy(m, pattern(2 * PAGE, 0), { dontwake: true } as never)).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => u.serve({ missing: 'guess' as never })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => Userfaultfd.open({ features: ['TELEPATHY' as never] })).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(errorOf(() => Userfaultfd.open({ via: 'pipe' as never })).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('the kernel refuses what the checks let through, with its errno', () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    // Straight to the ioctl: an unaligned range is EINVAL from the kernel.
    const e = errorOf(() => native.uffdRegister(u.fd, m.address + 1n, PAGE, 1));
    expect(e).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'ioctl(UFFDIO_REGISTER)' });
    expect(e.args).toMatchObject({ start: m.address + 1n, len: PAGE, mode: 1n });
    // An unknown mode bit.
    expect(errorOf(() => native.uffdRegister(u.fd, m.address, PAGE, 1 << 5))).toMatchObject({ code: 'EINVAL' });
  });

  it('the handshake refuses unknown feature bits and a second UFFDIO_API', () => {
    const fd = native.uffdOpen(native.uffdConstants.O_CLOEXEC | native.uffdConstants.O_NONBLOCK, false);
    try {
      expect(errorOf(() => native.uffdApi(fd, 1n << 40n))).toMatchObject({ code: 'EINVAL', syscall: 'ioctl(UFFDIO_API)' });
      // A refused handshake leaves the uffd uninitialized: a good one still works, once.
      native.uffdApi(fd, 0n);
      expect(errorOf(() => native.uffdApi(fd, 0n))).toMatchObject({ code: 'EINVAL' });
    } finally {
      native.uffdClose(fd);
    }
  });

  it('a range registered with one uffd cannot be registered with another (EBUSY)', () => {
    using u1 = Userfaultfd.open();
    using u2 = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    u1.register(m, 'missing');
    const e = errorOf(() => u2.register(m, 'missing'));
    expect(e).toMatchObject({ code: 'EBUSY', errno: -16, syscall: 'ioctl(UFFDIO_REGISTER)' });
  });

  it('an ioctl on a range that is not registered fails with the errno the kernel returns', () => {
    using u = Userfaultfd.open();
    using m = Mapping.anonymous(2 * PAGE);
    const copy = errorOf(() => u.copy({ address: m.address, length: PAGE }, pattern(PAGE, 0)));
    expect(copy).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'ioctl(UFFDIO_COPY)' });
    expect(copy.args.copy).toBe(-2);
    expect(copy.args.dst).toBe(m.address);
    expect(errorOf(() => u.zeropage(m))).toMatchObject({ code: 'ENOENT', syscall: 'ioctl(UFFDIO_ZEROPAGE)' });
    expect(errorOf(() => u.writeProtect(m, true))).toMatchObject({ code: 'ENOENT', syscall: 'ioctl(UFFDIO_WRITEPROTECT)' });
  });

  it('a reader thread that fails reports the error (a uffd polled before UFFDIO_API: POLLERR)', async () => {
    const fd = native.uffdOpen(native.uffdConstants.O_CLOEXEC | native.uffdConstants.O_NONBLOCK, false);
    let failed!: (e: any) => void;
    const done = new Promise<any>((r) => (failed = r));
    const handle = native.uffdDeliveryStart(fd, (err: Error | null) => {
      if (err) failed(err);
    });
    const err = await done;
    native.uffdReaderStop(handle);
    native.uffdClose(fd);
    expect(err).toMatchObject({ code: 'EINVAL', syscall: 'read(userfaultfd)' });
  });

  it('a closed uffd refuses every call', () => {
    const u = Userfaultfd.open();
    u.close();
    u.close();
    expect(u.closed).toBe(true);
    expect(errorOf(() => u.register({ address: 0x10000n, length: PAGE }, 'missing')).code).toBe('ERR_INVALID_STATE');
    expect(errorOf(() => u.listen()).code).toBe('ERR_INVALID_STATE');
    expect(errorOf(() => u.serve()).code).toBe('ERR_INVALID_STATE');
  });
});
