// mirrordrm scenarios in the guest: what one device mirror of a buffer sees
// when the process changes its memory (munmap, mprotect, MADV_*, mremap,
// soft-dirty, THP splits, KSM, a second device), and the argument checks.
// JavaScript runs about 300x slower in the TCG guest, so each function does a
// whole scenario in a few calls and returns plain data (bytes, records,
// stats) for the host to assert on.
import fs from 'node:fs';
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { InvalidationTracker } from '../../mirror/tracker.js';
import { MIRRORDRM, MODE_FLAGS } from '../../mirror/uapi.js';
import { MIRROR_MODES } from '../../mirror/types.js';
import { PAGE, mapAnon, unmapAll, attempt, rel, pattern, mapBacking, brief, onOneCpu, type Backing } from '../common.js';
import type { InvalidationRecord, MirrorMode, MirrorPageState } from '../../mirror/types.js';

/** What `mirrorlab probe` finds under /dev/dri (DRM_IOCTL_VERSION on each node). */
export async function drmDevices() {
  const { probeDrm } = await import('../../probe/probe.js');
  return probeDrm();
}

/** Registers 8 pages, reads them through the device, writes 2 bytes across a page boundary. */
export async function readWrite(mode: MirrorMode) {
  using dev = MockDrm.open();
  const r = mapAnon(8 * PAGE);
  try {
    for (let i = 0; i < r.length; i++) r.bytes[i] = pattern(i);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode });
    const got = await buf.read(PAGE + 100, 3 * PAGE);
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== pattern(PAGE + 100 + i)) mismatches++;
    await buf.write(5 * PAGE - 1, new Uint8Array([0xa5, 0xa5]));
    const cpu = [r.bytes[5 * PAGE - 1], r.bytes[5 * PAGE], r.bytes[5 * PAGE + 1]];
    return { mismatches, length: got.length, cpu, expectNext: pattern(5 * PAGE + 1), stats: buf.stats() };
  } finally {
    unmapAll(r);
  }
}

/** munmap of page 1 of 4: the records, then what the device reads there. */
export async function munmapPartial(mode: MirrorMode) {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(1);
  const buf = await dev.userptr({ address: r.addr, length: r.length }, { mode });
  dev.drainInvalidations();
  native.munmap(r.addr + BigInt(PAGE), PAGE);
  const records = rel(dev.drainInvalidations().records, r.addr);
  const after = await attempt(async () => Array.from(await buf.read(PAGE, 1)));
  const snap = buf.snapshot(0, 4).map(brief);
  const stats = buf.stats();
  buf.close();
  native.releaseView(r.view.buffer, r.view.record);
  native.munmap(r.addr, r.length);
  return { handle: buf.handle, records, after, snap, stats };
}

/** mprotect(PROT_READ) after the device populated; with or without read-only downgrade. */
export async function mprotectReadOnly(mode: MirrorMode, downgrade: boolean) {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(2);
  try {
    dev.setBehaviour({ readOnlyDowngrade: downgrade });
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode });
    await buf.read(0, 4 * PAGE);
    dev.drainInvalidations();
    native.mprotect(r.addr, r.length, native.mmConstants.PROT_READ);
    const records = rel(dev.drainInvalidations().records, r.addr);
    const after = await attempt(async () => Array.from(await buf.read(0, 1)));
    return { handle: buf.handle, records, after, snap: buf.snapshot().map(brief) };
  } finally {
    unmapAll(r);
  }
}

/** "The pin from GUP is misleading": MADV_DONTNEED, then the CPU writes new bytes. */
export async function misleadingPin(mode: MirrorMode, repin = false) {
  using dev = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  r.bytes.fill(0x11);
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, repin });
    dev.drainInvalidations();
    native.madvise(r.addr, r.length, native.mmConstants.MADV_DONTNEED);
    r.bytes[0] = 0x22;
    const records = rel(dev.drainInvalidations().records, r.addr);
    const device = (await buf.read(0, 1))[0];
    return { handle: buf.handle, records, device, cpu: r.bytes[0], snap: buf.snapshot(0, 1).map(brief), stats: buf.stats() };
  } finally {
    unmapAll(r);
  }
}

