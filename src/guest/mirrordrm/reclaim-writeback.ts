// mirrordrm scenarios in the guest: reclaim with swap, and writeback of a shared file on a disk file system.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { Mapping } from '../../memory/mapping.js';
import { PAGE, mapAnon, mapAtPmdOffset, unmapAll, attempt, rows, mapBacking, brief, folioPages, onOneCpu } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';
import { pageState } from '../../pagestate/index.js';

function swapDevices(): string[] {
  return fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
}

/** mkswap + swapon on a block device (a brd ram disk in the tests); returns the active swap devices. */
export async function swapOn(blockdev: string): Promise<string[]> {
  if (!swapDevices().includes(blockdev)) {
    execFileSync('mkswap', [blockdev], { stdio: 'pipe' });
    execFileSync('swapon', [blockdev], { stdio: 'pipe' });
  }
  return swapDevices();
}

export async function swapOff(blockdev: string): Promise<string[]> {
  if (swapDevices().includes(blockdev)) execFileSync('swapoff', [blockdev], { stdio: 'pipe' });
  return swapDevices();
}

function vmstat(keys: string[]): Record<string, number> {
  const all = Object.fromEntries(fs.readFileSync('/proc/vmstat', 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  return Object.fromEntries(keys.map((k) => [k, all[k] ?? 0]));
}

function delta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
}

/** The split and split_failed counters of the mTHP size `bytes`, or null where the kernel has none. */
function mthpSplitCounters(bytes: number): (() => Record<string, number>) | null {
  const dir = `/sys/kernel/mm/transparent_hugepage/hugepages-${bytes / 1024}kB/stats`;
  if (!fs.existsSync(`${dir}/split_failed`)) return null;
  return () => Object.fromEntries(['split', 'split_failed'].map((k) => [k, Number(fs.readFileSync(`${dir}/${k}`, 'utf8').trim())]));
}

/** How many of the range's pages carry a /proc/kpageflags flag. */
function pageFlagCount(range: { address: bigint; length: number }, flag: string): number {
  const st = pageState(range);
  let n = 0;
  for (let i = 0; i < st.pages; i++) if (st.flags(i)?.includes(flag)) n++;
  return n;
}

/** Where a file mapping lies against a 2 MiB (PMD) boundary: wholly on one side, or half on each. */
export type FilePlacement = 'aligned' | 'straddling';

/**
 * A MAP_SHARED mapping of `file` whose first `pagesBelow` pages lie just
 * below a 2 MiB boundary and the rest above it (0: it starts on the
 * boundary). Where mmap would put it is chance (ASLR): a mapping that
 * happens to cross a PMD boundary splits a large page-cache folio's PTEs
 * between two page tables, which changes what MADV_PAGEOUT does to it.
 */
function mapFileAtPmdBoundary(file: string, length: number, pagesBelow: number): Mapping {
  const c = native.mmConstants;
  const fd = fs.openSync(file, 'r+');
  try {
    const at = mapAtPmdOffset(length, pagesBelow, (a) => native.mmap(a, length, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED | c.MAP_FIXED, fd, 0));
    return Mapping.adopt(at, length, { shared: true, backing: 'file' });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reclaim with swap: 16 populated 4 KiB anonymous pages (one byte value per
 * page) mirrored in `mode`, then MADV_PAGEOUT with a swap device active. What
 * the kernel reclaimed (pagemap present/swapped, vmstat pswpout), the records
 * the object got, then re-access: the device reads first (HMM swaps the pages
 * in through hmm_range_fault), then the CPU. `thp`: one 2 MiB THP instead.
 * `file`: 16 pages of a shared file in `dir`, mapped from a 2 MiB boundary
 * or across one (opts.place), mirrored writable or read-only (opts.readOnly).
 */
export async function reclaimSwap(mode: MirrorMode, backing: 'anon' | 'thp' | 'file' = 'anon', dir = '', opts: { place?: FilePlacement; readOnly?: boolean } = {}) {
  const place = opts.place ?? 'aligned';
  const readOnly = opts.readOnly ?? false;
  const { pageSummary } = await import('../../pagestate/index.js');
  const c = native.mmConstants;
  const n = backing === 'thp' ? 512 : 16;
  // fault in, populate and advise on one CPU, so the advice sees every folio
  // on the LRU (see onOneCpu)
  using oneCpu = onOneCpu();
  using dev = MockDrm.open();
  const file = `${dir}/reclaim-${mode}`;
  let r: { addr: bigint; length: number; bytes: Uint8Array };
  let release: () => void;
  if (backing === 'anon') {
    const a = mapAnon(n * PAGE);
    native.madvise(a.addr, a.length, c.MADV_NOHUGEPAGE);
    [r, release] = [a, () => unmapAll(a)];
  } else if (backing === 'thp') {
    const m = mapBacking('thp', n * PAGE);
    [r, release] = [{ addr: m.address, length: m.length, bytes: m.view }, () => m.unmap()];
  } else {
    // a shared file on the disk file system, written back (clean) before the
    // object populates it (a writable one write-faults the pages: dirty
    // again); page-cache pages are never swapped, clean ones are freed
    fs.writeFileSync(file, Buffer.alloc(n * PAGE));
    const m = mapFileAtPmdBoundary(file, n * PAGE, place === 'aligned' ? 0 : n / 2);
    [r, release] = [{ addr: m.address, length: m.length, bytes: m.view }, () => { m.unmap(); fs.rmSync(file, { force: true }); }];
  }
  const expected = new Uint8Array(n * PAGE);
  for (let p = 0; p < n; p++) expected.fill(0x60 + (p % 64), p * PAGE, (p + 1) * PAGE);
  r.bytes.set(expected);
  if (backing === 'file') {
    const fd = fs.openSync(file, 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  }
  const same = (a: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(expected.buffer)) === 0;
  const state = () => {
    const s = pageSummary({ address: r.addr, length: r.length });
    return { present: s.present, swapped: s.swapped, ...(s.pmdMapped !== undefined ? { pmdMapped: s.pmdMapped } : {}) };
  };
  const ev = () => rows(dev.drainInvalidations().records, r.addr);
  const counters = ['pswpout', 'pswpin', 'pgsteal_direct', 'pgsteal_kswapd', 'pgmajfault', 'thp_swpout', 'thp_swpout_fallback', 'thp_split_page'];
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, readOnly, populate: true });
    dev.drainInvalidations();
    const swaps = swapDevices();
    const before = state();
    const folios = backing === 'file' ? folioPages({ address: r.addr, length: r.length }) : null;
    // dirty page-cache pages: a writable populate write-faults the clean, write-protected pages
    const dirtyBefore = backing === 'file' ? pageFlagCount({ address: r.addr, length: r.length }, 'DIRTY') : null;
    // splits of the file's large folios (mTHP counters of that size, 6.11+)
    const splits = folios && folios[0] > 1 ? mthpSplitCounters(folios[0] * PAGE) : null;
    const sp0 = splits?.();
    const v0 = vmstat(counters);
    native.madvise(r.addr, r.length, c.MADV_PAGEOUT);
    const v1 = vmstat(counters);
    const split = sp0 && splits ? delta(sp0, splits()) : null;
    const afterPageout = state();
    const pageoutRecords = ev();
    const snapPageout = buf.snapshot().map(brief);
    const s0 = buf.stats();
    const device = await attempt(async () => same(await buf.read(0, r.length)));
    const v2 = vmstat(counters);
    const afterDevice = state();
    const deviceRecords = ev();
    const s1 = buf.stats();
    const cpuSame = same(r.bytes);
    const afterCpu = state();
    const cpuRecords = ev();
    const snapEnd = buf.snapshot().map(brief);
    return {
      swaps, before, folios, dirtyBefore, split, afterPageout, pageout: delta(v0, v1), pageoutRecords, snapPageout,
      device, deviceVmstat: delta(v1, v2), afterDevice, deviceRecords,
      devicePopulates: s1.populates - s0.populates, cpuSame, afterCpu, cpuRecords, snapEnd,
    };
  } finally {
    release();
  }
}

/** mke2fs on a block device and mount it as ext2 (the ext4 driver): a disk file system with writeback. */
export async function mountDiskFs(blockdev: string, dir: string): Promise<string> {
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir);
  if (!mounted) {
    execFileSync('mke2fs', ['-q', blockdev], { stdio: 'pipe' });
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('/bin/mount', ['-t', 'ext2', blockdev, dir], { stdio: 'pipe' });
  }
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir)!.split(' ')[2];
}

