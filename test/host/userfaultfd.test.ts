// userfaultfd on this machine's kernel: faults raised by accessor threads,
// resolved from JavaScript, with the bytes the faulting thread sees checked.
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import {
  Userfaultfd,
  forkAccess,
  stillPending,
  threadRead,
  threadWrite,
  type PageFault,
  type UffdFeature,
} from '../../src/userfaultfd/index.js';
import { PAGE, anon, memfdTwice, pagePresent, pattern } from './userfaultfd-memory.js';

const M = native.mmConstants;
const probe = Userfaultfd.probe();
const lacks = (f: UffdFeature): boolean => {
  const missing = !probe.offered.includes(f);
  if (missing) console.warn(`skipped: this kernel does not offer UFFD_FEATURE_${f} (offers ${probe.offered.join(' ')})`);
  return missing;
};

function errorOf(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('handshake', () => {
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
    using m = anon(PAGE);
    expect(u.register(m, 'missing').ioctls).toContain('COPY');
  });
});

describe('MISSING', () => {
  it('COPY: the faulting thread reads the copied bytes, and the fault names its thread', async () => {
    using u = Userfaultfd.open({ features: ['THREAD_ID'] });
    using m = anon(4 * PAGE);
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
    using m = anon(2 * PAGE);
    u.register(m, 'missing');
    u.on('pagefault', (f: PageFault) => f.zeropage());
    const r = await threadRead(m);
    expect(r.bytes!.length).toBe(2 * PAGE);
    expect(r.bytes!.every((b) => b === 0)).toBe(true);
  });

  it('a write fault carries the WRITE flag', async () => {
    using u = Userfaultfd.open();
    using m = anon(PAGE);
    u.register(m, 'missing');
    const w = threadWrite(m, { fill: 0x42 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags.write).toBe(true);
    f.zeropage(); // the write then faults again (on the zero page), outside userfaultfd
    await w;
    expect(m.view[0]).toBe(0x42);
  });

  it('COPY with DONTWAKE maps the page but leaves the thread asleep until WAKE', async () => {
    using u = Userfaultfd.open();
    using m = anon(PAGE);
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
    using m = anon(2 * PAGE);
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

describe('held faults', () => {
  it('a reader stays blocked while JavaScript holds the fault, and gets its bytes on release', async () => {
    using u = Userfaultfd.open({ features: ['THREAD_ID'] });
    using m = anon(PAGE);
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
    using m = anon(PAGE);
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
    using m = anon(PAGE);
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

  it('events() iterates faults in order', async () => {
    using u = Userfaultfd.open();
    using m = anon(3 * PAGE);
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
    using m = anon(2 * PAGE);
    m.view.fill(0x11); // populate before registering
    const reg = u.register(m, ['missing', 'wp']);
    expect(reg.ioctls).toContain('WRITEPROTECT');
    u.writeProtect(m, true);
    const w = threadWrite({ address: m.address + BigInt(PAGE), length: PAGE }, { fill: 0x77 });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.flags).toEqual({ write: true, wp: true, minor: false });
    expect(f.page).toBe(m.address + BigInt(PAGE));
    expect(await stillPending(w, 50)).toBe(true);
    expect(m.view[PAGE]).toBe(0x11);
    f.unprotect();
    const r = await w;
    expect(r.tid).toBe(f.tid);
    expect(m.view.subarray(PAGE).every((b) => b === 0x77)).toBe(true);
    expect(m.view.subarray(0, PAGE).every((b) => b === 0x11)).toBe(true);
  });

  it.skipIf(lacks('PAGEFAULT_FLAG_WP'))('COPY with MODE_WP maps the page write-protected', async () => {
    using u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP'] });
    using m = anon(PAGE);
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

describe('MOVE', () => {
  it.skipIf(lacks('MOVE'))('moves a page: the destination has its bytes, the source is empty', async () => {
    using u = Userfaultfd.open({ features: ['MOVE'] });
    using src = anon(PAGE);
    using dst = anon(PAGE);
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
    using m = anon(2 * PAGE);
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
    using m = anon(PAGE);
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
    using m = anon(PAGE);
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
    using m = anon(8 * PAGE);
    u.register(m, 'missing');
    u.listen();
    const start = m.address + BigInt(2 * PAGE);
    native.madvise(start, 3 * PAGE, M.MADV_DONTNEED);
    const ev = await u.nextEvent('remove', { timeoutMs: 5000 });
    expect(ev.start).toBe(start);
    expect(ev.end).toBe(start + BigInt(3 * PAGE));
  });

  it.skipIf(lacks('EVENT_UNMAP'))('UNMAP: munmap reports the range', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_UNMAP'] });
    using m = anon(8 * PAGE);
    u.register(m, 'missing');
    u.listen();
    const start = m.address + BigInt(4 * PAGE);
    native.munmap(start, 4 * PAGE);
    const ev = await u.nextEvent('unmap', { timeoutMs: 5000 });
    expect(ev.start).toBe(start);
    expect(ev.end).toBe(start + BigInt(4 * PAGE));
    m.forget();
    native.munmap(m.address, 4 * PAGE);
  });

  it.skipIf(lacks('EVENT_REMAP'))('REMAP: mremap reports from, to and length, and faults follow the new address', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_REMAP', 'THREAD_ID'] });
    using m = anon(4 * PAGE);
    using target = anon(4 * PAGE);
    u.register(m, 'missing');
    u.listen();
    const to: bigint = native.mremap(m.address, 4 * PAGE, 4 * PAGE, M.MREMAP_MAYMOVE | M.MREMAP_FIXED, target.address);
    m.forget();
    target.forget();
    expect(to).toBe(target.address);
    const ev = await u.nextEvent('remap', { timeoutMs: 5000 });
    expect(ev.from).toBe(m.address);
    expect(ev.to).toBe(target.address);
    expect(ev.length).toBe(4 * PAGE);
    // The registration moved with the pages.
    const r = threadRead({ address: to, length: PAGE });
    const f = await u.nextEvent('pagefault', { timeoutMs: 5000 });
    expect(f.page).toBe(to);
    f.zeropage();
    await r;
    native.munmap(to, 4 * PAGE);
  });
});

describe('errors', () => {
  it('bad arguments are refused before any system call', () => {
    using u = Userfaultfd.open();
    using m = anon(2 * PAGE);
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
    using m = anon(2 * PAGE);
    // Straight to the ioctl: an unaligned range is EINVAL from the kernel.
    const e = errorOf(() => native.uffdRegister(u.fd, m.address + 1n, PAGE, 1));
    expect(e).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'ioctl(UFFDIO_REGISTER)' });
    expect(e.args).toMatchObject({ start: m.address + 1n, len: PAGE, mode: 1n });
    // An unknown mode bit.
    expect(errorOf(() => native.uffdRegister(u.fd, m.address, PAGE, 1 << 5))).toMatchObject({ code: 'EINVAL' });
  });

  it('an ioctl on a range that is not registered fails with the errno the kernel returns', () => {
    using u = Userfaultfd.open();
    using m = anon(2 * PAGE);
    const copy = errorOf(() => u.copy({ address: m.address, length: PAGE }, pattern(PAGE, 0)));
    expect(copy).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'ioctl(UFFDIO_COPY)' });
    expect(copy.args.copy).toBe(-2);
    expect(copy.args.dst).toBe(m.address);
    expect(errorOf(() => u.zeropage(m))).toMatchObject({ code: 'ENOENT', syscall: 'ioctl(UFFDIO_ZEROPAGE)' });
    expect(errorOf(() => u.writeProtect(m, true))).toMatchObject({ code: 'ENOENT', syscall: 'ioctl(UFFDIO_WRITEPROTECT)' });
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
