// Device memory scenarios in the guest (test/guest/mirrordrm-devmem.test.ts):
// pages of a mirrored buffer moved into mirrordrm's device-private memory
// and what every kind of CPU-side change does to them. Each function returns
// plain data (bytes, records, page state, device counters) for the host to
// assert on; guest JavaScript is slow under TCG, so each does a whole
// scenario in a few calls.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { native } from '../addon.js';
import { MockDrm } from '../mirror/mockdrm.js';
import type { DeviceInfo, InvalidationRecord, MirrorPageState, MirrorMode } from '../mirror/types.js';
import { PAGE, attempt, attemptSyscall, mapAnon, mapAnonAlone, mapAnonFromPmd, pattern, unmapAll, unmapAlone, type Region } from './common.js';

const THP = 2 << 20;

/** A record in short, relative to base: [event, start, end, dropped, owner, own]. */
export type DevRecord = [event: string, relStart: number, relEnd: number, dropped: number, owner: number | 'foreign' | null, own: boolean];

function short(records: InvalidationRecord[], base: bigint, handle?: number): DevRecord[] {
  return records
    .filter((r) => handle === undefined || r.handle === handle)
    .map((r) => [r.event, Number(r.start - base), Number(r.end - base), r.pagesDropped, r.owner, r.ownMigration]);
}

/** Page state in short: "dev/cpu", D<owner> for a device-private page, X exclusive, V valid. */
function state(p: MirrorPageState): string {
  const side = (v: { valid: boolean; deviceOwner: number | null }, excl = false) =>
    !v.valid ? '-' : (v.deviceOwner !== null ? `D${v.deviceOwner}` : 'V') + (excl ? 'X' : '');
  return `${side(p.device, p.device.exclusive)}/${side(p.cpu)}`;
}

function fill(r: Region, seed = 0): void {
  for (let i = 0; i < r.length; i++) r.bytes[i] = pattern(i + seed);
}

function mismatches(bytes: Uint8Array, base: number, seed = 0): number {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== pattern(base + i + seed)) n++;
  return n;
}

/** A 2 MiB-aligned anonymous region with THP allowed (MADV_HUGEPAGE), not yet touched. */
function mapThp(length: number): Region & { unmapOuter: () => void } {
  const c = native.mmConstants;
  const outer = mapAnon(length + THP);
  const addr = (outer.addr + BigInt(THP - 1)) & ~BigInt(THP - 1);
  native.madvise(addr, length, c.MADV_HUGEPAGE);
  const view = native.newView(addr, length, false);
  return {
    addr,
    length,
    view,
    bytes: new Uint8Array(view.buffer),
    unmapOuter: () => {
      native.releaseView(view.buffer, view.record);
      unmapAll(outer);
    },
  };
}

/** What the devices say about themselves (DEVICE_INFO on each render node). */
export function deviceInfos(): DeviceInfo[] {
  const devs = MockDrm.openAll();
  try {
    return devs.map((d) => d.deviceInfo());
  } finally {
    for (const d of devs) d.close();
  }
}

/**
 * To the device and back: the bytes the device reads from its own memory,
 * a device write landing in the device copy, page state, records and the
 * device's counters at each step.
 */