/**
 * Writeback of a MAP_SHARED file on a disk file system, mirrored in `mode`.
 * The file holds 0x11 on disk; the CPU writes 0x22 over its 4 pages (each
 * first write goes through ->page_mkwrite), then the object is created
 * (gup-longterm: refused on 6.5+ kernels, writable_file_mapping_allowed).
 * fsync writes the pages back, cleaning them (page_mkclean: the records).
 * The device then writes 0x44 into page 1 and fsync runs again: what the
 * disk holds (an O_DIRECT read of the file, past the page cache) shows
 * whether the device's write was known to the file system. Closing the
 * object (GUP: unpin with dirty) and a last fsync show what reaches the disk
 * in the end.
 */
export async function diskFileWriteback(mode: MirrorMode, dir: string) {
  const c = native.mmConstants;
  const file = `${dir}/wb-${mode}`;
  const len = 4 * PAGE;
  fs.writeFileSync(file, Buffer.alloc(len, 0x11));
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  using dev = MockDrm.open();
  const direct = mapAnon(len);
  const onDisk = () => {
    const dfd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    try {
      direct.bytes.fill(0);
      native.preadInto(dfd, direct.addr, len, 0);
      return [0, 1, 2, 3].map((p) => direct.bytes[p * PAGE]);
    } finally {
      fs.closeSync(dfd);
    }
  };
  const cached = () => {
    const b = Buffer.alloc(len);
    fs.readSync(fd, b, 0, len, 0);
    return [0, 1, 2, 3].map((p) => b[p * PAGE]);
  };
  const m = Mapping.file(file, len, { shared: true });
  const ev = () => rows(dev.drainInvalidations().records, m.address);
  // (an O_DIRECT read writes dirty page-cache pages of its range back first,
  // so the disk is read only where the writeback it causes is part of the step)
  const out: Record<string, unknown> = { diskInitial: onDisk() };
  try {
    m.view.fill(0x22);
    const reg = await attempt(() => dev.userptr({ address: m.address, length: len }, { mode, populate: true }));
    out.registration = reg.ok ? { ok: true } : reg;
    if (!reg.ok) return out;
    const buf = reg.value;
    out.folios = folioPages({ address: m.address, length: len });
    dev.drainInvalidations();
    fs.fsyncSync(fd);
    out.fsyncRecords = ev();
    out.diskAfterFsync = onDisk();
    out.snapAfterFsync = buf.snapshot().map(brief);
    out.deviceWrite = await attempt(async () => {
      await buf.write(PAGE, new Uint8Array(PAGE).fill(0x44));
      return true;
    });
    out.writeRecords = ev();
    fs.fsyncSync(fd);
    out.secondFsyncRecords = ev();
    out.diskAfterDeviceWrite = onDisk();
    out.pageCacheAfterDeviceWrite = cached();
    out.cpuAfterDeviceWrite = [0, 1, 2, 3].map((p) => m.view[p * PAGE]);
    out.stats = buf.stats();
    buf.close();
    fs.fsyncSync(fd);
    out.diskAfterClose = onDisk();
  } finally {
    m.unmap();
    unmapAll(direct);
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return out;
}
