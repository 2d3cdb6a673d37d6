import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Mapping, PAGE_SIZE, HPAGE_PMD_SIZE, zeroPageOff } from '../../src/memory/index.js';
import { isMapped, pageSummary, smapsFor } from '../../src/pagestate/index.js';
import { native } from '../../src/addon.js';

const MiB = 1024 * 1024;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-mapping-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function catchErr(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('Mapping backings', () => {
  it('private anonymous 4 KiB: NOHUGEPAGE, bytes written through the view are in the pages', () => {
    const m = Mapping.anonymous(4 * HPAGE_PMD_SIZE);
    try {
      expect(m.backing).toBe('anon');
      expect(m.shared).toBe(false);
      expect(m.pageSize).toBe(PAGE_SIZE);
      expect(m.view.length).toBe(4 * HPAGE_PMD_SIZE);
      const [vma] = smapsFor(m);
      expect(vma.vmFlags).toContain('nh');
      expect(vma.vmFlags).not.toContain('hg');
      expect(pageSummary(m).present).toBe(0);
      m.view.fill(0x5a);
      const s = pageSummary(m);
      expect(s.present).toBe(m.pages);
      expect(s.pmdMapped ?? 0).toBe(0);
      expect(s.smaps.anonHugePagesKb).toBe(0);
      expect(m.view[12345]).toBe(0x5a);
    } finally {
      m.unmap();
    }
  });

  it('anonymous THP: 2 MiB aligned, MADV_HUGEPAGE set on the VMA', () => {
    const m = Mapping.anonymous(2 * HPAGE_PMD_SIZE + 3 * PAGE_SIZE, { thp: true });
    try {
      expect(m.backing).toBe('anon-thp');
      expect(m.address % BigInt(HPAGE_PMD_SIZE)).toBe(0n);
      const vmas = smapsFor(m);
      expect(vmas.length).toBe(1);
      expect(vmas[0].start).toBe(m.address);
      expect(vmas[0].end).toBe(m.end);
      expect(vmas[0].vmFlags).toContain('hg');
    } finally {
      m.unmap();
    }
  });

  it('shared anonymous: shmem pages, reported file-or-shared by pagemap', () => {
    using m = Mapping.anonymous(16 * PAGE_SIZE, { shared: true, populate: true });
    expect(m.backing).toBe('anon-shared');
    expect(m.shared).toBe(true);
    const s = pageSummary(m);
    expect(s.present).toBe(16);
    expect(s.fileOrSharedAnon).toBe(16);
    expect(smapsFor(m)[0].perms).toBe('rw-s');
  });

  it('memfd: the same bytes through the fd and through the view', () => {
    const m = Mapping.memfd(8 * PAGE_SIZE, { name: 'mirrorlab-test' });
    try {
      expect(m.backing).toBe('memfd');
      expect(typeof m.fd).toBe('number');
      m.view.set([1, 2, 3, 4], 5 * PAGE_SIZE);
      const b = Buffer.alloc(4);
      fs.readSync(m.fd!, b, 0, 4, 5 * PAGE_SIZE);
      expect([...b]).toEqual([1, 2, 3, 4]);
      expect(smapsFor(m)[0].path).toMatch(/^\/memfd:mirrorlab-test/);
      const fd = m.fd!;
      m.unmap();
      expect(m.fd).toBeUndefined();
      expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
    } finally {
      m[Symbol.dispose]();
    }
  });

  it('memfd private mapping: writes do not reach the file', () => {
    using m = Mapping.memfd(4 * PAGE_SIZE, { shared: false });
    m.view[0] = 9;
    const b = Buffer.alloc(1, 0xff);
    fs.readSync(m.fd!, b, 0, 1, 0);
    expect(b[0]).toBe(0);
    expect(smapsFor(m)[0].perms).toBe('rw-p');
  });

  it('regular file, shared: bytes land in the file; private: they do not', () => {
    const file = path.join(tmp, 'data.bin');
    {
      using m = Mapping.file(file, 4 * PAGE_SIZE);
      expect(m.backing).toBe('file');
      m.view.set(Buffer.from('mirrorlab'), PAGE_SIZE);
    }
    const content = fs.readFileSync(file);
    expect(content.length).toBe(4 * PAGE_SIZE);
    expect(content.subarray(PAGE_SIZE, PAGE_SIZE + 9).toString()).toBe('mirrorlab');
    {
      using p = Mapping.file(file, 4 * PAGE_SIZE, { shared: false });
      expect(Buffer.from(p.view.subarray(PAGE_SIZE, PAGE_SIZE + 9)).toString()).toBe('mirrorlab');
      p.view.fill(0);
    }
    expect(fs.readFileSync(file).subarray(PAGE_SIZE, PAGE_SIZE + 9).toString()).toBe('mirrorlab');
    using off = Mapping.file(file, PAGE_SIZE, { offset: PAGE_SIZE, prot: 'r' });
    expect(Buffer.from(off.view.subarray(0, 9)).toString()).toBe('mirrorlab');
  });

  it('populate: every page present before the first access', () => {
    for (const populate of [true, 'read', 'write', 'map'] as const) {
      using m = Mapping.anonymous(32 * PAGE_SIZE, { populate });
      const s = pageSummary(m);
      expect(s.present, String(populate)).toBe(32);
      // Without the zero page (zeroPageOff) a read populate allocates zeroed anon pages.
      if (populate === 'read') expect(s.zeroPage ?? s.pfnZero, 'read populate maps the zero page').toBe(zeroPageOff() ? 0 : 32);
    }
  });

  it('protect and advise act on subranges; toString and inspect describe the mapping', () => {
    using m = Mapping.anonymous(8 * PAGE_SIZE);
    m.touch(); // (a write through the view to a read-only page would kill the process: SIGSEGV)
    m.protect('r', PAGE_SIZE, 2 * PAGE_SIZE);
    const vmas = smapsFor(m);
    expect(vmas.map((v) => v.perms)).toEqual(['rw-p', 'r--p', 'rw-p']);
    expect(pageSummary(m).present).toBe(8);
    m.advise('DONTNEED', 4 * PAGE_SIZE, 2 * PAGE_SIZE);
    expect(pageSummary(m).present).toBe(6);
    expect(String(m)).toMatch(/^Mapping anon 0x[0-9a-f]+-0x[0-9a-f]+ 32 KiB rw private page 4 KiB$/);
    expect(inspect(m)).toBe(`<${m}>`);
  });
});

describe('unmap and detached views', () => {
  it('after unmap the view is detached, methods throw ERR_INVALID_STATE, the process survives', () => {
    const m = Mapping.anonymous(4 * PAGE_SIZE);
    const v = m.view;
    const sub = m.subarray(PAGE_SIZE, 16);
    v[0] = 1;
    const range = m.range();
    m.unmap();
    expect(isMapped(range)).toBe(false);
    expect(m.mapped).toBe(false);
    expect(v.length).toBe(0);
    expect(v.byteLength).toBe(0);
    expect(sub.length).toBe(0);
    expect(m.view.length).toBe(0);
    expect(v[0]).toBeUndefined();
    v[0] = 7; // silently ignored on a detached typed array
    expect(() => v.fill(1)).toThrow(TypeError);
    expect(() => v.set([1])).toThrow(TypeError);
    expect(() => sub.fill(1)).toThrow(TypeError);
    for (const f of [
      () => m.protect('r'), () => m.advise('DONTNEED'), () => m.remap(8 * PAGE_SIZE, { mayMove: true }),
      () => m.unmap(), () => m.subarray(0), () => m.range(), () => m.touch(), () => m.addressAt(0),
    ]) {
      expect(catchErr(f).code).toBe('ERR_INVALID_STATE');
    }
    m[Symbol.dispose](); // idempotent
    expect(String(m)).toMatch(/\(unmapped\)$/);
  });
});

describe('unmapRange', () => {
  it('cutting the tail: the head stays mapped with its bytes, the old view is detached, the tail is gone', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view.fill(0x11);
    const old = m.view;
    const tailRange = m.range(3 * PAGE_SIZE);
    expect(m.unmapRange(3 * PAGE_SIZE)).toBeUndefined();
    expect(isMapped(tailRange)).toBe(false);
    expect(old.length).toBe(0);
    expect(() => old.fill(1)).toThrow(TypeError);
    expect(m.length).toBe(3 * PAGE_SIZE);
    expect(m.view.length).toBe(3 * PAGE_SIZE);
    expect(m.view.every((b) => b === 0x11)).toBe(true);
    expect(smapsFor(m).map((v) => [v.start, v.end])).toEqual([[m.address, m.end]]);
    expect(catchErr(() => m.subarray(3 * PAGE_SIZE, 1)).code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('cutting the head: the Mapping starts after the cut', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view[2 * PAGE_SIZE] = 0x22;
    const start = m.address;
    m.unmapRange(0, 2 * PAGE_SIZE);
    expect(isMapped({ address: start, length: 2 * PAGE_SIZE })).toBe(false);
    expect(m.address).toBe(start + BigInt(2 * PAGE_SIZE));
    expect(m.length).toBe(2 * PAGE_SIZE);
    expect(m.view[0]).toBe(0x22);
    m.protect('r'); // the methods act on what is left
    expect(m.prot).toBe('r');
  });

  it('a hole in the middle splits the Mapping: the part after the hole comes back as its own Mapping', () => {
    const m = Mapping.anonymous(4 * PAGE_SIZE);
    for (let p = 0; p < 4; p++) m.view[p * PAGE_SIZE] = p + 1;
    const sub = m.subarray(PAGE_SIZE, 16);
    const start = m.address;
    const tail = m.unmapRange(PAGE_SIZE, 2 * PAGE_SIZE)!;
    expect(sub.length).toBe(0); // a view of the unmapped part: detached, no crash
    expect(() => sub.set([1])).toThrow(TypeError);
    expect(isMapped({ address: start + BigInt(PAGE_SIZE), length: 2 * PAGE_SIZE })).toBe(false);
    expect([m.address, m.length, m.view[0]]).toEqual([start, PAGE_SIZE, 1]);
    expect([tail.address, tail.length, tail.view[0]]).toEqual([start + BigInt(3 * PAGE_SIZE), PAGE_SIZE, 4]);
    expect([tail.backing, tail.pageSize, tail.prot, tail.shared]).toEqual([m.backing, m.pageSize, m.prot, m.shared]);
    expect(tail.id).not.toBe(m.id);
    m.unmap();
    expect(isMapped(tail)).toBe(true); // each piece unmaps only itself
    const tailRange = tail.range();
    tail.unmap();
    expect(isMapped(tailRange)).toBe(false);
  });

  it('a split memfd Mapping gives the tail its own descriptor on the same file', () => {
    using m = Mapping.memfd(3 * PAGE_SIZE);
    using tail = m.unmapRange(PAGE_SIZE, PAGE_SIZE)!;
    expect(tail.fd).toBeDefined();
    expect(tail.fd).not.toBe(m.fd);
    tail.view[0] = 0x5c; // file offset 2 * PAGE_SIZE
    const b = Buffer.alloc(1);
    fs.readSync(m.fd!, b, 0, 1, 2 * PAGE_SIZE);
    expect(b[0]).toBe(0x5c);
    m.unmap();
    fs.readSync(tail.fd!, b, 0, 1, 2 * PAGE_SIZE); // still open after the head is gone
    expect(b[0]).toBe(0x5c);
  });

  it('unmapping the whole range is unmap(); bad ranges are refused before any munmap', () => {
    const m = Mapping.anonymous(2 * PAGE_SIZE);
    for (const [f, code] of [
      [() => m.unmapRange(1), 'ERR_INVALID_ARG_VALUE'],
      [() => m.unmapRange(0, 100), 'ERR_INVALID_ARG_VALUE'],
      [() => m.unmapRange(0, 0), 'ERR_INVALID_ARG_VALUE'],
      [() => m.unmapRange(PAGE_SIZE, 2 * PAGE_SIZE), 'ERR_OUT_OF_RANGE'],
      [() => m.unmapRange(-PAGE_SIZE), 'ERR_OUT_OF_RANGE'],
    ] as const) {
      expect(catchErr(f).code).toBe(code);
    }
    expect(m.view.length).toBe(2 * PAGE_SIZE);
    const range = m.range();
    expect(m.unmapRange(0, 2 * PAGE_SIZE)).toBeUndefined();
    expect(m.mapped).toBe(false);
    expect(isMapped(range)).toBe(false);
    expect(catchErr(() => m.unmapRange(0)).code).toBe('ERR_INVALID_STATE');
  });

  it('hugetlb: the cut must be huge-page aligned', () => {
    // the check runs before any syscall, so an adopted range stands in for a hugetlb mapping
    using m = Mapping.anonymous(2 * HPAGE_PMD_SIZE);
    using h = Mapping.adopt(m.address, m.length, { pageSize: HPAGE_PMD_SIZE });
    expect(catchErr(() => h.unmapRange(PAGE_SIZE, PAGE_SIZE)).code).toBe('ERR_INVALID_ARG_VALUE');
    expect(h.length).toBe(2 * HPAGE_PMD_SIZE);
  });
});

describe('remap', () => {
  it('MAYMOVE to a fixed address moves the data and detaches the old view', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view.set([1, 2, 3], PAGE_SIZE);
    const old = m.view;
    const oldRange = m.range();
    // a free spot: map and unmap a range twice as large, use its second half
    const probe = Mapping.anonymous(8 * PAGE_SIZE);
    const target = probe.address + BigInt(4 * PAGE_SIZE);
    probe.unmap();
    const r = m.remap(4 * PAGE_SIZE, { mayMove: true, fixed: target });
    expect(r.moved).toBe(true);
    expect(r.oldAddress).toBe(oldRange.address);
    expect(m.address).toBe(target);
    expect(old.length).toBe(0);
    expect([...m.view.subarray(PAGE_SIZE, PAGE_SIZE + 3)]).toEqual([1, 2, 3]);
    expect(isMapped(oldRange)).toBe(false);
  });

  it('growing with MAYMOVE keeps the bytes, shrinking in place keeps the head', () => {
    using m = Mapping.anonymous(2 * PAGE_SIZE);
    m.view[100] = 42;
    const old = m.view;
    m.remap(64 * PAGE_SIZE, { mayMove: true });
    expect(old.length).toBe(0);
    expect(m.length).toBe(64 * PAGE_SIZE);
    expect(m.view.length).toBe(64 * PAGE_SIZE);
    expect(m.view[100]).toBe(42);
    m.view[63 * PAGE_SIZE] = 1;
    m.remap(PAGE_SIZE);
    expect(m.view.length).toBe(PAGE_SIZE);
    expect(m.view[100]).toBe(42);
  });

  it('DONTUNMAP moves the pages and leaves the old private range mapped but empty', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view.fill(0xab);
    const oldAddr = m.address;
    const r = m.remap(4 * PAGE_SIZE, { mayMove: true, dontUnmap: true });
    using old = r.old!;
    expect(r.moved).toBe(true);
    expect(old.address).toBe(oldAddr);
    expect(old.mapped).toBe(true);
    expect(isMapped(old)).toBe(true);
    expect(pageSummary(old).present).toBe(0);
    expect(pageSummary(m).present).toBe(4);
    expect(m.view.every((b) => b === 0xab)).toBe(true);
    expect(old.view.every((b) => b === 0)).toBe(true);
  });
});

