// mirrordrm MODE_SVM (the kernel's drm_gpusvm helpers) against our own HMM
// mode, scenario by scenario (test/guest/mirrordrm-svm.test.ts): each function
// takes the mode, runs the same steps on a 64 KiB-aligned 64 KiB object inside
// a larger anonymous mapping (so drm_gpusvm can pick its 64 KiB chunk), and
// returns bytes, records and counters for the host to assert on per mode.
import fs from 'node:fs';
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { MIRRORDRM_LAYOUT } from '../../mirror/uapi.js';
import { PAGE, attempt, brief, pattern, rows, type Region } from '../common.js';
import type { MirrorMode, MirroredBuffer } from '../../mirror/types.js';

/** drm_gpusvm's middle chunk size (xe's 2 MiB / 64 KiB / 4 KiB). */
export const SVM_CHUNK = 64 * 1024;
const OBJ_PAGES = SVM_CHUNK / PAGE;

/**
 * An anonymous mapping of 2 * SVM_CHUNK and, inside it, the SVM_CHUNK-aligned
 * window the object registers: the VMA is larger than the object, so the
 * chunk that fits is the object's 64 KiB.
 */
interface Aligned {
  region: Region;
  /** Object start (SVM_CHUNK-aligned). */
  addr: bigint;
  /** Offset of the object in region.bytes. */
  off: number;
  bytes: Uint8Array;
  free(): void;
}

