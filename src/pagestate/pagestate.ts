// Page state of a range of this process: /proc/self/pagemap, PAGEMAP_SCAN,
// /proc/kpageflags (native/pagemap.cc) and /proc/self/smaps.
//
// What each source can tell:
//   pagemap       per PTE: present, swapped, soft-dirty (needs CONFIG_MEM_SOFT_DIRTY), exclusively mapped
//                 (bit 56), uffd-wp (bit 57), file-or-shared-anon (bit 61),
//                 PFN (root only)
//   PAGEMAP_SCAN  (6.7+) per page, at the level the page table maps it:
//                 PAGE_IS_HUGE is set for a PMD (or PUD) mapped THP or a
//                 hugetlb page, so it is the per-page answer to "is this
//                 PMD-mapped right now". PAGE_IS_WRITTEN is set on every page
//                 that is not uffd-wp protected (async WP), present or not.
//   kpageflags    per PFN (root only): the folio: THP, compound head/tail,
//                 hugetlb (HUGE), zero page, KSM, anon, LRU, ... A THP whose
//                 PMD was split still reports THP here until the folio itself
//                 is split (deferred split), so THP in kpageflags means "part
//                 of a large folio", not "PMD-mapped".
//   smaps         per VMA: Rss, AnonHugePages (PMD-mapped anon THP only),
//                 ShmemPmdMapped, FilePmdMapped, Swap, THPeligible, VmFlags
import { native } from '../addon.js';
import { invalidType, outOfRange } from '../errors.js';
import { checkMapped } from '../memory/address-space.js';
import { Mapping } from '../memory/mapping.js';
import { PAGE_SIZE, checkAddress, checkNoOverflow, checkSize, checkSubrange } from '../memory/validate.js';
import { smapsFor, type SmapsVma } from './smaps.js';

export type RangeLike = Mapping | { address: bigint | number; length: number };

/** kpageflags bit names (include/uapi/linux/kernel-page-flags.h and the kernel-internal ones above 31). */
export const KPF: Record<string, number> = {
  LOCKED: 0, ERROR: 1, REFERENCED: 2, UPTODATE: 3, DIRTY: 4, LRU: 5, ACTIVE: 6, SLAB: 7, WRITEBACK: 8,
  RECLAIM: 9, BUDDY: 10, MMAP: 11, ANON: 12, SWAPCACHE: 13, SWAPBACKED: 14, COMPOUND_HEAD: 15,
  COMPOUND_TAIL: 16, HUGE: 17, UNEVICTABLE: 18, HWPOISON: 19, NOPAGE: 20, KSM: 21, THP: 22, OFFLINE: 23,
  ZERO_PAGE: 24, IDLE: 25, PGTABLE: 26,
  RESERVED: 32, MLOCKED: 33, MAPPEDTODISK: 34, PRIVATE: 35, PRIVATE_2: 36, OWNER_PRIVATE: 37, ARCH: 38,
  UNCACHED: 39, SOFTDIRTY: 40, ARCH_2: 41, ARCH_3: 42,
};

export const PAGE_IS: Record<string, number> = native.pagemapConstants;

/** Resolve a Mapping or {address,length} plus an optional page-aligned subrange. */
export function resolveRange(target: RangeLike, offset?: number, length?: number): { address: bigint; length: number } {
  if (target instanceof Mapping) return target.range(offset, length);
  if (target === null || typeof target !== 'object') throw invalidType('range', target, 'a Mapping or { address, length }');
  const address = checkAddress('range.address', target.address, PAGE_SIZE);
  const total = checkSize('range.length', target.length, { align: PAGE_SIZE, nonZero: true });
  checkNoOverflow(address, total, 'range.length');
  const r = checkSubrange(total, offset, length);
  return { address: address + BigInt(r.offset), length: r.length };
}

/**
 * Most pages one pageState() / pageSummary() call reads (64 GiB of 4 KiB
 * pages): the native side holds about 17 bytes per page while it reads.
 */
export const MAX_PAGESTATE_PAGES = 1 << 24;

// A range whose page state is read: bounded, then mapped (pagemap reads an
// unmapped range as zeros, which would look like "nothing present").
function mappedRange(target: RangeLike, offset?: number, length?: number): { address: bigint; length: number } {
  const r = resolveRange(target, offset, length);
  if (r.length / PAGE_SIZE > MAX_PAGESTATE_PAGES)
    throw outOfRange('length', r.length, `at most ${MAX_PAGESTATE_PAGES * PAGE_SIZE} bytes (${MAX_PAGESTATE_PAGES} pages) per call; split the range`);
  checkMapped('range', r.address, r.length);
  return r;
}

