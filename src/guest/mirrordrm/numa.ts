// mirrordrm scenarios in the guest: NUMA balancing hints and page migration between nodes.
import fs from 'node:fs';
import { MockDrm } from '../../mirror/mockdrm.js';
import { PAGE, mapAnon, unmapAll, attempt, rel, rows, mapBacking, brief, type Backing } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';

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
  // Balancing off until the records are drained (guests boot with it off,
  // numa_balancing=disable, but a guest may have switched it on): a scan
  // between the populate and the drain would take the hinting pass's
  // record with it, leaving only its page migrations.
  const prev = await setNumaBalancing(0);
  try {
    using buf = await dev.userptr({ address: r.addr, length: len }, { mode, populate: true });
    dev.drainInvalidations();
    await setNumaBalancing(1);
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
 * Page migration between the guest's two NUMA nodes: move_pages to the other
 * node, then mbind(MPOL_BIND, MOVE | STRICT) back. Per page: what move_pages
 * said, where the page is after, the records, and the bytes the device reads.
 * On 'anon' the buffer is 8 pages of 4 KiB and every page is asked for; on
 * THP and 2 MiB hugetlb it is one 2 MiB folio and move_pages is given its
 * first address (the kernel moves the whole folio); on shmem it is 8 pages of
 * a shared memfd.
 */
export async function numaMigrate(mode: MirrorMode, backing: Backing = 'anon') {
  const { pageNodes, movePages, mbind } = await import('../../memory/numa.js');
  const online = fs.existsSync('/sys/devices/system/node/online') ? fs.readFileSync('/sys/devices/system/node/online', 'utf8').trim() : '';
  if (online !== '0-1') return { available: false as const, reason: `NUMA nodes online: '${online || 'none (no CONFIG_NUMA?)'}', need 0-1` };
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
  try {
    using buf = await dev.userptr({ address: addr, length }, { mode, populate: true });
    const orderBefore = buf.snapshot(0, 1)[0].cpu.order;
    const before = pageNodes(pages).status;
    const target = before.map((x) => (x === 0 ? 1 : 0));
    dev.drainInvalidations();
    const moved = await attempt(() => movePages(pages, target));
    const afterMove = pageNodes(pages).status;
    const moveRaw = dev.drainInvalidations().records;
    const moveRecords = rows(moveRaw, addr);
    const moveBlockable = moveRaw.map((x) => x.blockable);
    const readMove = await attempt(async () => same(await buf.read(0, length)));
    const snapMove = buf.snapshot(0, Math.min(n, 8)).map(brief);
    const orderAfterMove = buf.snapshot(0, 1)[0].cpu.order;
    const mbindTo = afterMove[0] === 0 ? 1 : 0;
    const bound = await attempt(() => mbind({ address: addr, length }, 'bind', [mbindTo], { move: true, strict: true }));
    const afterMbind = pageNodes(pages).status;
    const mbindRecords = rows(dev.drainInvalidations().records, addr);
    const readMbind = await attempt(async () => same(await buf.read(0, length)));
    const cpuSame = same(bytes);
    return { available: true as const, backing, before, target, moved, afterMove, moveRecords, moveBlockable, readMove, snapMove, orderBefore, orderAfterMove, mbindTo, bound, afterMbind, mbindRecords, readMbind, cpuSame, stats: buf.stats() };
  } finally {
    release();
  }
}
