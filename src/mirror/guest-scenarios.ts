// Guest-side scenario steps for the mirrordrm suite, called from the host with
// vm.call('mirror/guest-scenarios.js', name, ...args). JavaScript runs about
// 300x slower in the TCG guest, so each function does a whole scenario in a
// few calls and returns plain data (bytes, records, stats) for the host to
// assert on.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { native } from '../addon.js';
import type { NativeView } from '../native.js';
import { MockDrm } from './mockdrm.js';
import { Userfaultfd } from '../userfaultfd/index.js';
import { Mapping } from '../memory/index.js';
import { InvalidationTracker } from './tracker.js';
import type { InvalidationRecord, MirrorMode, MirrorPageState } from './types.js';

const PAGE = 4096;

interface Region {
  addr: bigint;
  length: number;
  bytes: Uint8Array;
  view: NativeView;
}

function mapAnon(length: number, extraFlags = 0): Region {
  const c = native.mmConstants;
  const addr: bigint = native.mmap(0n, length, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | extraFlags, -1, 0);
  const view = native.newView(addr, length, false);
  return { addr, length, bytes: new Uint8Array(view.buffer), view };
}

function unmapAll(r: Region): void {
  native.releaseView(r.view.buffer, r.view.record);
  native.munmap(r.addr, r.length);
}

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string; errno: number };

async function attempt<T>(fn: () => Promise<T> | T): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const err = e as { code?: string; errno?: number };
    return { ok: false, code: String(err.code), errno: Number(err.errno) };
  }
}

/** Records with addresses relative to the region, for readable assertions. */
function rel(records: InvalidationRecord[], base: bigint) {
  return records.map((r) => ({ ...r, relStart: Number(r.start - base), relEnd: r.end === 0xffff_ffff_ffff_ffffn ? -1 : Number(r.end - base) }));
}

function pattern(i: number): number {
  return (i * 7 + 3) & 0xff;
}

/** What `mirrorlab probe` finds under /dev/dri (DRM_IOCTL_VERSION on each node). */
export async function drmDevices() {
  const { probeDrm } = await import('../probe/probe.js');
  return probeDrm();
}