/** THP: a 2 MiB-aligned MADV_HUGEPAGE region, then a partial mprotect splits the PMD. */
export async function thpOrder(mode: MirrorMode) {
  using dev = MockDrm.open();
  const HUGE = 2 * 1024 * 1024;
  const big = mapAnon(2 * HUGE);
  const c = native.mmConstants;
  // aligned 2 MiB window inside the mapping
  const start = (big.addr + BigInt(HUGE - 1)) & ~BigInt(HUGE - 1);
  const off = Number(start - big.addr);
  try {
    native.madvise(start, HUGE, c.MADV_HUGEPAGE);
    big.bytes.fill(7, off, off + HUGE);
    using buf = await dev.userptr({ address: start, length: HUGE }, { mode, populate: true });
    const before = buf.snapshot(0, 512);
    dev.drainInvalidations();
    native.mprotect(start + BigInt(PAGE), PAGE, c.PROT_READ);
    const records = rel(dev.drainInvalidations().records, start);
    const after = buf.snapshot(0, 512);
    const orders = (s: MirrorPageState[]) => Array.from(new Set(s.map((p) => p.cpu.order)));
    const device = await attempt(async () => (await buf.read(HUGE - 1, 1))[0]);
    return { handle: buf.handle, ordersBefore: orders(before), ordersAfter: orders(after), records, device, validBefore: before.filter((p) => p.device.valid).length };
  } finally {
    unmapAll(big);
  }
}

/** Argument errors: each case's errno name, from the kernel (raw flags) or the TS facade. */
export async function badArguments() {
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const r = mapAnon(4 * PAGE);
  const fd = dev.fd;
  const out: Record<string, string> = {};
  const kernel = async (name: string, fn: () => unknown) => {
    const o = await attempt(fn);
    out[name] = o.ok ? 'ok' : o.code;
  };
  try {
    const { MODE_GUP: GUP, MODE_HMM: HMM } = MIRRORDRM;
    const READ = MIRRORDRM.ACCESS_READ;
    await kernel('size 0', () => md.userptr(fd, r.addr, 0, HMM));
    await kernel('unaligned address', () => md.userptr(fd, r.addr + 1n, PAGE, HMM));
    await kernel('unaligned size', () => md.userptr(fd, r.addr, PAGE + 1, HMM));
    await kernel('mode 0', () => md.userptr(fd, r.addr, PAGE, 0));
    await kernel('mode 6', () => md.userptr(fd, r.addr, PAGE, MIRRORDRM.MODE_SVM + 1)); // 5 is SVM
    await kernel('unknown flag', () => md.userptr(fd, r.addr, PAGE, HMM + 0x8000_0000)); // a bit the uapi does not define;
    await kernel('hmm + repin', () => md.userptr(fd, r.addr, PAGE, HMM | MIRRORDRM.GUP_REPIN));
    await kernel('wraps', () => md.userptr(fd, 0xffff_ffff_ffff_f000n, 2 * PAGE, GUP));
    await kernel('kernel half', () => md.userptr(fd, 1n << 47n, PAGE, GUP));
    await kernel('8 GiB', () => md.userptr(fd, r.addr, 2 * MIRRORDRM.MAX_SIZE, GUP));
    native.munmap(r.addr + BigInt(PAGE), PAGE);
    await kernel('hole, hmm', () => md.userptr(fd, r.addr, 4 * PAGE, HMM));
    await kernel('hole, gup', () => md.userptr(fd, r.addr, 4 * PAGE, GUP));
    await kernel('bad handle', () => md.access(fd, 9999, 0, READ, new Uint8Array(1)));
    const h = md.userptr(fd, r.addr, PAGE, HMM);
    await kernel('past the end', () => md.access(fd, h, PAGE - 1, READ, new Uint8Array(2)));
    await kernel('read|write', () => md.access(fd, h, 0, READ | MIRRORDRM.ACCESS_WRITE, new Uint8Array(1)));
    await kernel('bad user pointer', () => md.accessAddr(fd, h, 0, 1, 8n, READ));
    await kernel('snapshot past end', () => md.snapshot(fd, h, 0, 2));
    await kernel('fence wait > 1 s', () => md.setBehaviour(fd, 0, 0, MIRRORDRM.FENCE_WAIT_MAX_NS + 1));
    await kernel('unknown behaviour', () => md.setBehaviour(fd, 0, MIRRORDRM.BEHAVIOUR_RO_DOWNGRADE << 1, 0));
    await kernel('populate delay > 1 s', () => md.setBehaviour(fd, 0, 0, 0, MIRRORDRM.POPULATE_DELAY_MAX_NS + 1));
    md.gemClose(fd, h);
    await kernel('closed handle', () => md.access(fd, h, 0, READ, new Uint8Array(1)));
    // [vvar] is mapped VM_IO | VM_PFNMAP on x86: refused in every mode
    const vvar = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[vvar]'));
    if (vvar) {
      const start = BigInt('0x' + vvar.split('-')[0]);
      const modes: [string, number][] = [...MIRROR_MODES.map((m): [string, number] => [m, MODE_FLAGS[m] | (m === 'hmm' ? MIRRORDRM.POPULATE : 0)]), ['hmm lazy', HMM]];
      for (const [name, mode] of modes)
        await kernel(`vvar (VM_IO|VM_PFNMAP), ${name}`, () => md.userptr(fd, start, PAGE, mode | MIRRORDRM.READ_ONLY));
    }
    // the facade refuses before any ioctl
    const facade = async (name: string, fn: () => unknown) => {
      const o = await attempt(fn);
      out['ts: ' + name] = o.ok ? 'ok' : o.code;
    };
    await facade('unaligned', () => dev.userptrSync({ address: r.addr + 8n, length: PAGE }, { mode: 'hmm' }));
    await facade('bad mode', () => dev.userptrSync({ address: r.addr, length: PAGE }, { mode: 'pin' as MirrorMode }));
    await facade('too long', () => dev.userptrSync({ address: r.addr, length: 2 ** 33 }, { mode: 'gup' }));
    return out;
  } finally {
    native.releaseView(r.view.buffer, r.view.record);
    native.munmap(r.addr, r.length);
  }
}