function mapAligned(fill: number | ((i: number) => number)): Aligned {
  const c = native.mmConstants;
  const len = 2 * SVM_CHUNK;
  const base: bigint = native.mmap(0n, len, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  const view = native.newView(base, len, false);
  const all = new Uint8Array(view.buffer);
  const chunk = BigInt(SVM_CHUNK);
  const addr = ((base + chunk - 1n) / chunk) * chunk;
  const off = Number(addr - base);
  const bytes = all.subarray(off, off + SVM_CHUNK);
  if (typeof fill === 'number') bytes.fill(fill);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = fill(i);
  const region: Region = { addr: base, length: len, bytes: all, view };
  let freed = false;
  return {
    region,
    addr,
    off,
    bytes,
    free() {
      if (freed) return;
      freed = true;
      native.releaseView(view.buffer, view.record);
      native.munmap(base, len);
    },
  };
}

/** Pages the device view holds (snapshot), and how many of them are the CPU's page. */
function deviceView(buf: MirroredBuffer) {
  const snap = buf.snapshot(0, OBJ_PAGES);
  return {
    valid: snap.filter((p) => p.device.valid).length,
    same: snap.filter((p) => p.device.valid && p.device.sameAsCpu).length,
    pages: snap.map((p) => brief(p).dev).join(' '),
  };
}

function counters(buf: MirroredBuffer) {
  const s = buf.stats();
  return { populates: s.populates, revalidations: s.revalidations, invalidations: s.invalidations, pagesDropped: s.pagesDropped, pagesValid: s.pagesValid, readRetry: s.readRetry };
}

/**
 * Whether the kernel takes the mode (ok, or the errno it refuses it with),
 * and drm_gpusvm_helper's use count (/sys/module/.../refcnt: mirrordrm
 * holds it when it was linked against it), null when it is not loaded.
 */
export async function svmSupported(mode: MirrorMode = 'svm') {
  using dev = MockDrm.open();
  const a = mapAligned(0);
  const ref = '/sys/module/drm_gpusvm_helper/refcnt';
  try {
    const registration = await attempt(async () => {
      const b = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
      b.close();
      return true;
    });
    return { registration, helperRefcnt: fs.existsSync(ref) ? Number(fs.readFileSync(ref, 'utf8').trim()) : null };
  } finally {
    a.free();
  }
}

/**
 * Device read of 3 pages from offset PAGE + 100, then a 2-byte device write
 * across the page 4/5 boundary: the bytes, and how much the device mapped.
 */
export async function svmReadWrite(mode: MirrorMode) {
  using dev = MockDrm.open();
  const a = mapAligned(pattern);
  try {
    using buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
    const got = await buf.read(PAGE + 100, 3 * PAGE);
    let mismatches = 0;
    for (let i = 0; i < got.length; i++) if (got[i] !== pattern(PAGE + 100 + i)) mismatches++;
    const afterRead = { ...deviceView(buf), ...counters(buf) };
    const w = await buf.write(5 * PAGE - 1, new Uint8Array([0xa5, 0xa5]));
    const cpu = [a.bytes[5 * PAGE - 2], a.bytes[5 * PAGE - 1], a.bytes[5 * PAGE], a.bytes[5 * PAGE + 1]];
    const expect = [pattern(5 * PAGE - 2), 0xa5, 0xa5, pattern(5 * PAGE + 1)];
    return { mismatches, length: got.length, cpu, expect, afterRead, writePopulates: w.populates, afterWrite: { ...deviceView(buf), ...counters(buf) } };
  } finally {
    a.free();
  }
}

/**
 * The device maps the whole object, then munmap of page 1: the records, then
 * device reads of pages 0, 1 and 2 and what the device view holds after.
 */
export async function svmMunmapPartial(mode: MirrorMode) {
  using dev = MockDrm.open();
  const a = mapAligned(1);
  try {
    using buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
    await buf.read(0, SVM_CHUNK);
    const before = deviceView(buf);
    dev.drainInvalidations();
    native.munmap(a.addr + BigInt(PAGE), PAGE);
    const records = rows(dev.drainInvalidations().records, a.addr);
    const afterUnmap = deviceView(buf);
    const read = async (page: number) => attempt(async () => Array.from(await buf.read(page * PAGE, 1)));
    const page0 = await read(0);
    const page1 = await read(1);
    const page2 = await read(2);
    return { handle: buf.handle, before, records, afterUnmap, page0, page1, page2, afterReads: deviceView(buf), stats: counters(buf) };
  } finally {
    a.free();
  }
}

/**
 * mprotect(PROT_READ) of the whole mapping after the device mapped the
 * object (a writable object, and a READ_ONLY one): records, then a device read.
 */
export async function svmMprotectReadOnly(mode: MirrorMode, readOnly: boolean) {
  using dev = MockDrm.open();
  const a = mapAligned(2);
  try {
    using buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode, readOnly });
    await buf.read(0, SVM_CHUNK);
    dev.drainInvalidations();
    native.mprotect(a.region.addr, a.region.length, native.mmConstants.PROT_READ);
    const records = rows(dev.drainInvalidations().records, a.addr);
    const after = await attempt(async () => Array.from(await buf.read(0, 1)));
    return { handle: buf.handle, records, after, view: deviceView(buf), stats: counters(buf), regionRel: Number(a.region.addr - a.addr) };
  } finally {
    a.free();
  }
}

/**
 * The device maps the object; MADV_DONTNEED of pages 0-1; the CPU writes
 * 0x22 to byte 0: records, then what the device reads at pages 0 and 5.
 */
export async function svmDontneedWrite(mode: MirrorMode) {
  using dev = MockDrm.open();
  const a = mapAligned(0x11);
  try {
    using buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
    await buf.read(0, SVM_CHUNK);
    const populatesBefore = buf.stats().populates;
    dev.drainInvalidations();
    native.madvise(a.addr, 2 * PAGE, native.mmConstants.MADV_DONTNEED);
    a.bytes[0] = 0x22;
    const records = rows(dev.drainInvalidations().records, a.addr);
    const afterAdvice = deviceView(buf);
    const device0 = (await buf.read(0, 1))[0];
    const device5 = (await buf.read(5 * PAGE, 1))[0];
    const s = counters(buf);
    return { records, afterAdvice, device0, device5, cpu0: a.bytes[0], populatesAfter: s.populates - populatesBefore, view: deviceView(buf), stats: s };
  } finally {
    a.free();
  }
}

