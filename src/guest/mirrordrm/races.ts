// mirrordrm scenario in the guest: device reads racing invalidations.
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { MIRRORDRM } from '../../mirror/uapi.js';
import { PAGE, mapAnon, unmapAll, mapBacking, type Region, type Backing } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';

/**
 * Races: the JavaScript thread invalidates in a loop (mprotect RO/RW,
 * MADV_DONTNEED + refill with a new generation byte, or a new MAP_FIXED
 * anonymous mapping over the buffer, which unmaps its pages, + refill) for windowMs around each
 * device read of the buffer, which runs on the thread pool meanwhile. Reads
 * go on until the object has seen an hmm_range_fault -EBUSY or a read_retry
 * collision (or maxReads). Each byte read must be one the buffer held during
 * that read's window (0 after DONTNEED or in a new mapping, or a generation
 * written then). Errors are counted by errno. (Not munmap and then mmap:
 * another thread of the process can take the hole in between, and MAP_FIXED
 * would then clobber its mapping.) populateDelayNs (the driver's
 * populate delay) widens the window between collecting the pages and the
 * retry check, so that a loop running meanwhile collides on every kernel and
 * under any vCPU scheduling.
 */
export type RaceKind = 'mprotect' | 'dontneed' | 'replace';

export async function raceInvalidate(mode: MirrorMode, kind: RaceKind, minReads: number, maxReads: number, windowMs = 3, backing: Backing = 'anon', populateDelayNs = 0) {
  const c = native.mmConstants;
  const md = native.mirrordrm;
  if (kind === 'replace' && backing !== 'anon') throw new Error('the replace loop maps anonymous memory over the buffer: anon only');
  using dev = MockDrm.open();
  // the loop invalidates the whole buffer (a 2 MiB folio on THP and hugetlb);
  // the device reads its first 8 pages
  const len = backing === 'thp' || backing === 'hugetlb-2M' ? 2 * 1024 * 1024 : 8 * PAGE;
  const readLen = 8 * PAGE;
  const m = backing === 'anon' ? null : mapBacking(backing, len);
  const r = m ? { addr: m.address, bytes: m.view } : mapAnon(len);
  let gen = 1;
  r.bytes.fill(gen);
  const readOnly = kind === 'mprotect' && mode === 'hmm'; // refaults under PROT_READ
  try {
    using buf = await dev.userptr({ address: r.addr, length: len }, { mode, readOnly, populate: true });
    if (populateDelayNs) buf.setBehaviour({ populateDelayNs });
    const allowed = new Uint8Array(256);
    let reads = 0;
    let bad = 0;
    let firstBad = '';
    let errors = 0;
    let firstError = '';
    const errorCodes: Record<string, number> = {};
    let accessRetries = 0;
    let accessPopulates = 0;
    let invalidations = 0;
    const out = new Uint8Array(readLen);
    for (; reads < maxReads; reads++) {
      const s = buf.stats();
      if (reads >= minReads && (mode !== 'hmm' || s.hmmRangeFaultEbusy + s.readRetry > 0)) break;
      allowed.fill(0);
      allowed[gen] = 1;
      if (kind !== 'mprotect') allowed[0] = 1;
      const p = md.accessAsync(dev.fd, buf.handle, 0, MIRRORDRM.ACCESS_READ, out) as Promise<{ populates: number; retries: number }>;
      const t0 = Date.now();
      do {
        if (kind === 'mprotect') {
          native.mprotect(r.addr, len, c.PROT_READ);
          native.mprotect(r.addr, len, c.PROT_READ | c.PROT_WRITE);
        } else {
          if (kind === 'dontneed') {
            native.madvise(r.addr, len, c.MADV_DONTNEED);
          } else {
            native.mmap(r.addr, len, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_FIXED, -1, 0);
          }
          gen = (gen % 250) + 1;
          allowed[gen] = 1;
          r.bytes.fill(gen);
        }
        invalidations++;
      } while (Date.now() - t0 < windowMs);
      try {
        const a = await p;
        accessRetries += a.retries;
        accessPopulates += a.populates;
      } catch (e) {
        errors++;
        const code = String((e as { code?: string }).code);
        firstError ||= code;
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        continue;
      }
      const expectOnly = mode === 'hmm' ? -1 : 1; // a kept pin reads the first page it pinned
      for (let j = 0; j < readLen; j++) {
        const v = out[j];
        if (expectOnly >= 0 ? v !== expectOnly : !allowed[v]) {
          bad++;
          firstBad ||= `read ${reads} byte ${j}: 0x${v.toString(16)}`;
        }
      }
    }
    return { reads, bad, firstBad, errors, firstError, errorCodes, accessRetries, accessPopulates, invalidations, generations: gen, stats: buf.stats() };
  } finally {
    if (m) m.unmap();
    else unmapAll(r as Region);
  }
}