export async function kernelRelease(): Promise<string> {
  return fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
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
    const HMM = 4;
    await kernel('size 0', () => md.userptr(fd, r.addr, 0, HMM));
    await kernel('unaligned address', () => md.userptr(fd, r.addr + 1n, PAGE, HMM));
    await kernel('unaligned size', () => md.userptr(fd, r.addr, PAGE + 1, HMM));
    await kernel('mode 0', () => md.userptr(fd, r.addr, PAGE, 0));
    await kernel('mode 5', () => md.userptr(fd, r.addr, PAGE, 5));
    await kernel('unknown flag', () => md.userptr(fd, r.addr, PAGE, HMM + 0x8000_0000));
    await kernel('hmm + repin', () => md.userptr(fd, r.addr, PAGE, HMM | 0x40));
    await kernel('wraps', () => md.userptr(fd, 0xffff_ffff_ffff_f000n, 2 * PAGE, 1));
    await kernel('kernel half', () => md.userptr(fd, 1n << 47n, PAGE, 1));
    await kernel('8 GiB', () => md.userptr(fd, r.addr, 2 ** 33, 1));
    native.munmap(r.addr + BigInt(PAGE), PAGE);
    await kernel('hole, hmm', () => md.userptr(fd, r.addr, 4 * PAGE, HMM));
    await kernel('hole, gup', () => md.userptr(fd, r.addr, 4 * PAGE, 1));
    await kernel('bad handle', () => md.access(fd, 9999, 0, 1, new Uint8Array(1)));
    const h = md.userptr(fd, r.addr, PAGE, HMM);
    await kernel('past the end', () => md.access(fd, h, PAGE - 1, 1, new Uint8Array(2)));
    await kernel('read|write', () => md.access(fd, h, 0, 3, new Uint8Array(1)));
    await kernel('bad user pointer', () => md.accessAddr(fd, h, 0, 1, 8n, 1));
    await kernel('snapshot past end', () => md.snapshot(fd, h, 0, 2));
    await kernel('fence wait > 1 s', () => md.setBehaviour(fd, 0, 0, 1_000_000_001));
    await kernel('unknown behaviour', () => md.setBehaviour(fd, 0, 2, 0));
    await kernel('populate delay > 1 s', () => md.setBehaviour(fd, 0, 0, 0, 1_000_000_001));
    md.gemClose(fd, h);
    await kernel('closed handle', () => md.access(fd, h, 0, 1, new Uint8Array(1)));
    // [vvar] is mapped VM_IO | VM_PFNMAP on x86: refused in every mode
    const vvar = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith('[vvar]'));
    if (vvar) {
      const start = BigInt('0x' + vvar.split('-')[0]);
      for (const [name, mode] of [['gup', 1], ['gup-longterm', 2], ['gup-get', 3], ['hmm', 4 | 0x20], ['hmm lazy', 4]] as [string, number][])
        await kernel(`vvar (VM_IO|VM_PFNMAP), ${name}`, () => md.userptr(fd, start, PAGE, mode | 0x10));
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
 * userfaultfd MISSING range: GUP-mode registration faults the pages in and
 * blocks in the kernel until this script resolves each held fault (the
 * registration runs on the thread pool, so JavaScript is free to answer);
 * HMM-mode device access cannot wait on a userfault (hmm_range_fault faults
 * without FAULT_FLAG_ALLOW_RETRY) and fails with EFAULT.
 */
export async function userfaultfdMissing(mode: MirrorMode) {
  using dev = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  // GUP's faults are not user-mode faults: they are only delivered without UFFD_USER_MODE_ONLY
  const uffd = Userfaultfd.open({ userModeOnly: false });
  try {
    uffd.register({ address: r.addr, length: r.length }, 'missing');
    if (mode === 'hmm') {
      using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode });
      const access = await attempt(async () => Array.from(await buf.read(0, 1)));
      const fault = await attempt(() => uffd.nextEvent('pagefault', { timeoutMs: 500 }).then((f) => Number(f.address - r.addr)));
      return { access, fault, stats: buf.stats() };
    }
    let settled = false;
    const pending = dev.userptr({ address: r.addr, length: r.length }, { mode }).finally(() => (settled = true));
    pending.catch(() => undefined);
    const faults: { offset: number; write: boolean; heldWhileWaiting: boolean }[] = [];
    // registration may also fail without ever delivering a fault (6.1's FOLL_LONGTERM)
    const failed = pending.then(
      () => null,
      (e: { code?: string; errno?: number }) => ({ ok: false as const, code: String(e.code), errno: Number(e.errno) }),
    );
    for (let i = 0; i < 2; i++) {
      const first = await Promise.race([uffd.nextEvent('pagefault', { timeoutMs: 20_000 }), failed]);
      if (first === null) break;
      if (!('address' in first)) return { faults, registration: first };
      const f = first;
      await new Promise((res) => setTimeout(res, 50));
      faults.push({ offset: Number(f.address - r.addr), write: f.flags.write, heldWhileWaiting: !settled });
      f.copy(new Uint8Array(PAGE).fill(0x5a + i));
    }
    using buf = await pending;
    const device = Array.from(await buf.read(PAGE - 1, 2));
    return { faults, registration: { ok: true as const }, device, stats: buf.stats() };
  } finally {
    uffd.close();
    unmapAll(r);
  }
}

export type Backing = 'anon' | 'thp' | 'shmem' | 'hugetlb-2M' | 'hugetlb-1G';

function mapBacking(b: Backing, length: number): Mapping {
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
    out[kind] = { records, after, tail };
    buf.close();
    native.munmap(r.addr, r.length);
    if (movedLen) native.munmap(moved, movedLen);
  }
  return out;
}

