// THP as the page state sources see it: PAGEMAP_SCAN (PMD-mapped or not),
// kpageflags (large folio or not), smaps (AnonHugePages / ShmemPmdMapped).
import { describe, expect, it } from 'vitest';
import { HPAGE_PMD_SIZE, Mapping, PAGE_SIZE, forkChild, setShmemThp, thpSettings, zeroPageOff } from '../../src/memory/index.js';
import { pageState, pageSummary } from '../../src/pagestate/index.js';

const PMD_PAGES = HPAGE_PMD_SIZE / PAGE_SIZE;
const thp = thpSettings();
const noThp = thp.enabled === undefined || thp.enabled === 'never';
if (noThp) console.warn(`skipping THP tests: transparent_hugepage/enabled is ${thp.enabled ?? 'missing'}`);
const root = process.getuid?.() === 0;

/** Fault a 2-PMD MADV_HUGEPAGE region; skip (with the reason) if the kernel gave no THP. */
function faultedThp(ctx: { skip: () => void }): Mapping {
  const m = Mapping.anonymous(2 * HPAGE_PMD_SIZE, { thp: true });
  m.touch();
  const s = pageSummary(m);
  if (s.pmdMapped === undefined) {
    m.unmap();
    console.warn(`skipping: PAGEMAP_SCAN refused (errno ${s.pagemapScanErrno}); needs Linux 6.7+`);
    ctx.skip();
  }
  if (s.pmdMapped === 0 && s.smaps.anonHugePagesKb === 0) {
    m.unmap();
    console.warn('skipping: the kernel did not allocate a THP on fault (memory too fragmented?)');
    ctx.skip();
  }
  return m;
}

