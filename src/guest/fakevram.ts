// Guest-side steps of the fakevram tests and benchmark, called through
// Vm.call(fakevramSteps, name, ...args) inside a QEMU guest with the
// fakevram module loaded. Each step is small in JavaScript (guest JIT is slow):
// the touching, pattern and timing loops are C++.
import fs from 'node:fs';
import { native } from '../addon.js';
import { Mapping } from '../memory/mapping.js';
import { runInChild } from '../memory/fork.js';
import { summarize, type Summary } from '../stats/summary.js';
import { MockDrm } from '../mirror/mockdrm.js';
import { MIRRORDRM, MODE_FLAGS } from '../mirror/uapi.js';
import { attemptSyscall, type Outcome as StepOutcome } from './common.js';
import { FakeVram, ENTRY_SIZES, patternCheck, patternFill, type EntrySize, type FakeVramCounters } from '../devmem/fakevram.js';

const CHUNK = 64 << 20;

const WINDOW = 16 << 20;

/**
 * The parts of a mapping whose data both sides check: all of it up to 64 MiB;
 * beyond that three 16 MiB windows (start, middle, end). Copying a whole GiB
 * through the driver under TCG costs minutes, and a wrong PFN, offset or
 * entry size shows in every window (each spans 8 PMD entries, and the one PUD
 * entry of a 1 GiB mapping covers all three).
 */
export function dataWindows(length: number): Array<{ offset: number; length: number }> {
  if (length <= 4 * WINDOW) return [{ offset: 0, length }];
  const mid = Math.floor(length / 2 / WINDOW) * WINDOW;
  return [{ offset: 0, length: WINDOW }, { offset: mid, length: WINDOW }, { offset: length - WINDOW, length: WINDOW }];
}

/** Driver-side check of the data windows of [0, length) against the pattern, in chunks. */
function checkDevice(dev: FakeVram, length: number, seed: bigint): number {
  using buf = Mapping.anonymous(Math.min(CHUNK, length));
  let bad = 0;
  for (const w of dataWindows(length)) {
    for (let off = w.offset; off < w.offset + w.length; off += CHUNK) {
      const n = Math.min(CHUNK, w.offset + w.length - off);
      native.fakevramAccess(dev.fd, off, buf.subarray(0, n), false);
      bad += patternCheck(buf.address, n, seed, off);
    }
  }
  return bad;
}

/** Driver-side write of the pattern into the data windows of [0, length), in chunks. */
function writeDevice(dev: FakeVram, length: number, seed: bigint): void {
  using buf = Mapping.anonymous(Math.min(CHUNK, length));
  for (const w of dataWindows(length)) {
    for (let off = w.offset; off < w.offset + w.length; off += CHUNK) {
      const n = Math.min(CHUNK, w.offset + w.length - off);
      patternFill(buf.address, n, seed, off);
      native.fakevramAccess(dev.fd, off, buf.subarray(0, n), true);
    }
  }
}

/** Pages of the mapping in the data windows that do not hold the pattern of `seed`. */
function checkWindows(address: bigint, length: number, seed: bigint): number {
  let bad = 0;
  for (const w of dataWindows(length)) bad += patternCheck(address + BigInt(w.offset), w.length, seed, w.offset);
  return bad;
}

/**
 * Reads every page of the mapping (so every entry refaults after an
 * eviction): the windows must hold `inside`, the rest `outside`.
 */
function checkAll(address: bigint, length: number, inside: bigint, outside: bigint): number {
  let bad = 0;
  let at = 0;
  for (const w of dataWindows(length)) {
    if (w.offset > at) bad += patternCheck(address + BigInt(at), w.offset - at, outside, at);
    bad += patternCheck(address + BigInt(w.offset), w.length, inside, w.offset);
    at = w.offset + w.length;
  }
  if (at < length) bad += patternCheck(address + BigInt(at), length - at, outside, at);
  return bad;
}

export interface InfoResult {
  kind: string; size: number; physBase: string; supports: Record<EntrySize, boolean>; kernel: string;
  thp: string; uapiSizes: Record<string, number>;
}