/** madvise FREE, COLD and PAGEOUT on populated anonymous memory: events, then what the device reads. */
export async function madviseCases(mode: MirrorMode) {
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

/** Sets kernel.numa_balancing (returns the previous value, or null where the kernel has none). */
export async function setNumaBalancing(value: number): Promise<number | null> {
  const f = '/proc/sys/kernel/numa_balancing';
  if (!fs.existsSync(f)) return null;
  const prev = Number(fs.readFileSync(f, 'utf8').trim());
  fs.writeFileSync(f, String(value));
  return prev;
}

/**
 * Automatic NUMA balancing makes the task's own PTEs PROT_NONE (NUMA hinting
 * faults) in the background: a device mirror sees PROTECTION_VMA events no
 * syscall of the program asked for. Waits for the first one on the buffer.
 */
export async function numaHinting(mode: MirrorMode, timeoutMs: number) {
  using dev = MockDrm.open();
  const len = 256 * PAGE;
  const r = mapAnon(len);
  r.bytes.fill(0x61);
  const prev = await setNumaBalancing(1);
  try {
    using buf = await dev.userptr({ address: r.addr, length: len }, { mode, populate: true });
    dev.drainInvalidations();
    const t0 = Date.now();
    let records: ReturnType<typeof rel> = [];
    let sum = 0;
    while (Date.now() - t0 < timeoutMs) {
      // stay on the CPU: task_numa_work scans by the task's runtime
      const spin = Date.now();
      while (Date.now() - spin < 200) for (let i = 0; i < len; i += PAGE) sum += r.bytes[i];
      await new Promise((res) => setImmediate(res));
      records = rel(dev.drainInvalidations().records, r.addr);
      if (records.length) break;
    }
    const device = await attempt(async () => Array.from(await buf.read(0, 1)));
    return { pid: process.pid, waitedMs: Date.now() - t0, records, device, sum };
  } finally {
    await setNumaBalancing(prev ?? 0);
    unmapAll(r);
  }
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

/** Writes a file in the guest (used to install the C selftest binary). */
export async function installFile(path: string, bytes: Uint8Array, mode = 0o755): Promise<number> {
  fs.writeFileSync(path, bytes, { mode });
  return bytes.byteLength;
}

function brief(p: MirrorPageState) {
  return {
    i: p.index,
    dev: (p.device.valid ? 'V' : '-') + (p.device.write ? 'W' : '-') + (p.device.stale ? 'S' : '-') + (p.device.zero ? 'Z' : '-') + (p.device.sameAsCpu ? '=' : ''),
    cpu: p.cpu.error ? 'E' : (p.cpu.valid ? 'V' : '-') + (p.cpu.write ? 'W' : '-') + (p.cpu.zero ? 'Z' : '-') + (p.cpu.order ? `o${p.cpu.order}` : ''),
  };
}

// ------------------------------------------------- fork, exit, NUMA, files, races

/** One anonymous page with PROT_NONE guard pages around it: its own VMA, so per-VMA events are exact. */
function guardedPage(fill: number) {
  const c = native.mmConstants;
  const g = mapAnon(3 * PAGE);
  native.mprotect(g.addr, PAGE, c.PROT_NONE);
  native.mprotect(g.addr + BigInt(2 * PAGE), PAGE, c.PROT_NONE);
  g.bytes.fill(fill, PAGE, 2 * PAGE);
  return { region: g, addr: g.addr + BigInt(PAGE) };
}

/**
 * Fork and copy-on-write, every mode side by side (one object per mode, each on
 * its own one-page VMA): after fork the child writes 0x33 and the parent 0x32,
 * child first or parent first; then the device reads the parent's buffer.
 */
export async function forkCow(order: 'child-first' | 'parent-first') {
  const { forkChild } = await import('../memory/fork.js');
  using dev = MockDrm.open();
  const modes: MirrorMode[] = ['gup', 'gup-longterm', 'gup-get', 'hmm'];
  const pages = modes.map(() => guardedPage(0x31));
  try {
    const bufs = [];
    for (let i = 0; i < modes.length; i++) bufs.push(await dev.userptr({ address: pages[i].addr, length: PAGE }, { mode: modes[i], populate: true }));
    dev.drainInvalidations();
    const childOps = pages.flatMap((p) => [
      { op: 'write' as const, address: p.addr, length: PAGE, value: 0x33 },
      { op: 'read' as const, address: p.addr, length: 1 },
    ]);
    const parentWrites = () => pages.forEach((p) => (p.region.bytes[PAGE] = 0x32));
    let child;
    let first = 0; // index of the child's first op (after its wait)
    if (order === 'child-first') {
      child = await forkChild(childOps).done;
      parentWrites();
    } else {
      first = 1;
      const h = forkChild([{ op: 'wait' }, ...childOps]);
      await h.waiting();
      parentWrites();
      h.resume();
      child = await h.done;
    }
    const records = dev.drainInvalidations().records;
    const out = [];
    for (let i = 0; i < modes.length; i++) {
      const b = bufs[i];
      const mine = records.filter((x) => x.handle === b.handle).map((x) => [x.event, Number(x.start - pages[i].addr), Number(x.end - pages[i].addr), x.pagesDropped, x.keptStale]);
      const device = (await b.read(0, 1))[0];
      out.push({
        mode: modes[i],
        handle: b.handle,
        records: mine,
        device,
        cpu: pages[i].region.bytes[PAGE],
        child: child.results[first + 2 * i + 1]?.bytes?.[0] ?? null,
        snap: brief(b.snapshot(0, 1)[0]),
        pinned: b.stats().pagesPinned,
      });
      b.close();
    }
    return { childExit: child.exitCode, childSignal: child.signal, modes: out };
  } finally {
    for (const p of pages) unmapAll(p.region);
  }
}

/**
 * A forked child registers two objects (HMM populated, GUP) on the file it
 * shares with the parent, then exits with both alive: the records the exit
 * gives, then what the parent's device reads through them.
 */
export async function exitRelease() {
  const { runInChild } = await import('../memory/fork.js');
  const { decodeCounters } = await import('./decode.js');
  const md = native.mirrordrm;
  const K = native.mirrordrmConstants;
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(0x11);
  const arg = (flags: number) => {
    const a = new Uint8Array(24);
    const dv = new DataView(a.buffer);
    dv.setBigUint64(0, r.addr, true);
    dv.setBigUint64(8, BigInt(r.length), true);
    dv.setUint32(16, flags, true);
    return a;
  };
  try {
    dev.drainInvalidations();
    const req = K.DRM_IOCTL_MIRRORDRM_USERPTR as number;
    const res = await runInChild([
      { op: 'write', address: r.addr, length: r.length, value: 0x5c }, // the child's own copy
      { op: 'ioctl', fd: dev.fd, request: req, data: arg(K.MIRRORDRM_USERPTR_MODE_HMM | K.MIRRORDRM_USERPTR_POPULATE) },
      { op: 'ioctl', fd: dev.fd, request: req, data: arg(K.MIRRORDRM_USERPTR_MODE_GUP) },
    ]);
    const handleOf = (i: number) => {
      const x = res.results[i];
      if (!x?.ok || !x.bytes) throw new Error(`child ioctl ${i} failed: ${x?.code}`);
      return new DataView(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength).getUint32(20, true);
    };
    const hmm = handleOf(1);
    const gup = handleOf(2);
    const all = dev.drainInvalidations();
    const records = all.records.map((x) => ({ handle: x.handle, event: x.event, start: x.start, end: x.end, blockable: x.blockable, pid: x.pid, pagesDropped: x.pagesDropped }));
    const read = async (h: number) => attempt(() => {
      const b = new Uint8Array(2);
      md.access(dev.fd, h, PAGE - 1, 1, b);
      return Array.from(b);
    });
    const out = {
      childPid: res.pid,
      base: r.addr,
      childExit: res.exitCode,
      handles: { hmm, gup },
      records,
      lost: all.lost,
      parentCpu: r.bytes[0],
      device: { hmm: await read(hmm), gup: await read(gup) },
      stats: { hmm: decodeCounters(md.stats(dev.fd, hmm)), gup: decodeCounters(md.stats(dev.fd, gup)) },
      fileObjects: dev.stats().objects,
    };
    md.gemClose(dev.fd, hmm);
    md.gemClose(dev.fd, gup);
    return { ...out, fileObjectsAfterClose: dev.stats().objects };
  } finally {
    unmapAll(r);
  }
}

/**
 * Page migration between the guest's two NUMA nodes: move_pages to the other
 * node, then mbind(MPOL_BIND, MOVE | STRICT) back. Per page: what move_pages
 * said, where the page is after, the records, and the bytes the device reads.
 * On 'anon' the buffer is 8 pages of 4 KiB and every page is asked for; on
 * THP and 2 MiB hugetlb it is one 2 MiB folio and move_pages is given its
 * first address (the kernel moves the whole folio); on shmem it is 8 pages of
 * a shared memfd.
 */
export async function numaMigrate(mode: MirrorMode, backing: Backing = 'anon') {
  const { pageNodes, movePages, mbind } = await import('../memory/numa.js');
  const online = fs.existsSync('/sys/devices/system/node/online') ? fs.readFileSync('/sys/devices/system/node/online', 'utf8').trim() : '';
  if (online !== '0-1') return { available: false, reason: `NUMA nodes online: '${online || 'none (no CONFIG_NUMA?)'}', need 0-1` };
  using dev = MockDrm.open();
  const huge = backing === 'thp' || backing === 'hugetlb-2M';
  const length = huge ? 2 * 1024 * 1024 : 8 * PAGE;
  let addr: bigint;
  let bytes: Uint8Array;
  let release: () => void;
  if (backing === 'anon') {
    const r = mapAnon(length);
    [addr, bytes, release] = [r.addr, r.bytes, () => unmapAll(r)];
  } else {
    const m = mapBacking(backing, length);
    [addr, bytes, release] = [m.address, m.view, () => m.unmap()];
  }
  const n = length / PAGE;
  const expected = new Uint8Array(length);
  for (let p = 0; p < n; p++) expected.fill(0x41 + (p % 64), p * PAGE, (p + 1) * PAGE);
  bytes.set(expected);
  const pages = huge ? [addr] : Array.from({ length: n }, (_, p) => addr + BigInt(p * PAGE));
  const same = (a: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(expected.buffer)) === 0;
  const ev = (recs: ReturnType<typeof rel>) => recs.map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
  try {
    using buf = await dev.userptr({ address: addr, length }, { mode, populate: true });
    const orderBefore = buf.snapshot(0, 1)[0].cpu.order;
    const before = pageNodes(pages).status;
    const target = before.map((x) => (x === 0 ? 1 : 0));
    dev.drainInvalidations();
    const moved = await attempt(() => movePages(pages, target));
    const afterMove = pageNodes(pages).status;
    const moveRecords = ev(rel(dev.drainInvalidations().records, addr));
    const readMove = await attempt(async () => same(await buf.read(0, length)));
    const snapMove = buf.snapshot(0, Math.min(n, 8)).map(brief);
    const orderAfterMove = buf.snapshot(0, 1)[0].cpu.order;
    const mbindTo = afterMove[0] === 0 ? 1 : 0;
    const bound = await attempt(() => mbind({ address: addr, length }, 'bind', [mbindTo], { move: true, strict: true }));
    const afterMbind = pageNodes(pages).status;
    const mbindRecords = ev(rel(dev.drainInvalidations().records, addr));
    const readMbind = await attempt(async () => same(await buf.read(0, length)));
    const cpuSame = same(bytes);
    return { available: true, backing, before, target, moved, afterMove, moveRecords, readMove, snapMove, orderBefore, orderAfterMove, mbindTo, bound, afterMbind, mbindRecords, readMbind, cpuSame, stats: buf.stats() };
  } finally {
    release();
  }
}

/**
 * Fork + COW on THP, 2 MiB hugetlb and shmem (MAP_SHARED memfd): one object
 * per mode, each on its own mapping filled with 0x31; after fork the child
 * writes 0x33 to byte 0 and exits, then the parent writes 0x32 there (or the
 * parent writes first while the child waits).
 */
export async function forkCowBacking(backing: 'thp' | 'shmem' | 'hugetlb-2M', order: 'child-first' | 'parent-first' = 'child-first') {
  const { forkChild } = await import('../memory/fork.js');
  using dev = MockDrm.open();
  const modes: MirrorMode[] = ['gup', 'gup-longterm', 'gup-get', 'hmm'];
  const len = backing === 'shmem' ? 4 * PAGE : 2 * 1024 * 1024;
  const maps = modes.map(() => mapBacking(backing, len));
  try {
    const bufs = [];
    for (let i = 0; i < modes.length; i++) {
      maps[i].view.fill(0x31);
      bufs.push(await dev.userptr({ address: maps[i].address, length: len }, { mode: modes[i], populate: true }));
    }
    const orderBefore = bufs.map((b) => b.snapshot(0, 1)[0].cpu.order);
    dev.drainInvalidations();
    const ops = maps.flatMap((m) => [
      { op: 'write' as const, address: m.address, length: 1, value: 0x33 },
      { op: 'read' as const, address: m.address, length: 1 },
    ]);
    let childSaw: number[] = [];
    let child;
    let first = 0;
    if (order === 'child-first') {
      child = await forkChild(ops).done;
      childSaw = maps.map((m) => m.view[0]);
      for (const m of maps) m.view[0] = 0x32;
    } else {
      first = 1;
      const h = forkChild([{ op: 'wait' }, ...ops]);
      await h.waiting();
      for (const m of maps) m.view[0] = 0x32;
      h.resume();
      child = await h.done;
      childSaw = maps.map((m) => m.view[0]);
    }
    const records = dev.drainInvalidations().records;
    const out = [];
    for (let i = 0; i < modes.length; i++) {
      const b = bufs[i];
      out.push({
        mode: modes[i],
        records: records.filter((x) => x.handle === b.handle).map((x) => [x.event, Number(x.start - maps[i].address), Number(x.end - maps[i].address), x.pagesDropped]),
        device: (await b.read(0, 1))[0],
        cpu: maps[i].view[0],
        child: child.results[first + 2 * i + 1]?.bytes?.[0] ?? null,
        parentSawChildWrite: childSaw[i] === 0x33,
        orderBefore: orderBefore[i],
        orderAfter: b.snapshot(0, 1)[0].cpu.order,
        pinned: b.stats().pagesPinned,
      });
      b.close();
    }
    return { childExit: child.exitCode, childSignal: child.signal, modes: out };
  } finally {
    for (const m of maps) m.unmap();
  }
}

const RAMFS = '/mnt/mirrorlab-ramfs';

/** Mounts a ramfs (page-cache pages, not shmem) once; returns the file system type used. */
function ramfsDir(): string {
  if (!fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === RAMFS)) {
    fs.mkdirSync(RAMFS, { recursive: true });
    execFileSync('/bin/mount', ['-t', 'ramfs', 'ramfs', RAMFS]);
  }
  return RAMFS;
}

/**
 * File-backed memory (a regular file on ramfs, MAP_SHARED or MAP_PRIVATE):
 * munmap of page 1, mprotect(PROT_READ), and MADV_DONTNEED followed by a CPU
 * write (the misleading pin). Before registration the CPU wrote 0x33 into page
 * 1 (the page cache when shared, a private copy when private); the file holds 0x11.
 */
export async function fileBacked(mode: MirrorMode, shared: boolean) {
  const dir = ramfsDir();
  const file = `${dir}/buf-${mode}-${shared ? 's' : 'p'}`;
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const out: Record<string, unknown> = { fsType: fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir)?.split(' ')[2] };
  for (const kind of ['munmap', 'mprotect', 'dontneed'] as const) {
    fs.writeFileSync(file, Buffer.alloc(4 * PAGE, 0x11));
    const m = Mapping.file(file, 4 * PAGE, { shared });
    try {
      m.view.fill(0x33, PAGE, 2 * PAGE);
      const reg = await attempt(() => dev.userptr({ address: m.address, length: m.length }, { mode, populate: true }));
      if (!reg.ok) {
        out[kind] = { registration: reg };
        continue;
      }
      using buf = reg.value;
      const devBefore = brief(buf.snapshot(1, 1)[0]);
      dev.drainInvalidations();
      const res: Record<string, unknown> = { registration: { ok: true }, devBefore };
      if (kind === 'munmap') {
        native.munmap(m.address + BigInt(PAGE), PAGE);
      } else if (kind === 'mprotect') {
        native.mprotect(m.address, m.length, c.PROT_READ);
      } else {
        native.madvise(m.address, m.length, c.MADV_DONTNEED);
        res.cpuPage1 = m.view[PAGE]; // shared: the page cache (0x33); private: the file again (0x11)
        m.view[0] = 0x22;
      }
      res.records = rel(dev.drainInvalidations().records, m.address).map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
      res.page0 = await attempt(async () => (await buf.read(0, 1))[0]);
      res.page1 = await attempt(async () => (await buf.read(PAGE, 1))[0]);
      res.snap = buf.snapshot(0, 2).map(brief);
      res.fileBytes = Array.from(fs.readFileSync(file).subarray(0, 1)).concat(Array.from(fs.readFileSync(file).subarray(PAGE, PAGE + 1)));
      out[kind] = res;
    } finally {
      if (kind === 'mprotect') native.mprotect(m.address, m.length, c.PROT_READ | c.PROT_WRITE);
      m.unmap();
    }
  }
  fs.rmSync(file, { force: true });
  return out;
}

