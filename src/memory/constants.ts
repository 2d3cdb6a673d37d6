// Names for protection bits and madvise advice, mapped to the kernel's values.
import { native } from '../addon.js';
import { invalidArg, invalidType } from '../errors.js';

const C = native.mmConstants;

/** Protection: a number of PROT_* bits, 'none', or letters from 'rwx' ('rw', 'r', 'rx'). */
export type Prot = number | 'none' | string;

export function protBits(prot: unknown, name = 'prot'): number {
  if (typeof prot === 'number') {
    if (!Number.isInteger(prot) || prot < 0 || (prot & ~(C.PROT_READ | C.PROT_WRITE | C.PROT_EXEC)) !== 0)
      throw invalidArg(name, prot, 'must be a combination of PROT_READ, PROT_WRITE and PROT_EXEC');
    return prot;
  }
  if (typeof prot !== 'string') throw invalidType(name, prot, "a number of PROT_* bits or a string like 'rw' or 'none'");
  if (prot === 'none' || prot === '') return C.PROT_NONE;
  let bits = 0;
  for (const ch of prot) {
    const bit = ch === 'r' ? C.PROT_READ : ch === 'w' ? C.PROT_WRITE : ch === 'x' ? C.PROT_EXEC : -1;
    if (bit < 0 || bits & bit) throw invalidArg(name, prot, "must be 'none' or letters from 'rwx', each at most once");
    bits |= bit;
  }
  return bits;
}

export function protString(bits: number): string {
  if (bits === C.PROT_NONE) return 'none';
  return (bits & C.PROT_READ ? 'r' : '') + (bits & C.PROT_WRITE ? 'w' : '') + (bits & C.PROT_EXEC ? 'x' : '');
}

export const ADVICE = {
  NORMAL: C.MADV_NORMAL,
  RANDOM: C.MADV_RANDOM,
  SEQUENTIAL: C.MADV_SEQUENTIAL,
  WILLNEED: C.MADV_WILLNEED,
  DONTNEED: C.MADV_DONTNEED,
  FREE: C.MADV_FREE,
  REMOVE: C.MADV_REMOVE,
  DONTFORK: C.MADV_DONTFORK,
  DOFORK: C.MADV_DOFORK,
  MERGEABLE: C.MADV_MERGEABLE,
  UNMERGEABLE: C.MADV_UNMERGEABLE,
  HUGEPAGE: C.MADV_HUGEPAGE,
  NOHUGEPAGE: C.MADV_NOHUGEPAGE,
  COLD: C.MADV_COLD,
  PAGEOUT: C.MADV_PAGEOUT,
  POPULATE_READ: C.MADV_POPULATE_READ,
  POPULATE_WRITE: C.MADV_POPULATE_WRITE,
  COLLAPSE: C.MADV_COLLAPSE,
} as const;

export type Advice = keyof typeof ADVICE;

/** 'DONTNEED', 'dontneed' or 'MADV_DONTNEED' -> the kernel's value. Numbers are refused (use the names). */
export function adviceValue(advice: unknown, name = 'advice'): number {
  if (typeof advice !== 'string') throw invalidType(name, advice, `one of the advice names (${Object.keys(ADVICE).join(', ')})`);
  const key = advice.toUpperCase().replace(/^MADV_/, '');
  if (!Object.prototype.hasOwnProperty.call(ADVICE, key))
    throw invalidArg(name, advice, `is not a known advice (known: ${Object.keys(ADVICE).join(', ')})`);
  return ADVICE[key as Advice];
}

export const MAP = {
  SHARED: C.MAP_SHARED,
  PRIVATE: C.MAP_PRIVATE,
  FIXED: C.MAP_FIXED,
  FIXED_NOREPLACE: C.MAP_FIXED_NOREPLACE,
  ANONYMOUS: C.MAP_ANONYMOUS,
  POPULATE: C.MAP_POPULATE,
  NORESERVE: C.MAP_NORESERVE,
  HUGETLB: C.MAP_HUGETLB,
  HUGE_SHIFT: C.MAP_HUGE_SHIFT,
} as const;

export const PROT = { NONE: C.PROT_NONE, READ: C.PROT_READ, WRITE: C.PROT_WRITE, EXEC: C.PROT_EXEC } as const;
export const MREMAP = { MAYMOVE: C.MREMAP_MAYMOVE, FIXED: C.MREMAP_FIXED, DONTUNMAP: C.MREMAP_DONTUNMAP } as const;
export const MFD = { CLOEXEC: C.MFD_CLOEXEC, ALLOW_SEALING: C.MFD_ALLOW_SEALING, HUGETLB: C.MFD_HUGETLB, HUGE_SHIFT: C.MFD_HUGE_SHIFT } as const;

export type HugeSize = '2M' | '1G';
export const HUGE_SIZES: Record<HugeSize, number> = { '2M': 2 * 1024 * 1024, '1G': 1024 * 1024 * 1024 };

/** MAP_HUGE_2MB / MAP_HUGE_1GB (log2 of the size << MAP_HUGE_SHIFT; the same encoding for MFD_HUGE_*). */
export function hugeSizeFlag(size: HugeSize): number {
  return (size === '2M' ? 21 : 30) * 2 ** C.MAP_HUGE_SHIFT;
}

export function checkHugeSize(v: unknown, name = 'size'): HugeSize {
  if (v !== '2M' && v !== '1G') throw invalidArg(name, v, "must be '2M' or '1G'");
  return v;
}