/**
 * Fork with the device holding the whole object; while the child waits the
 * parent writes 0x32 to byte 0 (copy-on-write) and the device reads byte 0;
 * then the child writes 0x33 there and reads it back. A device fault asks
 * for write access (the object is writable), so it breaks copy-on-write on
 * every page it maps: one page under hmm, the whole range under svm.
 */
export async function svmForkCow(mode: MirrorMode) {
  const { forkChild } = await import('../../memory/fork.js');
  using dev = MockDrm.open();
  const a = mapAligned(0x31);
  try {
    using buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
    await buf.read(0, SVM_CHUNK);
    dev.drainInvalidations();
    const h = forkChild([
      { op: 'wait' },
      { op: 'write', address: a.addr, length: PAGE, value: 0x33 },
      { op: 'read', address: a.addr, length: 1 },
      { op: 'read', address: a.addr + BigInt(PAGE), length: 1 },
    ]);
    await h.waiting();
    const atFork = rows(dev.drainInvalidations().records, a.addr);
    a.bytes[0] = 0x32;
    const atParentWrite = rows(dev.drainInvalidations().records, a.addr);
    const device = (await buf.read(0, 1))[0];
    const atDeviceRead = rows(dev.drainInvalidations().records, a.addr);
    const view = deviceView(buf);
    h.resume();
    const child = await h.done;
    const afterChild = rows(dev.drainInvalidations().records, a.addr);
    return {
      childExit: child.exitCode,
      childSignal: child.signal,
      child: [child.results[2]?.bytes?.[0] ?? null, child.results[3]?.bytes?.[0] ?? null],
      cpu: a.bytes[0],
      device,
      atFork,
      atParentWrite,
      atDeviceRead,
      afterChild,
      view,
      stats: counters(buf),
    };
  } finally {
    a.free();
  }
}

/**
 * Process exit and close. A forked child registers a populated object of the
 * mode on the file it shares with the parent and exits with it alive: the
 * records, then a device read through it from the parent. Then the parent's
 * own populated object is closed: no record, the file's counters drop.
 */
export async function svmExitClose(mode: MirrorMode) {
  const { runInChild } = await import('../../memory/fork.js');
  const md = native.mirrordrm;
  const K = native.mirrordrmConstants;
  using dev = MockDrm.open();
  const a = mapAligned(0x11);
  const U = MIRRORDRM_LAYOUT.drm_mirrordrm_userptr;
  const arg = new Uint8Array(U.sizeof);
  const dv = new DataView(arg.buffer);
  dv.setBigUint64(U.address, a.addr, true);
  dv.setBigUint64(U.size, BigInt(SVM_CHUNK), true);
  dv.setUint32(U.flags, (mode === 'svm' ? K.MIRRORDRM_USERPTR_MODE_SVM : K.MIRRORDRM_USERPTR_MODE_HMM) | K.MIRRORDRM_USERPTR_POPULATE, true);
  try {
    dev.drainInvalidations();
    const res = await runInChild([
      { op: 'write', address: a.addr, length: SVM_CHUNK, value: 0x5c },
      { op: 'ioctl', fd: dev.fd, request: K.DRM_IOCTL_MIRRORDRM_USERPTR as number, data: arg },
    ]);
    const x = res.results[1];
    if (!x?.ok || !x.bytes) throw new Error(`child USERPTR failed: ${x?.code}`);
    const handle = new DataView(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength).getUint32(U.handle, true);
    const all = dev.drainInvalidations();
    const records = all.records
      .filter((r) => r.handle === handle)
      .map((r) => ({ event: r.event, start: r.start, end: r.end, blockable: r.blockable, child: r.pid === res.pid, pagesDropped: r.pagesDropped }));
    const device = await attempt(() => {
      const b = new Uint8Array(1);
      md.access(dev.fd, handle, 0, K.MIRRORDRM_ACCESS_READ, b);
      return Array.from(b);
    });
    const { decodeCounters } = await import('../../mirror/decode.js');
    const childObj = decodeCounters(md.stats(dev.fd, handle));
    md.gemClose(dev.fd, handle);

    // close: the parent's own populated object
    const buf = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode, populate: true });
    const open = dev.stats();
    dev.drainInvalidations();
    buf.close();
    const closed = dev.stats();
    const closeRecords = dev.drainInvalidations().records.length;
    // the memory is the parent's again: a new object reads the parent's bytes
    using again = await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode });
    const parentBytes = Array.from(await again.read(0, 1));
    return {
      childExit: res.exitCode,
      otherRecords: all.records.length - records.length,
      records,
      lost: all.lost,
      device,
      childObj: { populates: childObj.populates, pagesDropped: childObj.pagesDropped, pagesValid: childObj.pagesValid, release: childObj.byEvent.RELEASE },
      open: { objects: open.objects, pagesValid: open.pagesValid },
      closed: { objects: closed.objects, pagesValid: closed.pagesValid },
      closeRecords,
      parentBytes,
    };
  } finally {
    a.free();
  }
}