// ------------------------------------------------- reclaim with swap, disk files

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

/**
 * Reclaim with swap: 16 populated 4 KiB anonymous pages (one byte value per
 * page) mirrored in `mode`, then MADV_PAGEOUT with a swap device active. What
 * the kernel reclaimed (pagemap present/swapped, vmstat pswpout), the records
 * the object got, then re-access: the device reads first (HMM swaps the pages
 * in through hmm_range_fault), then the CPU.
 */
export async function reclaimSwap(mode: MirrorMode, backing: 'anon' | 'thp' | 'file' = 'anon', dir = '') {
  const { pageSummary } = await import('../pagestate/index.js');
  const c = native.mmConstants;
  const n = backing === 'thp' ? 512 : 16;
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
    // a shared file on the disk file system, written back (clean) before
    // the pageout: clean page-cache pages are dropped, not swapped
    fs.writeFileSync(file, Buffer.alloc(n * PAGE));
    const m = Mapping.file(file, n * PAGE, { shared: true });
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
  const ev = () => rel(dev.drainInvalidations().records, r.addr).map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
  const counters = ['pswpout', 'pswpin', 'pgsteal_direct', 'pgsteal_kswapd', 'pgmajfault', 'thp_swpout', 'thp_swpout_fallback', 'thp_split_page'];
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
    dev.drainInvalidations();
    const swaps = swapDevices();
    const before = state();
    const v0 = vmstat(counters);
    native.madvise(r.addr, r.length, c.MADV_PAGEOUT);
    const v1 = vmstat(counters);
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
      swaps, before, afterPageout, pageout: delta(v0, v1), pageoutRecords, snapPageout,
      device, deviceVmstat: delta(v1, v2), afterDevice, deviceRecords,
      devicePopulates: s1.populates - s0.populates, cpuSame, afterCpu, cpuRecords, snapEnd,
    };
  } finally {
    release();
  }
}