export async function info(path = '/dev/fakevram0'): Promise<InfoResult> {
  using dev = FakeVram.open(path);
  const c = native.fakevramConstants;
  return {
    kind: dev.info.kind, size: dev.info.size, physBase: `0x${dev.info.physBase.toString(16)}`,
    supports: dev.info.supports, kernel: dev.info.kernel,
    thp: fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim(),
    uapiSizes: { info: c.SIZEOF_INFO, policy: c.SIZEOF_POLICY, counters: c.SIZEOF_COUNTERS, evict: c.SIZEOF_EVICT, access: c.SIZEOF_ACCESS },
  };
}

/**
 * Writes through the driver into each [offset, offset + length): 0xa5 in
 * every byte, or, with `lastByteOnly`, 0x01 in the last byte alone (a page
 * whose only non-zero byte is its last).
 */
export async function dirty(ranges: Array<{ offset: number; length: number; lastByteOnly?: boolean }>, path?: string): Promise<void> {
  using dev = FakeVram.open(path);
  for (const r of ranges) {
    if (r.lastByteOnly) dev.write(r.offset + r.length - 1, Uint8Array.of(1));
    else dev.write(r.offset, new Uint8Array(r.length).fill(0xa5));
  }
}

/** For each range, the number of its bytes that are not zero, read through the driver. */
export async function nonZeroBytes(ranges: Array<{ offset: number; length: number }>, path?: string): Promise<number[]> {
  using dev = FakeVram.open(path);
  return ranges.map((r) => dev.read(r.offset, r.length).reduce((n, b) => n + (b === 0 ? 0 : 1), 0));
}

export interface FaultDataResult {
  address: string;
  aligned: Record<EntrySize, boolean>;
  touchMs: number;
  counters: FakeVramCounters;
  /** pages the driver read back differently from what the mapping wrote (data windows, see dataWindows) */
  badDeviceView: number;
  /** pages the mapping read differently from what the driver wrote (data windows) */
  badMappingView: number;
  /** after evict: counters of the refault (every page read) and the pages that differ */
  evicted: { offset: number; length: number };
  refault: FakeVramCounters;
  badAfterRefault: number;
}

/**
 * Map `length` bytes with entries up to `maxEntry`, write one u64 per 4 KiB
 * through the mapping (one touch per 4 KiB), count the faults, check both
 * directions of data, then evict and check the refault.
 */
export async function faultsAndData(maxEntry: EntrySize, length: number, opts: { prefault?: boolean; noAlign?: boolean; skew?: number; path?: string } = {}): Promise<FaultDataResult> {
  using dev = FakeVram.open(opts.path);
  dev.setPolicy({ maxEntry, prefault: opts.prefault ?? false, noAlign: opts.noAlign ?? false }, { fallback: true });
  using m = opts.skew === undefined ? dev.map(length) : mapSkewed(dev, length, opts.skew);
  const seed = 0x5eed0000n + BigInt(ENTRY_SIZES.indexOf(maxEntry));
  dev.counters(true);
  const t0 = native.monotonicNs() as bigint;
  patternFill(m.address, length, seed);
  const touchMs = Number((native.monotonicNs() as bigint) - t0) / 1e6;
  const counters = dev.counters(true);
  const badDeviceView = checkDevice(dev, length, seed);
  writeDevice(dev, length, seed << 1n);
  const badMappingView = checkWindows(m.address, length, seed << 1n);
  dev.counters(true);
  const evicted = dev.evict();
  const badAfterRefault = checkAll(m.address, length, seed << 1n, seed);
  const refault = dev.counters(true);
  const a = m.address;
  return {
    address: `0x${a.toString(16)}`,
    aligned: { pte: true, pmd: (a & 0x1fffffn) === 0n, pud: (a & 0x3fffffffn) === 0n },
    touchMs, counters, badDeviceView, badMappingView, evicted, refault, badAfterRefault,
  };
}

