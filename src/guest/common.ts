// Helpers shared by the guest modules (src/guest/): they run inside the QEMU
// guest, called through Vm.call. Small, plain functions: guest JavaScript runs
// about 300x slower under TCG than on the host.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { native } from '../addon.js';
import type { NativeView } from '../native.js';
import { isSyscallError } from '../errors.js';
import { Mapping } from '../memory/mapping.js';
import { pageState } from '../pagestate/index.js';
import type { InvalidationEvent, InvalidationRecord, MirrorPageState } from '../mirror/types.js';

export const PAGE = 4096;

/**
 * Keeps this process (every thread) on one CPU until disposed, then gives it
 * back its CPU list (BusyBox taskset in the guest). For MADV_PAGEOUT and
 * MADV_COLD: a folio still in a CPU's LRU-add batch has no PG_lru,
 * madvise_cold_or_pageout_pte_range() skips such a folio without a word, and
 * madvise drains only its own CPU's batch (lru_add_drain()). If the scheduler
 * moves the thread between faulting the pages in and the advice, the advice
 * does nothing to them (docs/kernel-differences.md).
 */
export function onOneCpu(): Disposable {
  const allowed = /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
  const setCpus = (list: string) => execFileSync('taskset', ['-a', '-p', '-c', list, String(process.pid)], { stdio: 'pipe' });
  setCpus(allowed.split(/[,-]/)[0]);
  return { [Symbol.dispose]: () => setCpus(allowed) };
}

/** An anonymous mapping and a view of its bytes (mapAnon, unmapAll). */
export interface Region {
  addr: bigint;
  length: number;
  bytes: Uint8Array;
  view: NativeView;
}

export function mapAnon(length: number, extraFlags = 0): Region {
  const c = native.mmConstants;
  const addr: bigint = native.mmap(0n, length, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | extraFlags, -1, 0);
  const view = native.newView(addr, length, false);
  return { addr, length, bytes: new Uint8Array(view.buffer), view };
}

/**
 * Maps `length` bytes starting `pagesBelow` pages below a 2 MiB boundary (0:
 * on it): reserves address space, lets `map(at)` map there with MAP_FIXED,
 * gives back the rest of the reservation (all of it if `map` throws). Kernel
 * work that walks a range in PMD-sized steps or page tables (our MIGRATE,
 * MADV_PAGEOUT of a large folio) then meets the same split on every run,
 * not the one ASLR chose. Returns the address.
 */
export function mapAtPmdOffset(length: number, pagesBelow: number, map: (at: bigint) => void): bigint {
  const c = native.mmConstants;
  const PMD = 2 * 1024 * 1024;
  if (pagesBelow < 0 || pagesBelow * PAGE >= PMD) throw new RangeError(`pagesBelow ${pagesBelow}: 0 to ${PMD / PAGE - 1}`);
  const span = length + 2 * PMD;
  const hole: bigint = native.mmap(0n, span, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_NORESERVE, -1, 0);
  const below = BigInt(pagesBelow * PAGE);
  const at = ((hole + below + BigInt(PMD - 1)) & ~BigInt(PMD - 1)) - below;
  try {
    map(at);
  } catch (e) {
    native.munmap(hole, span);
    throw e;
  }
  const end = hole + BigInt(span);
  if (at > hole) native.munmap(hole, Number(at - hole));
  if (at + BigInt(length) < end) native.munmap(at + BigInt(length), Number(end - at - BigInt(length)));
  return at;
}

/** mapAnon() placed by mapAtPmdOffset(). Release with unmapAll(). */
export function mapAnonFromPmd(length: number, pagesBelow: number): Region {
  const c = native.mmConstants;
  const prot = c.PROT_READ | c.PROT_WRITE;
  const addr = mapAtPmdOffset(length, pagesBelow, (at) => native.mmap(at, length, prot, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_FIXED, -1, 0));
  const view = native.newView(addr, length, false);
  return { addr, length, bytes: new Uint8Array(view.buffer), view };
}

/**
 * Anonymous memory in a VMA of its own: a PROT_NONE page on either side
 * keeps the kernel from merging it with a neighbouring anonymous mapping.
 * Operations whose notifier range is the whole VMA (fork's copy-on-write
 * write-protect, MMU_NOTIFY_PROTECTION_PAGE over vm_start..vm_end) then
 * report exactly this range, whatever else the process has mapped nearby.
 * Release with unmapAlone().
 */