describe.skipIf(noThp)('anonymous THP page state', () => {
  it('a faulted MADV_HUGEPAGE region is PMD-mapped: PAGEMAP_SCAN, kpageflags THP head/tail and smaps AnonHugePages agree', (ctx) => {
    using m = faultedThp(ctx);
    const s = pageSummary(m);
    expect(s.present).toBe(2 * PMD_PAGES);
    expect(s.pmdMapped).toBe(2 * PMD_PAGES);
    expect(s.pmdMappedBytes).toBe(2 * HPAGE_PMD_SIZE);
    expect(s.smaps.anonHugePagesKb * 1024).toBe(s.pmdMappedBytes);
    expect(s.exclusive).toBe(2 * PMD_PAGES);
    if (s.kpageflags) {
      expect(s.thp).toBe(2 * PMD_PAGES);
      expect(s.thpHead).toBe(2);
      expect(s.thpTail).toBe(2 * PMD_PAGES - 2);
      expect(s.anon).toBe(2 * PMD_PAGES);
      const st = pageState(m);
      expect(st.flags(0)).toEqual(expect.arrayContaining(['THP', 'COMPOUND_HEAD', 'ANON']));
      expect(st.flags(1)).toEqual(expect.arrayContaining(['THP', 'COMPOUND_TAIL']));
      // the 512 PFNs of a PMD-mapped THP are contiguous and 2 MiB aligned
      if (root) {
        expect(st.pfn(0) % BigInt(PMD_PAGES)).toBe(0n);
        expect(st.pfn(PMD_PAGES - 1) - st.pfn(0)).toBe(BigInt(PMD_PAGES - 1));
      }
    }
    expect(pageState(m).count(pageState(m).huge)).toBe(2 * PMD_PAGES);
  });

  it('a 4 KiB mprotect inside it splits that PMD mapping (the folio stays a THP, PTE-mapped)', (ctx) => {
    using m = faultedThp(ctx);
    m.protect('r', PAGE_SIZE, PAGE_SIZE);
    const first = pageSummary(m, 0, HPAGE_PMD_SIZE);
    const second = pageSummary(m, HPAGE_PMD_SIZE, HPAGE_PMD_SIZE);
    expect(first.present).toBe(PMD_PAGES);
    expect(first.pmdMapped).toBe(0);
    expect(second.pmdMapped).toBe(PMD_PAGES);
    expect(pageSummary(m).smaps.anonHugePagesKb * 1024).toBe(HPAGE_PMD_SIZE);
    if (first.kpageflags) {
      // What 6.18 does: __split_huge_pmd only; the large folio is left for the deferred split.
      console.log(`after a 4 KiB mprotect: first PMD pmdMapped=${first.pmdMapped}, kpageflags THP pages=${first.thp} (head ${first.thpHead})`);
      expect(first.thp).toBeGreaterThan(0);
    }
  });

  it('MADV_DONTNEED of 4 KiB inside it splits that PMD mapping and frees one page; MADV_COLLAPSE maps a THP again', (ctx) => {
    using m = faultedThp(ctx);
    m.advise('DONTNEED', HPAGE_PMD_SIZE + 2 * PAGE_SIZE, PAGE_SIZE);
    const second = pageSummary(m, HPAGE_PMD_SIZE, HPAGE_PMD_SIZE);
    expect(second.present).toBe(PMD_PAGES - 1);
    expect(second.pmdMapped).toBe(0);
    expect(pageSummary(m, 0, HPAGE_PMD_SIZE).pmdMapped).toBe(PMD_PAGES);
    expect(pageSummary(m).smaps.anonHugePagesKb * 1024).toBe(HPAGE_PMD_SIZE);
    const st = pageState(m, HPAGE_PMD_SIZE, HPAGE_PMD_SIZE);
    expect(st.present[2]).toBe(0);
    expect(st.present[3]).toBe(1);
    expect(m.view[HPAGE_PMD_SIZE + 2 * PAGE_SIZE]).toBe(0); // refaults as zero

    try {
      m.advise('COLLAPSE', HPAGE_PMD_SIZE, HPAGE_PMD_SIZE);
    } catch (e) {
      console.warn(`skipping the collapse half: ${(e as Error).message}`);
      return;
    }
    const after = pageSummary(m, HPAGE_PMD_SIZE, HPAGE_PMD_SIZE);
    expect(after.present).toBe(PMD_PAGES);
    expect(after.pmdMapped).toBe(PMD_PAGES);
    expect(pageSummary(m).smaps.anonHugePagesKb * 1024).toBe(2 * HPAGE_PMD_SIZE);
    expect(m.view[0]).toBe(1);
    expect(m.view[HPAGE_PMD_SIZE + 3 * PAGE_SIZE]).toBe(1);
  });

  it('fork: a THP shared with the child stays PMD-mapped until the parent writes; that write splits the PMD and copies 4 KiB', async (ctx) => {
    const two = faultedThp(ctx);
    two.unmap();
    using m = Mapping.anonymous(HPAGE_PMD_SIZE, { thp: true });
    m.touch();
    expect(pageSummary(m).pmdMapped).toBe(PMD_PAGES);
    const h = forkChild([{ op: 'wait' }, { op: 'write', mapping: m, offset: 2 * PAGE_SIZE, length: 1, value: 2 }, { op: 'wait' }]);
    try {
      await h.waiting();
      let s = pageSummary(m);
      expect(s.pmdMapped).toBe(PMD_PAGES); // the parent's PMD is write-protected, still huge
      expect(s.exclusive).toBe(0);
      h.resume();
      await h.waiting(); // the child has written page 2 (its own copy)
      s = pageSummary(m);
      expect(s.pmdMapped).toBe(PMD_PAGES);
      const before = pageState(m);
      m.view[PAGE_SIZE] = 3; // parent write: CoW fault on the shared PMD
      s = pageSummary(m);
      const after = pageState(m);
      expect(s.pmdMapped).toBe(0);
      expect(s.smaps.anonHugePagesKb).toBe(0);
      expect(s.present).toBe(PMD_PAGES);
      // exclusive now: the new copy of page 1, and page 2, which the child no longer maps
      expect([...after.exclusive.subarray(0, 4)]).toEqual([0, 1, 1, 0]);
      expect(s.exclusive).toBe(2);
      if (root && s.kpageflags) {
        expect(after.pfn(0)).toBe(before.pfn(0));
        expect(after.pfn(1)).not.toBe(before.pfn(1));
        expect(after.flags(1)).not.toContain('THP');
        expect(s.thp).toBe(PMD_PAGES - 1);
      }
    } finally {
      h.resume();
      await h.done;
    }
    const s = pageSummary(m);
    expect(s.exclusive).toBe(PMD_PAGES); // the child is gone
    expect(s.pmdMapped).toBe(0); // the split stays until khugepaged or MADV_COLLAPSE
  });

  it('populate: true applies MADV_HUGEPAGE first, so MADV_POPULATE_WRITE faults in THPs', () => {
    using m = Mapping.anonymous(HPAGE_PMD_SIZE, { thp: true, populate: true });
    const s = pageSummary(m);
    expect(s.present).toBe(PMD_PAGES);
    if (s.pmdMapped === 0) {
      console.warn('populate gave no THP (fragmented memory?); not asserting the PMD mapping');
      return;
    }
    expect(s.pmdMapped).toBe(PMD_PAGES);
    expect(s.smaps.anonHugePagesKb * 1024).toBe(HPAGE_PMD_SIZE);
  });

  it('a read fault maps the huge zero page: PMD-mapped, PFN-zero, not counted by AnonHugePages', (ctx) => {
    const off = zeroPageOff({ huge: true });
    if (off) {
      console.warn(`${off}: skipping`);
      return ctx.skip();
    }
    using m = Mapping.anonymous(HPAGE_PMD_SIZE, { thp: true });
    let x = 0;
    for (let i = 0; i < m.length; i += PAGE_SIZE) x += m.view[i];
    expect(x).toBe(0);
    const s = pageSummary(m);
    if (s.pfnZero === undefined) return;
    expect(s.pfnZero).toBe(PMD_PAGES);
    expect(s.scanHuge).toBe(PMD_PAGES);
    expect(s.smaps.anonHugePagesKb).toBe(0);
    expect(s.smaps.rssKb).toBe(0);
    if (s.kpageflags) {
      expect(s.zeroPage).toBe(PMD_PAGES);
      expect(pageState(m).flags(0)).toEqual(expect.arrayContaining(['THP', 'ZERO_PAGE', 'COMPOUND_HEAD']));
    }
    // pagemap sets bit 61 ("file-page or shared-anon") for the huge zero page: it is not an anon folio
    console.log(`huge zero page: pagemap file/shared-anon bit on ${s.fileOrSharedAnon} of ${s.pages} pages`);
  });

  it('a 4 KiB NOHUGEPAGE mapping is never PMD-mapped; a read maps the zero page', () => {
    using m = Mapping.anonymous(HPAGE_PMD_SIZE);
    expect(m.view[5 * PAGE_SIZE]).toBe(0);
    const s = pageSummary(m);
    expect(s.present).toBe(1);
    const off = zeroPageOff();
    if (off) {
      // Still a fresh anonymous page of zeros, never the zero page.
      console.warn(`${off}: the read mapped an anonymous page`);
      if (s.pfnZero !== undefined) expect(s.pfnZero).toBe(0);
      if (s.kpageflags) expect([s.zeroPage, s.anon]).toEqual([0, 1]);
    } else {
      if (s.pfnZero !== undefined) expect(s.pfnZero).toBe(1);
      if (s.kpageflags) expect(s.zeroPage).toBe(1);
    }
    m.touch();
    const t = pageSummary(m);
    expect(t.pmdMapped).toBe(0);
    expect(t.thp ?? 0).toBe(0);
    expect(t.smaps.anonHugePagesKb).toBe(0);
  });
});