/**
 * The misleading pin per backing: MADV_DONTNEED over the whole buffer, then
 * the CPU writes. Private memory gets a new page (a pin keeps the old one);
 * a shared mapping faults the same page-cache page back in.
 */
export async function misleadingPinBacking(backing: Backing, mode: MirrorMode) {
  using dev = MockDrm.open();
  const len = backing === 'anon' || backing === 'shmem' ? 4 * PAGE : backing === 'hugetlb-1G' ? 1 << 30 : 2 * 1024 * 1024;
  const m = mapBacking(backing, len);
  try {
    m.view.fill(0x11);
    using buf = await dev.userptr({ address: m.address, length: m.length }, { mode, populate: true });
    const before = buf.snapshot(0, 1)[0];
    dev.drainInvalidations();
    native.madvise(m.address, m.length, native.mmConstants.MADV_DONTNEED);
    m.view[0] = 0x22;
    const records = rel(dev.drainInvalidations().records, m.address);
    const device = (await buf.read(0, 1))[0];
    return { handle: buf.handle, orderBefore: before.cpu.order, devBefore: brief(before), records, device, cpu: m.view[0], after: brief(buf.snapshot(0, 1)[0]), stats: buf.stats() };
  } finally {
    m.unmap();
  }
}

/** mprotect(PROT_NONE) with read-only downgrade on: the downgrade must not keep read access. */
export async function mprotectNone(mode: MirrorMode) {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(6);
  try {
    dev.setBehaviour({ readOnlyDowngrade: true });
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
    dev.drainInvalidations();
    native.mprotect(r.addr, r.length, native.mmConstants.PROT_NONE);
    const records = rel(dev.drainInvalidations().records, r.addr);
    const after = await attempt(async () => Array.from(await buf.read(0, 1)));
    native.mprotect(r.addr, r.length, native.mmConstants.PROT_READ | native.mmConstants.PROT_WRITE);
    return { handle: buf.handle, records, after };
  } finally {
    unmapAll(r);
  }
}

/** clear_refs 4 (soft-dirty reset) write-protects every PTE of the process: SOFT_DIRTY over [0, ULONG_MAX). */
export async function softDirty(mode: MirrorMode, downgrade: boolean) {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(8);
  try {
    dev.setBehaviour({ readOnlyDowngrade: downgrade });
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
    dev.drainInvalidations();
    fs.writeFileSync('/proc/self/clear_refs', '4');
    const records = rel(dev.drainInvalidations().records, r.addr).filter((x) => x.handle === buf.handle);
    const snap = buf.snapshot(0, 1).map(brief);
    r.bytes[0] = 9; // the CPU write faults (soft-dirty), invalidating again
    const more = rel(dev.drainInvalidations().records, r.addr).filter((x) => x.handle === buf.handle);
    const device = (await buf.read(0, 1))[0];
    return { handle: buf.handle, records, snap, more, device };
  } finally {
    unmapAll(r);
  }
}