/**
 * What USERPTR refuses around MODE_SVM, straight to the kernel (the facade
 * refuses repin for svm before any ioctl): SVM with GUP_REPIN, and mode 0x6.
 */
export async function svmRefusals() {
  using dev = MockDrm.open();
  const K = native.mirrordrmConstants;
  const a = mapAligned(0);
  try {
    const raw = (flags: number) => attempt(() => native.mirrordrm.userptr(dev.fd, a.addr, SVM_CHUNK, flags));
    return {
      facadeRepin: await attempt(async () => (await dev.userptr({ address: a.addr, length: SVM_CHUNK }, { mode: 'svm', repin: true })).handle),
      svmRepin: await raw(K.MIRRORDRM_USERPTR_MODE_SVM | K.MIRRORDRM_USERPTR_GUP_REPIN),
      mode6: await raw(K.MIRRORDRM_USERPTR_MODE_SVM + 1),
      svmReadOnlyPopulate: await raw(K.MIRRORDRM_USERPTR_MODE_SVM | K.MIRRORDRM_USERPTR_READ_ONLY | K.MIRRORDRM_USERPTR_POPULATE),
      // MIGRATE of an svm object, which has no interval notifier of its own
      // (drm_gpusvm inserts one per range): refused with EINVAL, never a
      // walk through a notifier that is not there.
      svmMigrate: await attempt(() => {
        const handle = native.mirrordrm.userptr(dev.fd, a.addr, SVM_CHUNK, K.MIRRORDRM_USERPTR_MODE_SVM);
        return native.mirrordrm.migrate(dev.fd, handle, 0, PAGE, K.MIRRORDRM_MIGRATE_TO_DEVICE);
      }),
    };
  } finally {
    a.free();
  }
}

/**
 * A 2 MiB THP (2 MiB aligned, MADV_HUGEPAGE): device reads at three offsets
 * and a device write at page 300, with the CPU's mapping order. drm_gpusvm
 * maps a PMD-mapped THP as one DMA mapping of order 9, so the svm device
 * finds page 300 as page 300 of that mapping.
 */
export async function svmThp(mode: MirrorMode) {
  const { Mapping } = await import('../../memory/mapping.js');
  const HUGE = 2 * 1024 * 1024;
  using dev = MockDrm.open();
  using m = Mapping.anonymous(HUGE, { thp: true });
  const view = m.view;
  for (let i = 0; i < view.length; i++) view[i] = pattern(i);
  using buf = await dev.userptr({ address: m.address, length: HUGE }, { mode });
  const offsets = [0, 300 * PAGE + 5, HUGE - 1];
  const read = [];
  for (const o of offsets) read.push({ offset: o, device: (await buf.read(o, 1))[0], want: pattern(o) });
  await buf.write(300 * PAGE + 7, new Uint8Array([0xee]));
  const cpu = view[300 * PAGE + 7];
  const snap = buf.snapshot(0, HUGE / PAGE);
  return {
    read,
    cpu,
    cpuOrder: snap[0].cpu.order,
    valid: snap.filter((p) => p.device.valid).length,
    same: snap.filter((p) => p.device.valid && p.device.sameAsCpu).length,
    populates: buf.stats().populates,
  };
}