/**
 * Maps [0, length) of the device at an address `skew` bytes past a 2 MiB
 * boundary, so that a misaligned mapping is tested every time rather than
 * when the address happens to be misaligned. The address is a hint (no
 * MAP_FIXED): free address space is found by reserving and releasing it
 * first, and the driver's get_unmapped_area passes a free hint through when
 * its alignment is off (FAKEVRAM_POLICY_NO_ALIGN). The caller checks where
 * the mapping landed.
 */
function mapSkewed(dev: FakeVram, length: number, skew: number): Mapping {
  const c = native.mmConstants;
  const spare = Mapping.anonymous(length + (4 << 20), { prot: 'none' });
  const hint = ((spare.address + 0x1fffffn) & ~0x1fffffn) + BigInt(skew);
  spare.unmap();
  const addr = native.mmap(hint, length, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED, dev.fd, 0) as bigint;
  return Mapping.adopt(addr, length, { prot: 'rw', shared: true, backing: 'adopted' });
}

type Outcome = StepOutcome<number>;
const attempt = (f: () => number): Outcome => attemptSyscall(f);

export interface GupResult {
  maxEntry: EntrySize;
  counters: FakeVramCounters;
  oDirectRead: Outcome | { skipped: string };
  processVmReadv: Outcome;
  processVmWritev: Outcome;
  vmsplice: Outcome;
  futexShared: Outcome;
  futexPrivate: Outcome;
  procSelfMem: Outcome;
  /** plain copies (no GUP): write(2) from and read(2) into the mapping through a pipe */
  pipeCopy: { written: number; read: number; same: boolean };
}

/**
 * The paths that take references on the pages behind user addresses (GUP),
 * pointed at a fakevram mapping whose entries are present at `maxEntry`
 * size. Each result is what the kernel returned; the test judges.
 */