/**
 * mremap of a file mapping (on the disk file system): the 4-page mapping
 * (the file holds 0x11, the CPU wrote 0x33 into page 1) moves to a reserved
 * address; then the CPU writes 0x44 to page 1 at the new address. What the
 * object (registered on the old range) got and reads, and what the file holds.
 */
export async function fileMremap(mode: MirrorMode, shared: boolean, dir: string) {
  const c = native.mmConstants;
  const file = `${dir}/mremap-${mode}-${shared ? 's' : 'p'}`;
  fs.writeFileSync(file, Buffer.alloc(4 * PAGE, 0x11));
  using dev = MockDrm.open();
  const m = Mapping.file(file, 4 * PAGE, { shared });
  const dest: bigint = native.mmap(0n, 4 * PAGE, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  let moved: Mapping | null = null;
  try {
    m.view.fill(0x33, PAGE, 2 * PAGE);
    const reg = await attempt(() => dev.userptr({ address: m.address, length: m.length }, { mode, populate: true }));
    if (!reg.ok) return { registration: reg };
    using buf = reg.value;
    const base = m.address;
    dev.drainInvalidations();
    m.remap(4 * PAGE, { mayMove: true, fixed: dest });
    moved = m;
    const records = rel(dev.drainInvalidations().records, base).map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
    m.view[PAGE] = 0x44;
    const page1 = await attempt(async () => (await buf.read(PAGE, 1))[0]);
    const cpuAtNew = [m.view[0], m.view[PAGE]];
    const fileBytes = [0, PAGE].map((o) => fs.readFileSync(file)[o]);
    return { registration: { ok: true }, moved: m.address === dest, records, page1, cpuAtNew, fileBytes, stats: buf.stats() };
  } finally {
    if (moved === null) native.munmap(dest, 4 * PAGE);
    m.unmap();
    fs.rmSync(file, { force: true });
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
  const ev = () => rel(dev.drainInvalidations().records, m.address).map((x) => [x.event, x.relStart, x.relEnd, x.pagesDropped, x.keptStale]);
  // (an O_DIRECT read writes dirty page-cache pages of its range back first,
  // so the disk is read only where the writeback it causes is part of the step)
  const out: Record<string, unknown> = { diskInitial: onDisk() };
  try {
    m.view.fill(0x22);
    const reg = await attempt(() => dev.userptr({ address: m.address, length: len }, { mode, populate: true }));
    out.registration = reg.ok ? { ok: true } : reg;
    if (!reg.ok) return out;
    const buf = reg.value;
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
      const p = md.accessAsync(dev.fd, buf.handle, 0, 1, out) as Promise<{ populates: number; retries: number }>;
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

// ---------------------------------------------------------------- benchmarks
// Absolute numbers under TCG emulation mean little; ratios taken in one run do.

/** Registration cost per page: GUP vs GUP-longterm vs HMM (populated), modes interleaved. */
export async function benchRegistration(sizes: number[], reps: number, backing: Backing = 'anon') {
  const { summarize, ratio } = await import('../stats/summary.js');
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const modes: [string, number][] = [
    ['gup', 0x1],
    ['gup-longterm', 0x2],
    ['gup-get', 0x3],
    ['hmm-populate', 0x4 | 0x20],
    ['hmm-lazy', 0x4],
  ];
  const out = [];
  for (const size of sizes) {
    const m = mapBacking(backing, size);
    try {
      m.view.fill(1); // resident pages: measure registration, not first touch
      const order = dev.userptrSync({ address: m.address, length: size }, { mode: 'hmm', populate: true });
      const mapOrder = order.snapshot(0, 1)[0].cpu.order;
      order.close();
      const samples: Record<string, number[]> = {};
      for (const [name] of modes) samples[name] = [];
      for (let i = 0; i < reps; i++)
        for (const [name, flags] of modes) samples[name].push(Number(md.timeUserptr(dev.fd, m.address, size, flags, 1)[0]) / (size / PAGE));
      const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
      out.push({ backing, mapOrder, size, pages: size / PAGE, nsPerPage: s, gupOverHmm: ratio(s['gup'], s['hmm-populate']), longtermOverGup: ratio(s['gup-longterm'], s['gup']) });
    } finally {
      m.unmap();
    }
  }
  return out;
}

/** Device read of 1 MiB, warm versus right after MADV_DONTNEED (the device revalidates first). */
export async function benchRevalidation(reps: number) {
  const { summarize, ratio } = await import('../stats/summary.js');
  using dev = MockDrm.open();
  const md = native.mirrordrm;
  const size = 1 << 20;
  const out: Record<string, unknown> = {};
  for (const [name, opts] of [
    ['hmm', { mode: 'hmm' as MirrorMode, populate: true }],
    ['gup-repin', { mode: 'gup' as MirrorMode, repin: true }],
  ] as const) {
    const r = mapAnon(size);
    try {
      r.bytes.fill(3);
      using buf = dev.userptrSync({ address: r.addr, length: size }, opts);
      const warm = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, 1, reps, -1, 0n, 0) as BigUint64Array, Number);
      const after = Array.from(md.timeAccess(dev.fd, buf.handle, 0, size, 1, reps, native.mmConstants.MADV_DONTNEED, r.addr, size) as BigUint64Array, Number);
      const w = summarize(warm);
      const a = summarize(after);
      out[name] = { warmNs: w, afterInvalidationNs: a, slowdown: ratio(a, w), stats: buf.stats() };
    } finally {
      unmapAll(r);
    }
  }
  return out;
}

/** Time spent in the invalidation callback, by event and mode, from the log's own timings. */
export async function benchCallbacks(reps: number) {
  const { summarize } = await import('../stats/summary.js');
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const samples: Record<string, number[]> = {};
  const add = (mode: string, recs: InvalidationRecord[]) => {
    for (const x of recs) (samples[`${mode} ${x.event}`] ??= []).push(x.durationNs);
  };
  for (let i = 0; i < reps; i++) {
    for (const mode of ['gup', 'hmm'] as MirrorMode[]) {
      const r = mapAnon(16 * PAGE);
      r.bytes.fill(4);
      const buf = dev.userptrSync({ address: r.addr, length: r.length }, { mode, populate: mode === 'hmm' });
      dev.drainInvalidations();
      native.mprotect(r.addr, r.length, c.PROT_READ);
      native.mprotect(r.addr, r.length, c.PROT_READ | c.PROT_WRITE);
      buf.readSync(0, r.length);
      native.madvise(r.addr, r.length, c.MADV_DONTNEED);
      buf.readSync(0, r.length);
      native.releaseView(r.view.buffer, r.view.record);
      native.munmap(r.addr, r.length);
      add(mode, dev.drainInvalidations().records);
      buf.close();
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
}
