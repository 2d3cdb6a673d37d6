// Every kind of bad argument is refused before a system call, with Node's codes;
// system call failures keep the native shape { code, errno, syscall, args }.
import { afterAll, describe, expect, it } from 'vitest';
import { ArgumentError, isSyscallError } from '../../src/errors.js';
import { Mapping, PAGE_SIZE, HPAGE_PMD_SIZE } from '../../src/memory/index.js';
import { native } from '../../src/addon.js';

function catchErr(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('argument errors', () => {
  const m = Mapping.anonymous(4 * PAGE_SIZE);
  afterAll(() => m.unmap());
  const cases: [string, () => unknown, string, RegExp?][] = [
    // lengths
    ['zero length', () => Mapping.anonymous(0), 'ERR_INVALID_ARG_VALUE', /must not be zero/],
    ['unaligned length', () => Mapping.anonymous(100), 'ERR_INVALID_ARG_VALUE', /multiple of 4096/],
    ['negative length', () => Mapping.anonymous(-4096), 'ERR_OUT_OF_RANGE'],
    ['fractional length', () => Mapping.anonymous(4096.5), 'ERR_INVALID_ARG_VALUE'],
    ['huge length', () => Mapping.anonymous(2 ** 60), 'ERR_OUT_OF_RANGE'],
    ['string length', () => Mapping.anonymous('4096' as never), 'ERR_INVALID_ARG_TYPE'],
    ['hugetlb length not a multiple of 2M', () => Mapping.hugetlb(HPAGE_PMD_SIZE + PAGE_SIZE, '2M'), 'ERR_INVALID_ARG_VALUE'],
    // options
    ['unknown option', () => Mapping.anonymous(PAGE_SIZE, { huge: true } as never), 'ERR_INVALID_ARG_VALUE', /not a known option/],
    ['options not an object', () => Mapping.anonymous(PAGE_SIZE, 3 as never), 'ERR_INVALID_ARG_TYPE'],
    ['thp not boolean', () => Mapping.anonymous(PAGE_SIZE, { thp: 'yes' } as never), 'ERR_INVALID_ARG_TYPE'],
    ['bad prot letters', () => Mapping.anonymous(PAGE_SIZE, { prot: 'rwq' }), 'ERR_INVALID_ARG_VALUE'],
    ['bad prot bits', () => Mapping.anonymous(PAGE_SIZE, { prot: 0x10 }), 'ERR_INVALID_ARG_VALUE'],
    ['bad populate', () => Mapping.anonymous(PAGE_SIZE, { populate: 'now' } as never), 'ERR_INVALID_ARG_VALUE'],
    ['unknown huge size', () => Mapping.hugetlb(HPAGE_PMD_SIZE, '16K' as never), 'ERR_INVALID_ARG_VALUE'],
    ['memfd thp and hugetlb', () => Mapping.memfd(HPAGE_PMD_SIZE, { thp: true, hugetlb: '2M' }), 'ERR_INVALID_ARG_VALUE'],
    ['file path not a string', () => Mapping.file(3 as never, PAGE_SIZE), 'ERR_INVALID_ARG_TYPE'],
    ['file offset unaligned', () => Mapping.file('/tmp/x', PAGE_SIZE, { offset: 12 }), 'ERR_INVALID_ARG_VALUE'],
    // subranges
    ['offset unaligned', () => m.protect('r', 1, PAGE_SIZE), 'ERR_INVALID_ARG_VALUE'],
    ['subrange length unaligned', () => m.advise('DONTNEED', 0, 12), 'ERR_INVALID_ARG_VALUE'],
    ['offset past the end', () => m.advise('DONTNEED', 8 * PAGE_SIZE), 'ERR_OUT_OF_RANGE'],
    ['offset + length past the end', () => m.protect('r', 2 * PAGE_SIZE, 3 * PAGE_SIZE), 'ERR_OUT_OF_RANGE'],
    ['zero subrange length', () => m.protect('r', 0, 0), 'ERR_INVALID_ARG_VALUE'],
    ['offset at the end, no length', () => m.advise('DONTNEED', 4 * PAGE_SIZE), 'ERR_INVALID_ARG_VALUE'],
    ['subarray past the end', () => m.subarray(0, 5 * PAGE_SIZE), 'ERR_INVALID_ARG_VALUE'],
    // advice
    ['unknown advice', () => m.advise('DONTWANT'), 'ERR_INVALID_ARG_VALUE', /not a known advice/],
    ['numeric advice', () => m.advise(4 as never), 'ERR_INVALID_ARG_TYPE'],
    // remap
    ['remap unaligned', () => m.remap(5000), 'ERR_INVALID_ARG_VALUE'],
    ['remap fixed without mayMove', () => m.remap(PAGE_SIZE, { fixed: 0x10000000n }), 'ERR_INVALID_ARG_VALUE', /needs mayMove/],
    ['remap fixed unaligned', () => m.remap(PAGE_SIZE, { mayMove: true, fixed: 0x10000001n }), 'ERR_INVALID_ARG_VALUE'],
    ['remap fixed overflow', () => m.remap(2 * PAGE_SIZE, { mayMove: true, fixed: (1n << 64n) - 4096n }), 'ERR_OUT_OF_RANGE'],
    ['remap fixed beyond 64 bits', () => m.remap(PAGE_SIZE, { mayMove: true, fixed: 1n << 64n }), 'ERR_OUT_OF_RANGE'],
    ['remap dontUnmap, other length', () => m.remap(8 * PAGE_SIZE, { mayMove: true, dontUnmap: true }), 'ERR_INVALID_ARG_VALUE'],
    ['remap dontUnmap without mayMove', () => m.remap(4 * PAGE_SIZE, { dontUnmap: true }), 'ERR_INVALID_ARG_VALUE'],
    ['adopt overflow', () => Mapping.adopt((1n << 64n) - 4096n, 2 * PAGE_SIZE), 'ERR_OUT_OF_RANGE'],
    ['adopt unaligned', () => Mapping.adopt(0x1001n, PAGE_SIZE), 'ERR_INVALID_ARG_VALUE'],
  ];
  for (const [name, fn, code, msg] of cases) {
    it(`${name} -> ${code}`, () => {
      const e = catchErr(fn);
      expect(e).toBeInstanceOf(ArgumentError);
      expect(e.code).toBe(code);
      if (msg) expect(e.message).toMatch(msg);
      expect(isSyscallError(e)).toBe(false);
    });
  }
  it('a failed argument check leaves the mapping untouched', () => {
    expect(m.mapped).toBe(true);
    expect(m.length).toBe(4 * PAGE_SIZE);
    m.view[0] = 1;
    expect(m.view[0]).toBe(1);
  });
});

describe('system call failures keep the native shape', () => {
  it('munmap of a range the kernel refuses: mprotect on a hole -> ENOMEM', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    native.munmap(m.address + BigInt(PAGE_SIZE), PAGE_SIZE); // punch a hole behind the Mapping's back
    const e = catchErr(() => m.protect('r'));
    expect(e).toMatchObject({ code: 'ENOMEM', errno: -12, syscall: 'mprotect', args: { addr: m.address, length: 4 * PAGE_SIZE, prot: 1n } });
    expect(e.message).toBe(`ENOMEM: Cannot allocate memory, mprotect(addr=0x${m.address.toString(16)}, length=16384, prot=0x1)`);
  });

  it('MADV_COLLAPSE on a 4 KiB (NOHUGEPAGE) mapping -> EINVAL', () => {
    using m = Mapping.anonymous(HPAGE_PMD_SIZE);
    const e = catchErr(() => m.advise('COLLAPSE'));
    expect(e).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'madvise', args: { addr: m.address, length: HPAGE_PMD_SIZE, advice: 25 } });
  });

  it('MADV_POPULATE_WRITE on a read-only mapping -> EINVAL (6.18); populate of a PROT_NONE mapping fails the factory', () => {
    using m = Mapping.anonymous(PAGE_SIZE, { prot: 'r' });
    expect(catchErr(() => m.advise('POPULATE_WRITE'))).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'madvise', args: { advice: 23 } });
    m.advise('POPULATE_READ');
    const e = catchErr(() => Mapping.anonymous(PAGE_SIZE, { prot: 'none', populate: true }));
    expect(isSyscallError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'EINVAL', syscall: 'madvise', args: { advice: 22 } });
  });

  it('remap growing in place into a neighbour -> ENOMEM; the mapping and its view are unchanged', () => {
    // Two adjacent mappings: carve them out of one reservation.
    const whole = Mapping.anonymous(4 * PAGE_SIZE);
    const base = whole.address;
    whole.unmap();
    const a = native.mmap(base, PAGE_SIZE, 3, 0x22 | 0x100000, -1, 0); // MAP_FIXED_NOREPLACE
    const b = native.mmap(base + BigInt(PAGE_SIZE), PAGE_SIZE, 3, 0x22 | 0x100000, -1, 0);
    using ma = Mapping.adopt(a, PAGE_SIZE);
    using mb = Mapping.adopt(b, PAGE_SIZE);
    ma.view[0] = 5;
    const v = ma.view;
    const e = catchErr(() => ma.remap(2 * PAGE_SIZE));
    expect(e).toMatchObject({ code: 'ENOMEM', errno: -12, syscall: 'mremap', args: { oldAddr: a, oldLength: PAGE_SIZE, newLength: 2 * PAGE_SIZE, flags: 0n } });
    expect(ma.view).toBe(v);
    expect(v[0]).toBe(5);
    expect(mb.mapped).toBe(true);
  });

  it('memfd file operations failing: a file mapping of a directory -> the open error from fs', () => {
    const e = catchErr(() => Mapping.file('/proc', PAGE_SIZE, { create: false }));
    expect(['EISDIR', 'EACCES', 'ENODEV']).toContain(e.code);
  });
});