describe('remap of shared memory', () => {
  it('DONTUNMAP of a shared memfd mapping: the old range is empty but refaults the same file pages', () => {
    using m = Mapping.memfd(4 * PAGE_SIZE);
    m.view.fill(0x3c);
    const r = m.remap(4 * PAGE_SIZE, { mayMove: true, dontUnmap: true });
    using old = r.old!;
    expect(pageSummary(old).present).toBe(0);
    expect(old.view[2 * PAGE_SIZE]).toBe(0x3c); // a fault on the old range finds the shmem page
    m.view[0] = 1;
    expect(old.view[0]).toBe(1);
  });
});

describe('finalizer', async () => {
  const v8 = await import('node:v8');
  const vm = await import('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const collect = async (until: () => boolean) => {
    for (let i = 0; i < 20 && !until(); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('a forgotten Mapping is unmapped when its view is collected', async () => {
    const make = () => {
      const m = Mapping.anonymous(16 * PAGE_SIZE);
      m.view.fill(1);
      return m.range();
    };
    const range = make();
    expect(isMapped(range)).toBe(true);
    await collect(() => !isMapped(range));
    expect(isMapped(range)).toBe(false);
  });

  it('a view that outlives its Mapping object keeps the memory mapped', async () => {
    const make = () => {
      const m = Mapping.anonymous(4 * PAGE_SIZE);
      m.view.fill(3);
      return { view: m.view, range: m.range() };
    };
    const { view, range } = make();
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(isMapped(range)).toBe(true);
    expect(view[4 * PAGE_SIZE - 1]).toBe(3);
  });

  it('an explicitly unmapped Mapping, once collected, does not unmap whatever was mapped there next', async () => {
    const make = () => {
      const m = Mapping.anonymous(4 * PAGE_SIZE);
      const range = m.range();
      m.unmap();
      return range;
    };
    const range = make();
    // map something else at exactly the same place
    const addr = native.mmap(range.address, range.length, 3, 0x22 | 0x100000, -1, 0);
    expect(addr).toBe(range.address);
    try {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(isMapped(range)).toBe(true);
    } finally {
      native.munmap(addr, range.length);
    }
  });

  it('the view an unmapRange() replaced, once collected, does not unmap the part that stays', async () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    const cut = () => {
      m.view.fill(9); // the old whole-range view, unreachable after the cut
      m.unmapRange(2 * PAGE_SIZE);
    };
    cut();
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(isMapped(m)).toBe(true);
    expect(m.view[PAGE_SIZE]).toBe(9);
  });

  it('a forgotten memfd Mapping closes its descriptor', async () => {
    const make = () => {
      const m = Mapping.memfd(PAGE_SIZE);
      return { fd: m.fd!, range: m.range() };
    };
    const { fd, range } = make();
    const open = () => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('/memfd:');
      } catch {
        return false;
      }
    };
    expect(open()).toBe(true);
    await collect(() => !open() && !isMapped(range));
    expect(isMapped(range)).toBe(false);
    expect(open()).toBe(false);
  });
});