export async function roundTrip(pages: number, opts: { thp?: boolean; compound?: boolean } = {}) {
  using dev = MockDrm.open();
  const thp = opts.thp ? mapThp(pages * PAGE) : null;
  const r: Region = thp ?? mapAnon(pages * PAGE);
  try {
    fill(r);
    const before = dev.deviceInfo();
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    dev.drainInvalidations();
    const thpBefore = buf.snapshot(0, 1)[0].cpu.order;
    const toDevice = buf.migrate({ to: 'device', compound: opts.compound });
    // migrate_vma is best effort: a page with a reference the kernel did not
    // expect (another CPU's speculative folio_try_get, as compaction takes)
    // is skipped, and migrate_vma has no retry of its own (migrate_pages
    // retries such pages ten times). A driver asks again, once, as here.
    const retry = toDevice.skipped > 0 ? buf.migrate({ to: 'device', compound: opts.compound }) : null;
    const recordsIn = short(dev.drainInvalidations().records, r.addr);
    const onDevice = dev.deviceInfo();
    const snapIn = buf.snapshot().map(state);
    // the device reads its own memory: no fault, no migration
    const read = await buf.read(0, r.length);
    const readMismatches = mismatches(read, 0);
    await buf.write(PAGE + 5, new Uint8Array([0xee]));
    const afterAccess = dev.deviceInfo();
    const recordsAccess = short(dev.drainInvalidations().records, r.addr);
    const toRam = buf.migrate({ to: 'ram', compound: opts.compound });
    const recordsOut = short(dev.drainInvalidations().records, r.addr);
    const snapOut = buf.snapshot().map(state);
    // the CPU reads the bytes back from system memory, the device's write among them
    const cpuWritten = r.bytes[PAGE + 5];
    r.bytes[PAGE + 5] = pattern(PAGE + 5);
    const cpuMismatches = mismatches(r.bytes, 0);
    const after = dev.deviceInfo();
    return {
      handle: buf.handle,
      thpBefore,
      toDevice,
      retry,
      toRam,
      recordsIn,
      recordsAccess,
      recordsOut,
      snapIn,
      snapOut,
      readMismatches,
      cpuWritten,
      cpuMismatches,
      before,
      onDevice,
      afterAccess,
      after,
      stats: buf.stats(),
    };
  } finally {
    if (thp) thp.unmapOuter();
    else unmapAll(r);
  }
}

/**
 * A CPU access to one page on the device: migrate_to_ram() brings that page
 * back (a MIGRATE record the object handles, owner ours), the others stay.
 */
export async function cpuFaultBack(access: 'read' | 'write') {
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    buf.migrate({ to: 'device' });
    dev.drainInvalidations();
    const before = dev.deviceInfo();
    let cpu: number;
    if (access === 'read') cpu = r.bytes[2 * PAGE + 9];
    else {
      r.bytes[2 * PAGE + 9] = 0x5a;
      cpu = r.bytes[2 * PAGE + 9];
    }
    const records = short(dev.drainInvalidations().records, r.addr);
    const after = dev.deviceInfo();
    const snap = buf.snapshot().map(state);
    const read = await buf.read(0, r.length);
    const expected = Uint8Array.from({ length: r.length }, (_, i) => (access === 'write' && i === 2 * PAGE + 9 ? 0x5a : pattern(i)));
    let deviceMismatches = 0;
    for (let i = 0; i < read.length; i++) if (read[i] !== expected[i]) deviceMismatches++;
    const snapAfterRead = buf.snapshot().map(state);
    return {
      cpu,
      expectedCpu: access === 'write' ? 0x5a : pattern(2 * PAGE + 9),
      records,
      faults: after.cpuFaults - before.cpuFaults,
      faultPages: after.faultPages - before.faultPages,
      snap,
      deviceMismatches,
      snapAfterRead,
    };
  } finally {
    unmapAll(r);
  }
}

/** munmap, mprotect or MADV_DONTNEED over pages 1..2 of 4 on the device. */
export async function changeOnDevice(change: 'munmap' | 'mprotect' | 'dontneed') {
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const r = mapAnon(4 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    buf.migrate({ to: 'device' });
    dev.drainInvalidations();
    const before = dev.deviceInfo();
    const at = r.addr + BigInt(PAGE);
    if (change === 'munmap') native.munmap(at, 2 * PAGE);
    else if (change === 'mprotect') native.mprotect(at, 2 * PAGE, c.PROT_READ);
    else native.madvise(at, 2 * PAGE, c.MADV_DONTNEED);
    const records = short(dev.drainInvalidations().records, r.addr);
    const after = dev.deviceInfo();
    const snap = buf.snapshot().map(state);
    const device = await attempt(async () => Array.from(await buf.read(0, 4 * PAGE)).filter((_, i) => i % PAGE === 0));
    // what the CPU reads where it still can
    const cpu = change === 'munmap' ? [r.bytes[0], null, null, r.bytes[3 * PAGE]] : [0, 1, 2, 3].map((p) => r.bytes[p * PAGE]);
    return {
      records,
      freed: after.devmemFree - before.devmemFree,
      folioFrees: after.folioFrees - before.folioFrees,
      snap,
      device,
      cpu,
      expected: [0, 1, 2, 3].map((p) => pattern(p * PAGE)),
    };
  } finally {
    if (change === 'munmap') {
      native.releaseView(r.view.buffer, r.view.record);
      native.munmap(r.addr, PAGE);
      native.munmap(r.addr + BigInt(3 * PAGE), PAGE);
    } else unmapAll(r);
  }
}