export interface PageInfo {
  index: number;
  address: bigint;
  present: boolean;
  swapped: boolean;
  exclusive: boolean;
  uffdWp: boolean;
  softDirty: boolean;
  fileOrSharedAnon: boolean;
  /** PFN (present pages; 0n without CAP_SYS_ADMIN) */
  pfn?: bigint;
  /** PAGEMAP_SCAN: mapped by a huge (PMD/PUD) entry */
  huge?: boolean;
  /** names of the set kpageflags bits */
  flags?: string[];
}

export class PageState {
  readonly address: bigint;
  readonly pages: number;
  /** raw /proc/self/pagemap entries */
  readonly pagemap: BigUint64Array;
  /** raw /proc/kpageflags of each present page (0n where not present), null when unreadable */
  readonly kpageflags: BigUint64Array | null;
  /** PAGEMAP_SCAN categories per page (PAGE_IS_*), null when the kernel refuses the ioctl */
  readonly scan: Uint8Array | null;
  /** per page 0/1 */
  readonly present: Uint8Array;
  readonly swapped: Uint8Array;
  readonly exclusive: Uint8Array;
  readonly uffdWp: Uint8Array;
  readonly softDirty: Uint8Array;
  readonly fileOrSharedAnon: Uint8Array;
  /** PAGEMAP_SCAN PAGE_IS_HUGE (null without PAGEMAP_SCAN) */
  readonly huge: Uint8Array | null;
  /** kpageflags THP (null without kpageflags) */
  readonly thp: Uint8Array | null;

  constructor(address: bigint, raw: { pagemap: BigUint64Array; kpageflags: BigUint64Array | null; scan: Uint8Array | null }) {
    this.address = address;
    this.pagemap = raw.pagemap;
    this.kpageflags = raw.kpageflags;
    this.scan = raw.scan;
    const n = (this.pages = raw.pagemap.length);
    // High 32 bits of each entry: bit 63 present -> 31, 62 swapped -> 30,
    // 61 file/shared -> 29, 57 uffd-wp -> 25, 56 exclusive -> 24, 55 soft-dirty -> 23.
    const words = new Uint32Array(raw.pagemap.buffer, raw.pagemap.byteOffset, n * 2);
    const bit = (b: number) => {
      const a = new Uint8Array(n);
      for (let i = 0; i < n; i++) a[i] = (words[i * 2 + 1] >>> b) & 1;
      return a;
    };
    this.present = bit(31);
    this.swapped = bit(30);
    this.fileOrSharedAnon = bit(29);
    this.uffdWp = bit(25);
    this.exclusive = bit(24);
    this.softDirty = bit(23);
    if (raw.scan) {
      const h = PAGE_IS.PAGE_IS_HUGE;
      this.huge = raw.scan.map((c) => (c & h ? 1 : 0));
    } else this.huge = null;
    if (raw.kpageflags) {
      const kw = new Uint32Array(raw.kpageflags.buffer, raw.kpageflags.byteOffset, n * 2);
      const t = new Uint8Array(n);
      for (let i = 0; i < n; i++) t[i] = (kw[i * 2] >>> KPF.THP) & 1;
      this.thp = t;
    } else this.thp = null;
  }

  pfn(i: number): bigint {
    return this.pagemap[i] & ((1n << 55n) - 1n);
  }

  /** names of the kpageflags bits set for page i (undefined without kpageflags) */
  flags(i: number): string[] | undefined {
    if (!this.kpageflags) return undefined;
    const f = this.kpageflags[i];
    return Object.entries(KPF).filter(([, b]) => (f >> BigInt(b)) & 1n).map(([name]) => name);
  }

  page(i: number): PageInfo {
    const p: PageInfo = {
      index: i, address: this.address + BigInt(i * PAGE_SIZE), present: !!this.present[i], swapped: !!this.swapped[i],
      exclusive: !!this.exclusive[i], uffdWp: !!this.uffdWp[i], softDirty: !!this.softDirty[i], fileOrSharedAnon: !!this.fileOrSharedAnon[i],
    };
    if (p.present) p.pfn = this.pfn(i);
    if (this.huge) p.huge = !!this.huge[i];
    if (this.kpageflags) p.flags = this.flags(i);
    return p;
  }