export function mapAnonAlone(length: number): Region {
  const c = native.mmConstants;
  const base: bigint = native.mmap(0n, length + 2 * PAGE, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  const addr = base + BigInt(PAGE);
  native.mprotect(addr, length, c.PROT_READ | c.PROT_WRITE);
  const view = native.newView(addr, length, false);
  return { addr, length, bytes: new Uint8Array(view.buffer), view };
}

export function unmapAlone(r: Region): void {
  native.releaseView(r.view.buffer, r.view.record);
  native.munmap(r.addr - BigInt(PAGE), r.length + 2 * PAGE);
}

/**
 * munmap of a mapAnonAlone() region's own range (one UNMAP over exactly it),
 * then at once a PROT_NONE placeholder in the hole. Objects still registered
 * on the range would otherwise also see whatever the process maps there next
 * and unmaps again (the JavaScript heap's reservations), records no case
 * asked for. Returns the release of placeholder and guards; if the hole was
 * taken in between, releases the guards and throws. `unmap` does the munmap
 * (a timed one, for a benchmark).
 */
export function unmapHoldingHole(r: Region, unmap: (addr: bigint, length: number) => void = (a, l) => native.munmap(a, l)): () => void {
  const c = native.mmConstants;
  native.releaseView(r.view.buffer, r.view.record);
  unmap(r.addr, r.length);
  try {
    native.mmap(r.addr, r.length, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_FIXED_NOREPLACE, -1, 0);
  } catch (e) {
    native.munmap(r.addr - BigInt(PAGE), PAGE);
    native.munmap(r.addr + BigInt(r.length), PAGE);
    throw new Error(`the unmapped range 0x${r.addr.toString(16)}+${r.length} was mapped by someone else before the placeholder: ${(e as Error).message}`);
  }
  return () => native.munmap(r.addr - BigInt(PAGE), r.length + 2 * PAGE);
}

export function unmapAll(r: Region): void {
  native.releaseView(r.view.buffer, r.view.record);
  native.munmap(r.addr, r.length);
}

/**
 * The folios behind a mapped range, in pages each, from /proc/kpageflags
 * (a compound head starts a large folio, its tails extend it): [1, 1, 1, 1]
 * for four small page-cache pages, [16] for one 64 KiB folio. File systems
 * with large folios (ext4 since 6.16) invalidate a mapping folio by folio.
 */
export function folioPages(range: { address: bigint; length: number }): number[] {
  const st = pageState(range);
  const sizes: number[] = [];
  for (let i = 0; i < st.pages; i++) {
    const flags = st.flags(i);
    if (!flags) throw new Error('folioPages: /proc/kpageflags is not readable');
    if (!st.present[i]) throw new Error(`folioPages: page ${i} is not present`);
    if (flags.includes('COMPOUND_TAIL') && sizes.length) sizes[sizes.length - 1]++;
    else sizes.push(1);
  }
  return sizes;
}

/** A step that may fail: its value, or the error's code and errno. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; errno: number };

/** Runs fn; any error becomes an Outcome (code and errno as the error carries them). */
export async function attempt<T>(fn: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const err = e as { code?: string; errno?: number };
    return { ok: false, code: String(err.code), errno: Number(err.errno) };
  }
}

/** Records with addresses relative to the region, for readable assertions. */
export function rel(records: InvalidationRecord[], base: bigint) {
  return records.map((r) => ({ ...r, relStart: Number(r.start - base), relEnd: r.end === 0xffff_ffff_ffff_ffffn ? -1 : Number(r.end - base) }));
}

/** The byte at offset i of a patterned buffer. */
/** A record in short, relative to the region: [event, start, end, pages dropped, kept stale]. */
export type RecordRow = [event: InvalidationEvent, relStart: number, relEnd: number, pagesDropped: number, keptStale: boolean];

export function rows(records: InvalidationRecord[], base: bigint): RecordRow[] {
  return rel(records, base).map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
}

/** The byte at offset i of a patterned buffer. */
export function pattern(i: number): number {
  return (i * 7 + 3) & 0xff;
}

/** Memory a scenario maps for the buffer. */
export type Backing = 'anon' | 'thp' | 'shmem' | 'hugetlb-2M' | 'hugetlb-1G';

export function mapBacking(b: Backing, length: number): Mapping {
  switch (b) {
    case 'anon':
      return Mapping.anonymous(length);
    case 'thp':
      return Mapping.anonymous(length, { thp: true });
    case 'shmem':
      return Mapping.memfd(length, { shared: true });
    case 'hugetlb-2M':
      return Mapping.hugetlb(length, '2M');
    case 'hugetlb-1G':
      return Mapping.hugetlb(length, '1G');
  }
}

/** One page of a snapshot in short: device and CPU flags ("VW-Z=", "VWo9"). */
export function brief(p: MirrorPageState) {
  return {
    i: p.index,
    dev: (p.device.valid ? 'V' : '-') + (p.device.write ? 'W' : '-') + (p.device.stale ? 'S' : '-') + (p.device.zero ? 'Z' : '-') + (p.device.sameAsCpu ? '=' : ''),
    cpu: p.cpu.error ? 'E' : (p.cpu.valid ? 'V' : '-') + (p.cpu.write ? 'W' : '-') + (p.cpu.zero ? 'Z' : '-') + (p.cpu.order ? `o${p.cpu.order}` : ''),
  };
}

/**
 * Synchronous attempt for steps whose only expected failure is a syscall
 * error: that becomes an Outcome, anything else is a bug and propagates.
 */
export function attemptSyscall<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (isSyscallError(e)) return { ok: false, code: e.code, errno: e.errno };
    throw e;
  }
}