/**
 * A 2 MiB THP moved as one device folio, then one page in its middle
 * unmapped. The PMD is split (a CLEAR over the whole 2 MiB) and the hole
 * unmapped, but the device folio stays whole, as a partially unmapped THP
 * does, until a migration of part of it splits it: here a CPU read of one
 * page (migrate_to_ram() of a PTE-mapped device page) and then MIGRATE of
 * the rest back to RAM. The counters are taken after each step.
 */
export async function thpPartialMunmap() {
  using dev = MockDrm.open();
  const r = mapThp(THP);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    const cpuOrder = buf.snapshot(0, 1)[0].cpu.order;
    const start = dev.deviceInfo();
    const moved = buf.migrate({ to: 'device', compound: true });
    const onDevice = dev.deviceInfo();
    dev.drainInvalidations();
    const hole = 100;
    native.munmap(r.addr + BigInt(hole * PAGE), PAGE);
    const records = short(dev.drainInvalidations().records, r.addr);
    const afterMunmap = dev.deviceInfo();
    const snap = buf.snapshot(hole - 1, 3).map(state);
    // the pages on either side still read right from device memory
    const left = await buf.read(0, hole * PAGE);
    const right = await buf.read((hole + 1) * PAGE, THP - (hole + 1) * PAGE);
    const deviceMismatches = mismatches(left, 0) + mismatches(right, (hole + 1) * PAGE);
    const cpuRead = r.bytes[3 * PAGE];
    const afterCpuRead = dev.deviceInfo();
    // the range has a hole now: MIGRATE over it is refused (EFAULT), each side moves
    const overHole = attemptSyscall(() => buf.migrate({ to: 'ram' }));
    const backLeft = buf.migrate({ to: 'ram', length: hole * PAGE });
    const backRight = buf.migrate({ to: 'ram', offset: (hole + 1) * PAGE });
    const back = { migrated: backLeft.migrated + backRight.migrated, compound: backLeft.compound + backRight.compound, skipped: backLeft.skipped + backRight.skipped };
    const afterBack = dev.deviceInfo();
    let cpuMismatches = 0;
    for (let i = 0; i < THP; i++) if ((i < hole * PAGE || i >= (hole + 1) * PAGE) && r.bytes[i] !== pattern(i)) cpuMismatches++;
    const delta = (a: DeviceInfo, b: DeviceInfo) => ({
      splits: b.folioSplits - a.folioSplits,
      frees: b.folioFrees - a.folioFrees,
      inUse: start.devmemFree - b.devmemFree,
      faults: b.cpuFaults - a.cpuFaults,
    });
    return {
      cpuOrder,
      moved,
      thpAllocs: onDevice.thpAllocs - start.thpAllocs,
      records,
      snap,
      deviceMismatches,
      cpuRead,
      expectedCpuRead: pattern(3 * PAGE),
      overHole,
      back,
      cpuMismatches,
      munmap: delta(onDevice, afterMunmap),
      cpuReadStep: delta(afterMunmap, afterCpuRead),
      backStep: delta(afterCpuRead, afterBack),
    };
  } finally {
    r.unmapOuter();
  }
}

/**
 * fork() with pages on the device: both processes share the device pages
 * copy-on-write; the child reads them (a fault-back in the child) and writes
 * one; the parent still has its bytes, and the device reads the parent's.
 */