  count(a: Uint8Array | null): number | undefined {
    if (!a) return undefined;
    let c = 0;
    for (let i = 0; i < a.length; i++) c += a[i];
    return c;
  }
}

/** Per-page state of a range (one native call reads pagemap, PAGEMAP_SCAN and kpageflags). */
export function pageState(target: RangeLike, offset?: number, length?: number): PageState {
  const r = mappedRange(target, offset, length);
  return new PageState(r.address, native.pageStateRaw(r.address, r.length));
}

export interface PageSummary {
  address: bigint;
  length: number;
  pages: number;
  pageSize: number;
  present: number;
  swapped: number;
  exclusive: number;
  softDirty: number;
  fileOrSharedAnon: number;
  uffdWp: number;
  guard: number;
  /** present pages whose PFN was readable (root) */
  pfnKnown: number;
  kpageflags: boolean;
  kpageflagsErrno?: number;
  /** kpageflags: pages of large anon/file folios (THP), their heads and tails */
  thp?: number;
  thpHead?: number;
  thpTail?: number;
  /** kpageflags HUGE: hugetlb pages */
  hugetlb?: number;
  zeroPage?: number;
  ksm?: number;
  anon?: number;
  lru?: number;
  pagemapScan: boolean;
  pagemapScanErrno?: number;
  /** PAGEMAP_SCAN: pages mapped by a huge entry (THP PMD or hugetlb) */
  scanHuge?: number;
  scanPresent?: number;
  pfnZero?: number;
  /** PMD-mapped THP pages: PAGEMAP_SCAN huge and present, not hugetlb */
  pmdMapped?: number;
  pmdMappedBytes?: number;
  /** smaps of the VMAs overlapping the range, summed (kB); exact only when smapsExact */
  smaps: { vmas: number; exact: boolean; rssKb: number; anonHugePagesKb: number; shmemPmdMappedKb: number; filePmdMappedKb: number; swapKb: number; hugetlbKb: number; thpEligible: boolean };
}

/**
 * Counts over a range in one native call (no JavaScript per page), plus the
 * smaps figures of the VMAs around it for a cross-check.
 */
export function pageSummary(target: RangeLike, offset?: number, length?: number): PageSummary {
  const r = mappedRange(target, offset, length);
  const s = native.pageSummary(r.address, r.length);
  const vmas: SmapsVma[] = smapsFor(r);
  const end = r.address + BigInt(r.length);
  const sum = (k: string) => vmas.reduce((a, v) => a + (v.kB[k] ?? 0), 0);
  return {
    address: r.address,
    length: r.length,
    ...s,
    pmdMappedBytes: s.pagemapScan ? s.pmdMapped * s.pageSize : undefined,
    smaps: {
      vmas: vmas.length,
      exact: vmas.every((v) => v.start >= r.address && v.end <= end),
      rssKb: sum('Rss'),
      anonHugePagesKb: sum('AnonHugePages'),
      shmemPmdMappedKb: sum('ShmemPmdMapped'),
      filePmdMappedKb: sum('FilePmdMapped'),
      swapKb: sum('Swap'),
      hugetlbKb: sum('Private_Hugetlb') + sum('Shared_Hugetlb'),
      thpEligible: vmas.some((v) => v.thpEligible === 1),
    },
  };
}

/** The raw PAGEMAP_SCAN ioctl (one call, up to 4096 regions; continue from walkEnd). */
export function pagemapScan(
  target: RangeLike,
  options: { categoryMask?: number; anyofMask?: number; invertedMask?: number; returnMask?: number; maxPages?: number } = {},
): { regions: { start: bigint; end: bigint; categories: number }[]; walkEnd: bigint } {
  const r = resolveRange(target);
  const all = Object.values(PAGE_IS).reduce((a, b) => a | b, 0);
  const res = native.pagemapScan(
    r.address, r.address + BigInt(r.length), options.categoryMask ?? 0, options.anyofMask ?? 0,
    options.invertedMask ?? 0, options.returnMask ?? all, options.maxPages ?? 0,
  );
  const regions = [];
  for (let i = 0; i < res.regions.length; i += 3)
    regions.push({ start: res.regions[i], end: res.regions[i + 1], categories: Number(res.regions[i + 2]) });
  return { regions, walkEnd: res.walkEnd };
}