/** The byte the CPU reads at addr, or null when no VMA maps it (/proc/self/maps), so reading it would fault. */
function cpuByteAt(addr: bigint): number | null {
  const mapped = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').some((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
    return m !== null && BigInt('0x' + m[1]) <= addr && addr < BigInt('0x' + m[2]);
  });
  if (!mapped) return null;
  const v = native.newView(addr, 1, false);
  try {
    return new Uint8Array(v.buffer)[0];
  } finally {
    native.releaseView(v.buffer, v.record);
  }
}

/** mremap: move, shrink, and move with MREMAP_DONTUNMAP. */
export async function mremapCases(mode: MirrorMode) {
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const out: Record<string, unknown> = {};
  for (const kind of ['move', 'shrink', 'dontunmap'] as const) {
    const r = mapAnon(4 * PAGE);
    r.bytes.fill(0x40);
    const buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
    dev.drainInvalidations();
    native.releaseView(r.view.buffer, r.view.record);
    let moved = 0n;
    let movedLen = 0;
    if (kind === 'shrink') {
      native.mremap(r.addr, r.length, 2 * PAGE, 0, 0n);
    } else {
      moved = native.mremap(r.addr, r.length, r.length, c.MREMAP_MAYMOVE | c.MREMAP_FIXED | (kind === 'dontunmap' ? c.MREMAP_DONTUNMAP : 0),
        // a fixed destination far enough away: reserve it first
        (() => { const d: bigint = native.mmap(0n, r.length, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0); return d; })());
      movedLen = r.length;
    }
    const records = rel(dev.drainInvalidations().records, r.addr).filter((x) => x.handle === buf.handle);
    const after = await attempt(async () => Array.from(await buf.read(0, 1)));
    const tail = await attempt(async () => Array.from(await buf.read(3 * PAGE, 1)));
    // What the CPU reads at the object's pages 0 and 3 now (null: not mapped there), after the device reads
    const cpu = { after: cpuByteAt(r.addr), tail: cpuByteAt(r.addr + BigInt(3 * PAGE)) };
    out[kind] = { records, after, tail, cpu };
    buf.close();
    native.munmap(r.addr, r.length);
    if (movedLen) native.munmap(moved, movedLen);
  }
  return out;
}

/** madvise FREE, COLD and PAGEOUT on populated anonymous memory: events, then what the device reads. */
export async function madviseCases(mode: MirrorMode) {
  // COLD and PAGEOUT skip folios still in another CPU's LRU-add batch (see onOneCpu)
  using oneCpu = onOneCpu();
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const swap = fs.readFileSync('/proc/swaps', 'utf8').trim().split('\n').length - 1;
  const out: Record<string, unknown> = { swapDevices: swap };
  for (const [name, advice] of [['FREE', c.MADV_FREE], ['COLD', c.MADV_COLD], ['PAGEOUT', c.MADV_PAGEOUT]] as [string, number][]) {
    const r = mapAnon(4 * PAGE);
    r.bytes.fill(0x50);
    try {
      using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
      dev.drainInvalidations();
      native.madvise(r.addr, r.length, advice);
      const records = rel(dev.drainInvalidations().records, r.addr);
      const device = await attempt(async () => Array.from(await buf.read(0, 1)));
      out[name] = { records, device, cpu: r.bytes[0], snap: buf.snapshot(0, 1).map(brief)[0] };
    } finally {
      unmapAll(r);
    }
  }
  return out;
}

/**
 * The async iterator waits in poll() off the JavaScript thread while a timer
 * on that thread unmaps a page; then the tracker asserts on a second unmap.
 */