export async function forkWithDevicePages() {
  const { forkChild } = await import('../memory/fork.js');
  using dev = MockDrm.open();
  // Its own VMA: fork write-protects whole VMAs, and the record's range is the VMA's.
  const r = mapAnonAlone(2 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    buf.migrate({ to: 'device' });
    dev.drainInvalidations();
    const before = dev.deviceInfo();
    const child = await forkChild([
      { op: 'read', address: r.addr, length: 2 },
      { op: 'write', address: r.addr + BigInt(PAGE), length: 1, value: 0x77 },
      { op: 'read', address: r.addr + BigInt(PAGE), length: 1 },
    ]).done;
    const records = short(dev.drainInvalidations().records, r.addr);
    const after = dev.deviceInfo();
    const snapParent = buf.snapshot().map(state);
    const device = Array.from(await buf.read(0, 2 * PAGE)).filter((_, i) => i % PAGE === 0);
    const parentCpu = [r.bytes[0], r.bytes[PAGE]];
    return {
      childExit: child.exitCode,
      childReads: child.results.map((x) => (x?.bytes ? Array.from(x.bytes) : x?.ok)),
      records,
      faults: after.cpuFaults - before.cpuFaults,
      snapParent,
      device,
      parentCpu,
      expected: [pattern(0), pattern(PAGE)],
      expectedChildRead: [pattern(0), pattern(1)],
    };
  } finally {
    unmapAlone(r);
  }
}

/** move_pages() to NUMA node 1 of pages on the device: the kernel's answer per page, and the bytes. */
export async function numaMovePages() {
  const { movePages } = await import('../memory/numa.js');
  using dev = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    buf.migrate({ to: 'device' });
    dev.drainInvalidations();
    const moved = attemptSyscall(() => movePages([r.addr, r.addr + BigInt(PAGE)], [1, 1]));
    const records = short(dev.drainInvalidations().records, r.addr);
    const snap = buf.snapshot().map(state);
    const device = Array.from(await buf.read(0, 2 * PAGE)).filter((_, i) => i % PAGE === 0);
    return { moved, records, snap, device, expected: [pattern(0), pattern(PAGE)] };
  } finally {
    unmapAll(r);
  }
}

/**
 * A process that exits with pages on the device (and its device file open):
 * the mm's teardown frees the device pages (folio_free) and the device
 * memory is whole again.
 */