describe.skipIf(noThp || !root)('shmem THP (memfd, shared anonymous)', () => {
  it(`follows shmem_enabled: none under '${thp.shmemEnabled}' unless it allows it, PMD-mapped under 'advise' with MADV_HUGEPAGE`, () => {
    const mode = thp.shmemEnabled;
    {
      using m = Mapping.memfd(HPAGE_PMD_SIZE, { thp: true });
      m.touch();
      const s = pageSummary(m);
      console.log(`memfd thp under shmem_enabled=${mode}: ShmemPmdMapped ${s.smaps.shmemPmdMappedKb} kB, pmdMapped pages ${s.pmdMapped}`);
      if (mode === 'never' || mode === 'deny') {
        expect(s.smaps.shmemPmdMappedKb).toBe(0);
        expect(s.pmdMapped).toBe(0);
      }
    }
    // shmem_enabled is machine-wide: set it for the shortest window and put it back.
    using _mode = setShmemThp('advise');
    using a = Mapping.memfd(HPAGE_PMD_SIZE, { thp: true });
    using b = Mapping.memfd(HPAGE_PMD_SIZE);
    using c = Mapping.anonymous(HPAGE_PMD_SIZE, { thp: true, shared: true });
    for (const m of [a, b, c]) m.touch();
    const sa = pageSummary(a);
    const sb = pageSummary(b);
    const sc = pageSummary(c);
    if (sa.smaps.shmemPmdMappedKb === 0) {
      console.warn('shmem_enabled=advise gave no shmem THP (allocation failed?); not asserting');
      return;
    }
    expect(a.backing).toBe('memfd-thp');
    expect(sa.smaps.shmemPmdMappedKb * 1024).toBe(HPAGE_PMD_SIZE);
    expect(sa.smaps.anonHugePagesKb).toBe(0);
    expect(sa.pmdMapped).toBe(PMD_PAGES);
    expect(sb.smaps.shmemPmdMappedKb).toBe(0); // no MADV_HUGEPAGE: 'advise' gives it nothing
    expect(sb.pmdMapped).toBe(0);
    expect(c.backing).toBe('anon-shared-thp');
    expect(sc.smaps.shmemPmdMappedKb * 1024).toBe(HPAGE_PMD_SIZE);
    if (sa.kpageflags) expect(sa.thpHead).toBe(1);
  });
});