export async function iterateAndTrack() {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(1);
  using buf = dev.userptrSync({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
  dev.drainInvalidations();
  const ac = new AbortController();
  const it = dev.invalidations({ signal: ac.signal });
  setTimeout(() => native.munmap(r.addr + BigInt(PAGE), PAGE), 200);
  const t0 = Date.now();
  const first = await it.next();
  const waitedMs = Date.now() - t0;
  ac.abort();
  await it.return?.(undefined);
  const tracker = new InvalidationTracker(dev, r.addr);
  native.munmap(r.addr + BigInt(3 * PAGE), PAGE);
  const rec = tracker.expectOne({ event: 'UNMAP', start: r.addr + BigInt(3 * PAGE), end: r.addr + BigInt(4 * PAGE), blockable: true, handle: buf.handle });
  tracker.expectNothingElse(buf.handle, [{ event: 'UNMAP' }]);
  let failure = '';
  try {
    tracker.expectNone(buf.handle);
  } catch (e) {
    failure = (e as Error).message;
  }
  buf.close();
  native.releaseView(r.view.buffer, r.view.record);
  native.munmap(r.addr, r.length);
  const f = first.value as InvalidationRecord;
  return { waitedMs, first: { event: f.event, relStart: Number(f.start - r.addr), relEnd: Number(f.end - r.addr) }, trackedSeq: rec.seq, failure };
}

/**
 * KSM: 8 identical pages marked MADV_MERGEABLE, ksmd run until it merges (or
 * the time runs out). Pinned pages are not merged (their refcount does not
 * match their mapcount); HMM objects see the merge as invalidations.
 */
export async function ksmMerge(mode: MirrorMode, readOnly: boolean, timeoutMs: number) {
  const ksm = '/sys/kernel/mm/ksm';
  if (!fs.existsSync(`${ksm}/run`)) return { available: false };
  using dev = MockDrm.open();
  const n = 8;
  const r = mapAnon(n * PAGE);
  r.bytes.fill(0x77);
  const set = (k: string, v: string) => fs.writeFileSync(`${ksm}/${k}`, v);
  const get = (k: string) => Number(fs.readFileSync(`${ksm}/${k}`, 'utf8').trim());
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, readOnly, populate: true });
    dev.drainInvalidations();
    const sharingBefore = get('pages_sharing');
    native.madvise(r.addr, r.length, native.mmConstants.MADV_MERGEABLE);
    set('sleep_millisecs', '10');
    set('pages_to_scan', '1000');
    set('run', '1');
    const t0 = Date.now();
    const fullScans0 = get('full_scans');
    // two full scans: the first finds candidates, the second merges
    while (Date.now() - t0 < timeoutMs && get('full_scans') < fullScans0 + 3) await new Promise((res) => setTimeout(res, 100));
    set('run', '0');
    const records = rel(dev.drainInvalidations().records, r.addr);
    const snap = buf.snapshot();
    const cpuPfns = new Set(snap.map((p) => p.cpu.pfn.toString(16)));
    const device = await attempt(async () => Array.from(await buf.read(0, 1)));
    const after = buf.snapshot();
    return {
      available: true,
      waitedMs: Date.now() - t0,
      sharingDelta: get('pages_sharing') - sharingBefore,
      distinctCpuPfns: cpuPfns.size,
      distinctCpuPfnsAfterAccess: new Set(after.map((p) => p.cpu.pfn.toString(16))).size,
      events: records.map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped]),
      device,
    };
  } finally {
    try {
      set('run', '2'); // unmerge everything
      set('run', '0');
    } catch {
      /* ksm busy */
    }
    unmapAll(r);
  }
}

/** Two open files (two "devices") mirror one buffer, one by GUP and one by HMM. */
export async function twoDevices() {
  using a = MockDrm.open();
  using b = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  r.bytes.fill(9);
  try {
    using ga = await a.userptr({ address: r.addr, length: r.length }, { mode: 'gup' });
    using hb = await b.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    a.drainInvalidations();
    b.drainInvalidations();
    native.madvise(r.addr, PAGE, native.mmConstants.MADV_DONTNEED);
    r.bytes[0] = 10;
    const ra = rel(a.drainInvalidations().records, r.addr);
    const rb = rel(b.drainInvalidations().records, r.addr);
    return {
      handles: [ga.handle, hb.handle],
      recordsA: ra.map((x) => [x.event, x.relStart, x.relEnd, x.handle, x.keptStale, x.pagesDropped]),
      recordsB: rb.map((x) => [x.event, x.relStart, x.relEnd, x.handle, x.keptStale, x.pagesDropped]),
      readA: (await ga.read(0, 1))[0],
      readB: (await hb.read(0, 1))[0],
      statsA: a.stats().objects,
      statsB: b.stats().objects,
    };
  } finally {
    unmapAll(r);
  }
}