export function processExit(pages: number) {
  using dev = MockDrm.open();
  const before = dev.deviceInfo();
  const script = `
    const { MockDrm } = await import(${JSON.stringify(new URL('../mirror/mockdrm.js', import.meta.url).href)});
    const { mapAnon } = await import(${JSON.stringify(new URL('./common.js', import.meta.url).href)});
    const dev = MockDrm.open();
    const r = mapAnon(${pages} * 4096);
    r.bytes.fill(7);
    const buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    const m = buf.migrate({ to: 'device' });
    console.log(JSON.stringify({ migrated: m.migrated, free: dev.deviceInfo().devmemFree }));
    process.exit(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const child = JSON.parse(out.trim().split('\n').pop()!) as { migrated: number; free: number };
  const after = dev.deviceInfo();
  return { child, before, after };
}

/**
 * Two devices mirror one range and device 0 moves it into its memory. With
 * another owner, device 1's hmm_range_fault() faults the pages back to
 * system memory first (device 0 then sees a MIGRATE with its own owner from
 * the fault path, which it handles); with the same owner, device 1 maps
 * device 0's pages as they are.
 */
export async function secondDevice() {
  const [a, b] = MockDrm.openAll();
  try {
    if (!b) throw new Error('secondDevice: needs two mirrordrm devices (devices=2)');
    const infoA = a.deviceInfo();
    const infoB = b.deviceInfo();
    const r = mapAnon(2 * PAGE);
    try {
      fill(r);
      using bufA = await a.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
      using bufB = await b.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
      bufA.migrate({ to: 'device' });
      const recordsMigrateA = short(a.drainInvalidations().records, r.addr);
      const recordsMigrateB = short(b.drainInvalidations().records, r.addr);
      const faultsBefore = a.deviceInfo().cpuFaults;
      const readB = await bufB.read(0, 2 * PAGE);
      const recordsA = short(a.drainInvalidations().records, r.addr);
      const recordsB = short(b.drainInvalidations().records, r.addr);
      return {
        owners: [infoA.owner, infoB.owner],
        recordsMigrateA,
        recordsMigrateB,
        readMismatches: mismatches(readB, 0),
        faultBacks: a.deviceInfo().cpuFaults - faultsBefore,
        recordsA,
        recordsB,
        snapA: bufA.snapshot().map(state),
        snapB: bufB.snapshot().map(state),
      };
    } finally {
      unmapAll(r);
    }
  } finally {
    a.close();
    b?.close();
  }
}

/**
 * Device atomics: make_device_exclusive() on two pages, then a CPU write to
 * the first takes it back (a CLEAR the object handles); the device then
 * reads the CPU's byte.
 */
export async function exclusiveAgainstCpuWrite() {
  using dev = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
    dev.drainInvalidations();
    const made = buf.exclusive();
    const recordsExclusive = short(dev.drainInvalidations().records, r.addr);
    const snapExclusive = buf.snapshot().map(state);
    r.bytes[10] = 0x99;
    const recordsCpu = short(dev.drainInvalidations().records, r.addr);
    const snapAfter = buf.snapshot().map(state);
    const device = Array.from(await buf.read(10, 1));
    return { made, recordsExclusive, snapExclusive, recordsCpu, snapAfter, device };
  } finally {
    unmapAll(r);
  }
}

/**
 * Migrations the driver refuses or cannot finish, and the bytes after each:
 * bad ranges, memory that cannot move (shmem, file, hugetlb), a pinned
 * (GUP) object, a read-only object, and device memory running out.
 */
export async function migrateRefusals(hugetlbPath: string | null) {
  using dev = MockDrm.open();
  const out: Record<string, unknown> = {};
  const r = mapAnon(4 * PAGE);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm' });
    const ioctl = (offset: number, length: number, flags: number) =>
      attemptSyscall(() => native.mirrordrm.migrate(dev.fd, buf.handle, offset, length, flags));
    const K = native.mirrordrmConstants;
    out.unaligned = ioctl(100, PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE);
    out.pastEnd = ioctl(3 * PAGE, 2 * PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE);
    out.zeroLength = ioctl(0, 0, K.MIRRORDRM_MIGRATE_TO_DEVICE);
    out.overflow = ioctl(PAGE, Number.MAX_SAFE_INTEGER - 4095, K.MIRRORDRM_MIGRATE_TO_DEVICE);
    out.bothDirections = ioctl(0, PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE | K.MIRRORDRM_MIGRATE_TO_RAM);
    out.unknownFlag = ioctl(0, PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE | 0x80);
    out.noHandle = attemptSyscall(() => native.mirrordrm.migrate(dev.fd, 0x7777, 0, PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE));
    out.exclusiveFlags = attemptSyscall(() => native.mirrordrm.exclusive(dev.fd, buf.handle, 0, 0));
    out.bytesIntact = mismatches(r.bytes, 0) === 0;
  } finally {
    unmapAll(r);
  }

  // memory that does not migrate: refused before anything moves
  const c = native.mmConstants;
  const kinds: Record<string, () => { addr: bigint; length: number; close: () => void }> = {
    shmem: () => {
      const a = native.mmap(0n, 2 * PAGE, c.PROT_READ | c.PROT_WRITE, c.MAP_SHARED | c.MAP_ANONYMOUS, -1, 0);
      return { addr: a, length: 2 * PAGE, close: () => native.munmap(a, 2 * PAGE) };
    },
    file: () => {
      const p = '/tmp/mirrordrm-devmem-file';
      fs.writeFileSync(p, Buffer.alloc(2 * PAGE, 3));
      const fd = fs.openSync(p, 'r+');
      const a = native.mmap(0n, 2 * PAGE, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE, fd, 0);
      fs.closeSync(fd);
      return { addr: a, length: 2 * PAGE, close: () => native.munmap(a, 2 * PAGE) };
    },
  };
  if (hugetlbPath !== null) {
    kinds.hugetlb = () => {
      const a = native.mmap(0n, THP, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_HUGETLB, -1, 0);
      return { addr: a, length: THP, close: () => native.munmap(a, THP) };
    };
  }
  for (const [name, make] of Object.entries(kinds)) {
    const m = make();
    try {
      const v = native.newView(m.addr, m.length, false);
      const bytes = new Uint8Array(v.buffer);
      bytes.fill(0x42);
      using b = await dev.userptr({ address: m.addr, length: m.length }, { mode: 'hmm' });
      out[name] = { result: attemptSyscall(() => b.migrate({ to: 'device' })), bytesIntact: bytes.every((x) => x === 0x42) };
      native.releaseView(v.buffer, v.record);
    } finally {
      m.close();
    }
  }

  // pinned pages do not migrate; a read-only object may not own device pages
  const p = mapAnon(2 * PAGE);
  try {
    fill(p);
    using pinned = await dev.userptr({ address: p.addr, length: p.length }, { mode: 'gup' });
    out.pinned = attemptSyscall(() => pinned.migrate({ to: 'device' }));
    pinned.close();
    using ro = await dev.userptr({ address: p.addr, length: p.length }, { mode: 'hmm', readOnly: true });
    out.readOnly = attemptSyscall(() => ro.migrate({ to: 'device' }));
    out.pinnedBytesIntact = mismatches(p.bytes, 0) === 0;
  } finally {
    unmapAll(p);
  }
  return out;
}

/**
 * More pages than the device has (load the module with a small devmem_mb):
 * ENOSPC after what fit moved, the rest in system memory, every byte intact.
 * MIGRATE walks the range in steps that end on 2 MiB boundaries, so where
 * the range starts decides which step runs out: `pagesBelow` places it that
 * many pages below a boundary (0: on one). The counts must not depend on it.
 */
export async function exhaustDeviceMemory(mode: MirrorMode = 'hmm', pagesBelow = 0) {
  using dev = MockDrm.open();
  const info = dev.deviceInfo();
  const pages = info.devmemPages + 16;
  const r = mapAnonFromPmd(pages * PAGE, pagesBelow);
  try {
    fill(r);
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode, populate: true });
    let result: { ok: true; migrated: number } | { ok: false; code: string; migrated: number; skipped: number };
    try {
      result = { ok: true, migrated: buf.migrate({ to: 'device' }).migrated };
    } catch (e) {
      const err = e as { code: string; args?: Record<string, number | bigint> };
      result = { ok: false, code: err.code, migrated: Number(err.args?.migrated), skipped: Number(err.args?.skipped) };
    }
    const full = dev.deviceInfo();
    const deviceRead = await buf.read(0, r.length);
    const deviceMismatches = mismatches(deviceRead, 0);
    const back = buf.migrate({ to: 'ram' });
    const cpuMismatches = mismatches(r.bytes, 0);
    return { pages, devmemPages: info.devmemPages, result, full, deviceMismatches, back, cpuMismatches, after: dev.deviceInfo() };
  } finally {
    unmapAll(r);
  }
}

/** Pages left on the device by a process that closed the device: kept at unload? (evicted). */
export async function leaveOnDevice(pages: number) {
  const dev = MockDrm.open();
  const r = mapAnon(pages * PAGE);
  fill(r);
  const buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm', populate: true });
  const moved = buf.migrate({ to: 'device' });
  buf.close();
  dev.close();
  native.releaseView(r.view.buffer, r.view.record);
  return { addr: r.addr, length: r.length, moved: moved.migrated };
}

/** After the module went away: the CPU reads back what leaveOnDevice() left. */
export function readLeft(addr: bigint, length: number) {
  const v = native.newView(addr, length, false);
  const bytes = new Uint8Array(v.buffer);
  const bad = mismatches(bytes, 0);
  native.releaseView(v.buffer, v.record);
  native.munmap(addr, length);
  return { mismatches: bad };
}

/** On a kernel without device memory: what DEVICE_INFO says and what MIGRATE answers. */
export async function migrateUnsupported() {
  using dev = MockDrm.open();
  const r = mapAnon(PAGE);
  try {
    using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode: 'hmm' });
    return {
      info: dev.deviceInfo(),
      migrate: attemptSyscall(() => buf.migrate({ to: 'device' })),
      exclusive: attemptSyscall(() => buf.exclusive()),
    };
  } finally {
    unmapAll(r);
  }
}