export async function gupProbes(maxEntry: EntrySize, length: number, blockdev?: string, path?: string): Promise<GupResult> {
  using dev = FakeVram.open(path);
  dev.setPolicy({ maxEntry }, { fallback: true });
  using m = dev.map(length);
  m.view.fill(0xa5, 0, 4096);
  m.view.fill(0xa5, length - 4096, length);
  const counters = dev.counters(true);
  using local = Mapping.anonymous(1 << 20);
  local.view.fill(1);
  let oDirectRead: Outcome | { skipped: string } = { skipped: 'no block device given' };
  if (blockdev) {
    let fd = -1;
    try {
      fd = fs.openSync(blockdev, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
      oDirectRead = attempt(() => native.preadInto(fd, m.address, 1 << 20, 0) as number);
    } catch (e) {
      oDirectRead = { skipped: `open ${blockdev} O_DIRECT: ${(e as Error).message}` };
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  const pid = process.pid;
  const processVmReadv = attempt(() => native.processVmReadv(pid, local.address, m.address, 4096) as number);
  const processVmWritev = attempt(() => native.processVmWritev(pid, local.address, m.address, 4096) as number);
  const vmsplice = attempt(() => native.vmspliceFrom(m.address, 4096) as number);
  new DataView(m.view.buffer, m.view.byteOffset, 8).setUint32(0, 7, true);
  const futexShared = attempt(() => native.futexWait(m.address, 8, false) as number);
  const futexPrivate = attempt(() => native.futexWait(m.address, 8, true) as number);
  const procSelfMem = attempt(() => {
    const fd = fs.openSync('/proc/self/mem', 'r');
    try {
      return native.preadInto(fd, local.address, 4096, m.address) as number;
    } finally {
      fs.closeSync(fd);
    }
  });
  // Plain copies: no GUP, legitimate on any memory the CPU can access.
  const pc = native.pipeRoundTrip(m.address, m.address + 8192n, 4096) as { written: number; read: number };
  // (the first 8 bytes hold the futex word by now)
  const same = m.view[8192 + 8] === 0xa5 && m.view[8192 + 4095] === 0xa5;
  const pipeCopy = { ...pc, same };
  return { maxEntry, counters, oDirectRead, processVmReadv, processVmWritev, vmsplice, futexShared, futexPrivate, procSelfMem, pipeCopy };
}

export interface MirrorProbeResult {
  maxEntry: EntrySize;
  /** USERPTR straight on the fakevram mapping: mirrordrm's own VMA check refuses VM_IO | VM_PFNMAP. */
  create: Record<string, Outcome>;
  /**
   * USERPTR on anonymous memory, then the range is replaced (MAP_FIXED) by a
   * fakevram mapping whose entry is present: the next device access runs the
   * real population path on it (pin_user_pages_fast() / hmm_range_fault()).
   */
  swapped: Record<string, { registered: Outcome; access: Outcome; faults: PerSizeCounts; invalidations: number }>;
}
type PerSizeCounts = FakeVramCounters['faults'];

/**
 * mirrordrm userptrs meeting a fakevram mapping whose entries are `maxEntry`
 * sized (1 GiB mapping at a 1 GiB aligned address).
 */
export async function mirrorProbes(maxEntry: EntrySize, path?: string): Promise<MirrorProbeResult> {
  const GiB = 1 << 30;
  const win = 2 << 20; // the userptr covers the first 2 MiB of the mapping
  using dev = FakeVram.open(path);
  dev.setPolicy({ maxEntry }, { fallback: true });
  using drm = MockDrm.open();
  const md = native.mirrordrm;
  const c = native.mmConstants;
  const create: Record<string, Outcome> = {};
  {
    using m = dev.map(GiB);
    m.view[0] = 1;
    for (const [name, mode] of Object.entries(MODE_FLAGS)) {
      create[name] = attempt(() => md.userptr(drm.fd, m.address, win, mode | (mode === MIRRORDRM.MODE_HMM ? MIRRORDRM.POPULATE : 0)) as number);
    }
    create['hmm-lazy'] = attempt(() => md.userptr(drm.fd, m.address, win, MIRRORDRM.MODE_HMM) as number);
  }
  const swapped: MirrorProbeResult['swapped'] = {};
  for (const [name, flags] of [['gup-repin', MODE_FLAGS.gup | MIRRORDRM.GUP_REPIN], ['gup-longterm-repin', MODE_FLAGS['gup-longterm'] | MIRRORDRM.GUP_REPIN], ['hmm', MODE_FLAGS.hmm | MIRRORDRM.POPULATE]] as const) {
    // A 1 GiB aligned address: reserve 2 GiB, keep the aligned GiB.
    using spare = Mapping.anonymous(2 * GiB, { prot: 'none' });
    const a = (spare.address + BigInt(GiB - 1)) & ~BigInt(GiB - 1);
    native.mmap(a, win, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_FIXED, -1, 0);
    native.patternFill(a, win, 7n, 0);
    const registered = attempt(() => md.userptr(drm.fd, a, win, flags) as number);
    drm.drainInvalidations();
    native.mmap(a, GiB, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED | c.MAP_FIXED, dev.fd, 0);
    dev.counters(true);
    native.patternFill(a, 4096, 9n, 0); // one touch: the fault inserts the entry
    const faults = dev.counters(true).faults;
    const access = registered.ok ? attempt(() => {
      md.access(drm.fd, registered.value, 0, MIRRORDRM.ACCESS_READ, new Uint8Array(4096));
      return 4096;
    }) : registered;
    const invalidations = drm.drainInvalidations().records.length;
    if (registered.ok) md.gemClose(drm.fd, registered.value);
    native.munmap(a, GiB); // the rest of the reservation goes with `spare`
    swapped[name] = { registered, access, faults, invalidations };
  }
  return { maxEntry, create, swapped };
}

export interface VmaOpsResult {
  mprotect: { roRw: boolean; badAfter: number; writeCounters: FakeVramCounters; badDevice: number };
  partialMprotect: { ok: boolean; bad: number; counters: FakeVramCounters };
  fork: { exitCode: number | null; signal: string | null; childSaw: number[]; parentSeesChildWrite: boolean };
  partialMunmap: { ok: boolean; bad: number; counters: FakeVramCounters };
  mremap: { moved: boolean; bad: number; badDevice: number; counters: FakeVramCounters };
}

/** mprotect, partial mprotect (split), fork, partial munmap, mremap on a mapping with `maxEntry` entries. */
export async function vmaOps(maxEntry: EntrySize, length: number, path?: string): Promise<VmaOpsResult> {
  using dev = FakeVram.open(path);
  dev.setPolicy({ maxEntry }, { fallback: true });
  const seed = 0xabcdefn;
  const m = dev.map(length);
  try {
    patternFill(m.address, length, seed);
    dev.counters(true);
    m.protect('r');
    m.protect('rw');
    const badAfter = patternCheck(m.address, length, seed, 0);
    patternFill(m.address, length, seed + 1n);
    const writeCounters = dev.counters(true);
    const mprotect = { roRw: true, badAfter, writeCounters, badDevice: checkDevice(dev, length, seed + 1n) };

    const cut = (2 << 20) + 4096;
    m.protect('r', cut, 2 << 20);
    const pbad = patternCheck(m.address, length, seed + 1n, 0);
    m.protect('rw');
    const partialMprotect = { ok: true, bad: pbad, counters: dev.counters(true) };

    const child = await runInChild([
      { op: 'read', mapping: m, offset: 0, length: 8 },
      { op: 'read', mapping: m, offset: length - 4096, length: 8 },
      { op: 'write', mapping: m, offset: 4096 * 3, length: 8, value: 0x5a },
    ]);
    const childSaw = child.results.filter((r) => r?.op === 'read').map((r) => (r?.bytes ? Number(new DataView(r.bytes.buffer, r.bytes.byteOffset, 8).getBigUint64(0, true) ^ (seed + 1n)) : -1));
    const fork = { exitCode: child.exitCode, signal: child.signal, childSaw, parentSeesChildWrite: m.view[4096 * 3] === 0x5a };
    patternFill(m.address, length, seed + 2n);

    const hole = cut, hlen = 4 << 20;
    native.munmap(m.address + BigInt(hole), hlen);
    const bad = patternCheck(m.address, hole, seed + 2n, 0) +
      patternCheck(m.address + BigInt(hole + hlen), length - hole - hlen, seed + 2n, hole + hlen);
    const partialMunmap = { ok: true, bad, counters: dev.counters(true) };
    native.munmap(m.address, hole);
    native.munmap(m.address + BigInt(hole + hlen), length - hole - hlen);

    using m2 = dev.map(length);
    patternFill(m2.address, length, seed + 3n);
    dev.counters(true);
    // Move to another address with the same alignment the driver chose.
    using spare = Mapping.anonymous(length * 2 + (1 << 30), { prot: 'none' });
    const align = BigInt(Math.min(length, 1 << 30));
    const target = (spare.address + align - 1n) & ~(align - 1n);
    const r = m2.remap(length, { mayMove: true, fixed: target });
    const mremap = {
      moved: r.moved,
      bad: patternCheck(m2.address, length, seed + 3n, 0),
      badDevice: checkDevice(dev, length, seed + 3n),
      counters: dev.counters(true),
    };
    return { mprotect, partialMprotect, fork, partialMunmap, mremap };
  } finally {
    if (m.mapped) {
      try { m.unmap(); } catch { /* already unmapped in pieces */ }
    }
  }
}

export interface ForkMappedResult {
  address: string;
  /** faults that filled the mapping, by entry size, counted from mmap to fork: what was mapped at fork */
  beforeFork: FakeVramCounters;
  /** counters from fork to the child's exit: faults the child took, VMA opens (the child's copy) and closes */
  duringChild: FakeVramCounters;
  exitCode: number | null;
  signal: string | null;
  /** offsets the child read, and how many of them did not hold the parent's pattern */
  childOffsets: number[];
  childBad: number;
  /** pages of the whole mapping not holding the pattern after the child ran (its write excepted) */
  parentBad: number;
  parentSeesChildWrite: boolean;
}

/**
 * fork() of a process whose fresh mapping is filled with `maxEntry` entries
 * and nothing else: no split, zap or eviction between the faults and the
 * fork, so the entries the counters saw inserted are the ones fork copies
 * (VM_PFNMAP VMAs have their page tables copied, copy_huge_pud/pmd() for
 * huge entries). The child reads one u64 every 32 MiB and the last page,
 * then writes one byte the parent must see (MAP_SHARED).
 */
export async function forkMapped(maxEntry: EntrySize, length: number, path?: string): Promise<ForkMappedResult> {
  using dev = FakeVram.open(path);
  dev.setPolicy({ maxEntry }, { fallback: true });
  using m = dev.map(length);
  const seed = 0xf0f0n + BigInt(ENTRY_SIZES.indexOf(maxEntry));
  dev.counters(true);
  patternFill(m.address, length, seed);
  const beforeFork = dev.counters(true);
  const childOffsets: number[] = [];
  for (let off = 0; off < length; off += 32 << 20) childOffsets.push(off);
  if (childOffsets.at(-1) !== length - 4096) childOffsets.push(length - 4096);
  const wrote = 4096 * 5;
  const child = await runInChild([
    ...childOffsets.map((offset) => ({ op: 'read' as const, mapping: m, offset, length: 8 })),
    { op: 'write', mapping: m, offset: wrote + 8, length: 1, value: 0x5a },
  ]);
  const duringChild = dev.counters(true);
  // results[i] is the read of childOffsets[i]; a read the child never finished counts as bad
  let childBad = 0;
  childOffsets.forEach((off, i) => {
    const r = child.results[i];
    if (!r?.ok || !r.bytes || new DataView(r.bytes.buffer, r.bytes.byteOffset, 8).getBigUint64(0, true) !== (BigInt(off) ^ seed)) childBad++;
  });
  return {
    address: `0x${m.address.toString(16)}`,
    beforeFork, duringChild, exitCode: child.exitCode, signal: child.signal, childOffsets, childBad,
    // the child's byte sits after the u64 of its page: the pattern is intact everywhere
    parentBad: patternCheck(m.address, length, seed, 0),
    parentSeesChildWrite: m.view[wrote + 8] === 0x5a,
  };
}

export interface BenchResult {
  length: number;
  reps: number;
  /** per case: the time to fault in the whole mapping, ms */
  cases: Record<string, Summary>;
  faults: Record<string, FakeVramCounters>;
}

/**
 * Fault-in time of `length` bytes per policy, `reps` rounds with every case
 * once per round (ratios in one run). Touch loops are C++: patternFill for
 * one write per 4 KiB, faultTouch (512 timed touches) for one per 2 MiB.
 */
// Every scenario in this file asks for PMD and PUD entries on every kernel and checks
// what the module did: on 6.1 that is the fallback to 4 KiB entries, so they
// set their policies with { fallback: true }.
export async function bench(length: number, reps: number, path?: string): Promise<BenchResult> {
  using dev = FakeVram.open(path);
  const cases: Array<{ name: string; maxEntry: EntrySize; prefault: boolean; stride: number }> = [
    { name: 'pte touch-4K', maxEntry: 'pte', prefault: false, stride: 4096 },
    { name: 'pmd touch-4K', maxEntry: 'pmd', prefault: false, stride: 4096 },
    { name: 'pud touch-4K', maxEntry: 'pud', prefault: false, stride: 4096 },
    { name: 'pte per-fault touch-1-per-2M', maxEntry: 'pte', prefault: false, stride: 2 << 20 },
    { name: 'pte prefault touch-1-per-2M', maxEntry: 'pte', prefault: true, stride: 2 << 20 },
    { name: 'pte prefault touch-4K', maxEntry: 'pte', prefault: true, stride: 4096 },
    { name: 'pmd per-fault touch-1-per-2M', maxEntry: 'pmd', prefault: false, stride: 2 << 20 },
    { name: 'pmd prefault touch-1-per-2M', maxEntry: 'pmd', prefault: true, stride: 2 << 20 },
    { name: 'pmd prefault touch-4K', maxEntry: 'pmd', prefault: true, stride: 4096 },
  ];
  const times: Record<string, number[]> = {};
  const faults: Record<string, FakeVramCounters> = {};
  for (let r = 0; r < reps; r++) {
    for (const c of cases) {
      dev.setPolicy({ maxEntry: c.maxEntry, prefault: c.prefault }, { fallback: true });
      using m = dev.map(length);
      dev.counters(true);
      // One plain write per touch, no clock inside the loop: under TCG a
      // clock_gettime pair per 4 KiB costs more than a 2 MiB fault.
      const t0 = native.monotonicNs() as bigint;
      if (c.stride === 4096) native.patternFill(m.address, length, 1n, 0);
      else native.faultTouch(m.address, length, c.stride, true, false);
      const ms = Number((native.monotonicNs() as bigint) - t0) / 1e6;
      (times[c.name] ??= []).push(ms);
      faults[c.name] = dev.counters(true);
    }
  }
  const out: Record<string, Summary> = {};
  for (const [k, v] of Object.entries(times)) out[k] = summarize(v);
  return { length, reps, cases: out, faults };
}

export interface FaultCase {
  maxEntry: EntrySize;
  prefault: boolean;
  /** bytes between touches: 4096 touches everything, 2 MiB one byte per 2 MiB */
  stride: number;
  length: number;
}

export interface FaultRoundSample {
  /** ns to fault in the mapping (every touch of the workload) */
  ns: number;
  /** faults the driver handled, by inserted entry size */
  faults: FakeVramCounters['faults'];
  /** entries inserted by prefault-whole */
  prefaultEntries: FakeVramCounters['prefaultEntries'];
  /** minor faults the kernel counted for this task during the touches (stride > 4 KiB only) */
  minflt: number | null;
  /** the mapping's address was aligned for this entry size */
  aligned: boolean;
  /**
   * stride 4 KiB: ns for the same writes again over the now mapped range,
   * and the faults they took (none expected): what the touches cost without
   * faults, under TCG mostly the emulated TLB refills
   */
  retouchNs: number | null;
  retouchFaults: number | null;
}

/**
 * One round of the fault-in benchmark: each case once, in order (callers
 * interleave the cases so ratios come from one run). Touch loops are C++:
 * patternFill for one write per 4 KiB (no clock read per touch: under TCG a
 * clock pair costs more than a 2 MiB fault), faultTouch for larger strides.
 */
export async function faultRound(cases: FaultCase[], path?: string): Promise<FaultRoundSample[]> {
  using dev = FakeVram.open(path);
  const out: FaultRoundSample[] = [];
  for (const c of cases) {
    dev.setPolicy({ maxEntry: c.maxEntry, prefault: c.prefault }, { fallback: true });
    using m = dev.map(c.length);
    dev.counters(true);
    let ns: number;
    let minflt: number | null = null;
    let retouchNs: number | null = null;
    let retouchFaults: number | null = null;
    if (c.stride === 4096) {
      const t0 = native.monotonicNs() as bigint;
      native.patternFill(m.address, c.length, 1n, 0);
      ns = Number((native.monotonicNs() as bigint) - t0);
      const before = dev.counters(false);
      const t1 = native.monotonicNs() as bigint;
      native.patternFill(m.address, c.length, 2n, 0);
      retouchNs = Number((native.monotonicNs() as bigint) - t1);
      const after = dev.counters(false);
      retouchFaults = after.faults.pte + after.faults.pmd + after.faults.pud - (before.faults.pte + before.faults.pmd + before.faults.pud);
    } else {
      const r = (native.faultTouch(m.address, c.length, c.stride, true, false) as { reps: { totalNs: number; rusage: { minflt: number } }[] }).reps[0];
      ns = r.totalNs;
      minflt = r.rusage.minflt;
    }
    const k = dev.counters(true);
    const size = c.maxEntry === 'pud' ? 1 << 30 : c.maxEntry === 'pmd' ? 2 << 20 : 4096;
    out.push({ ns, faults: k.faults, prefaultEntries: k.prefaultEntries, minflt, aligned: m.address % BigInt(size) === 0n, retouchNs, retouchFaults });
  }
  return out;
}
