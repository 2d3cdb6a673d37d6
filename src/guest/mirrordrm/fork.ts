// mirrordrm scenarios in the guest: fork and copy-on-write, and objects a child leaves behind at exit.
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { PAGE, mapAnon, unmapAll, attempt, mapBacking, brief } from '../common.js';
import { MIRROR_MODES } from '../../mirror/types.js';
import { MIRRORDRM_LAYOUT } from '../../mirror/uapi.js';

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
  const { forkChild } = await import('../../memory/fork.js');
  using dev = MockDrm.open();
  const modes = MIRROR_MODES;
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
      const mine = records.filter((x) => x.handle === b.handle).map((x) => [x.event, Number(x.start - pages[i].addr), Number(x.end - pages[i].addr), x.pagesDropped, x.keptStale, x.blockable] as const);
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
  const { runInChild } = await import('../../memory/fork.js');
  const { decodeCounters } = await import('../../mirror/decode.js');
  const md = native.mirrordrm;
  const K = native.mirrordrmConstants;
  using dev = MockDrm.open();
  const r = mapAnon(4 * PAGE);
  r.bytes.fill(0x11);
  const U = MIRRORDRM_LAYOUT.drm_mirrordrm_userptr;
  const arg = (flags: number) => {
    const a = new Uint8Array(U.sizeof);
    const dv = new DataView(a.buffer);
    dv.setBigUint64(U.address, r.addr, true);
    dv.setBigUint64(U.size, BigInt(r.length), true);
    dv.setUint32(U.flags, flags, true);
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
      return new DataView(x.bytes.buffer, x.bytes.byteOffset, x.bytes.byteLength).getUint32(U.handle, true);
    };
    const hmm = handleOf(1);
    const gup = handleOf(2);
    const all = dev.drainInvalidations();
    const records = all.records.map((x) => ({ handle: x.handle, event: x.event, start: x.start, end: x.end, blockable: x.blockable, pid: x.pid, pagesDropped: x.pagesDropped }));
    const read = async (h: number) => attempt(() => {
      const b = new Uint8Array(2);
      md.access(dev.fd, h, PAGE - 1, K.MIRRORDRM_ACCESS_READ, b);
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
 * Fork + COW on THP, 2 MiB hugetlb and shmem (MAP_SHARED memfd): one object
 * per mode, each on its own mapping filled with 0x31; after fork the child
 * writes 0x33 to byte 0 and exits, then the parent writes 0x32 there (or the
 * parent writes first while the child waits).
 */
export async function forkCowBacking(backing: 'thp' | 'shmem' | 'hugetlb-2M', order: 'child-first' | 'parent-first' = 'child-first') {
  const { forkChild } = await import('../../memory/fork.js');
  using dev = MockDrm.open();
  const modes = MIRROR_MODES;
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
