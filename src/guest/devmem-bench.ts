// Guest-side rounds of the device-memory benchmark (src/bench/suites/
// guest-devmem.ts), called through Vm.call(devmemBench, ...). Each call is
// one round and returns raw samples; the timed loops are native
// (timeMigrate, faultTouch, timeAccess), JavaScript only sets them up.
import { native } from '../addon.js';
import { MockDrm, type MockDrmBuffer } from '../mirror/mockdrm.js';
import { MIRRORDRM } from '../mirror/uapi.js';
import { PAGE } from './common.js';

const THP = 2 << 20;

export type DevmemPages = '4K' | 'thp';

interface Open {
  dev: MockDrm;
  buf: MockDrmBuffer;
  outer: bigint;
  outerLength: number;
  addr: bigint;
  size: number;
  pages: DevmemPages;
}
const open = new Map<number, Open>();
let nextId = 1;

/**
 * Maps `size` bytes (2 MiB aligned; MADV_HUGEPAGE for thp, MADV_NOHUGEPAGE
 * for 4K), writes every page, registers an HMM object over it. Returns the
 * id and the order the first page is mapped at (9 when THP really backs it).
 */
export function migrationOpen(pages: DevmemPages, size: number): { id: number; mapOrder: number } {
  const c = native.mmConstants;
  const outerLength = size + THP;
  const outer: bigint = native.mmap(0n, outerLength, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  const addr = (outer + BigInt(THP - 1)) & ~BigInt(THP - 1);
  const dev = MockDrm.open();
  try {
    native.madvise(addr, size, pages === 'thp' ? c.MADV_HUGEPAGE : c.MADV_NOHUGEPAGE);
    native.patternFill(addr, size, 1n, 0);
    const buf = dev.userptrSync({ address: addr, length: size }, { mode: 'hmm', populate: true });
    const mapOrder = buf.snapshot(0, 1)[0].cpu.order;
    const id = nextId++;
    open.set(id, { dev, buf, outer, outerLength, addr, size, pages });
    return { id, mapOrder };
  } catch (e) {
    dev.close();
    native.munmap(outer, outerLength);
    throw e;
  }
}

function get(id: number): Open {
  const o = open.get(id);
  if (!o) throw new Error(`no migration buffer ${id}`);
  return o;
}

/**
 * One round: `reps` migrations of the whole buffer to the device and back
 * (MIGRATE_COMPOUND for thp), ms per migration of each direction.
 */
export function migrationRound(id: number, reps: number): Record<string, number[]> {
  const o = get(id);
  const flags = o.pages === 'thp' ? MIRRORDRM.MIGRATE_COMPOUND : 0;
  const ns = native.mirrordrm.timeMigrate(o.dev.fd, o.buf.handle, 0, o.size, flags, reps);
  const out: Record<string, number[]> = { 'to-device': [], 'to-ram': [] };
  for (let i = 0; i < ns.length; i++) out[i % 2 === 0 ? 'to-device' : 'to-ram'].push(Number(ns[i]) / 1e6);
  return out;
}

/**
 * One round of CPU fault-back: the buffer goes to the device (untimed), then
 * the CPU reads one byte per page (4K) or per 2 MiB (thp: a PMD-mapped
 * device folio comes back whole) with faultTouch, each read a
 * migrate_to_ram(); ns per fault. And the device reading the same buffer
 * from its own memory against from system memory (ns per page, one read of
 * the whole buffer per sample).
 */
export function faultBackRound(id: number, reads: number): Record<string, number[]> {
  const o = get(id);
  const pages = o.size / PAGE;
  const readNs = (): number[] => {
    const ns = native.mirrordrm.timeAccess(o.dev.fd, o.buf.handle, 0, o.size, MIRRORDRM.ACCESS_READ, reads, -1, 0n, 0);
    return Array.from(ns, (x) => Number(x) / pages);
  };
  // the device view is valid after the first read: later reads copy only
  readNs();
  const systemRead = readNs();
  const flags = o.pages === 'thp' ? MIRRORDRM.MIGRATE_COMPOUND : 0;
  native.mirrordrm.migrate(o.dev.fd, o.buf.handle, 0, o.size, MIRRORDRM.MIGRATE_TO_DEVICE | flags);
  readNs();
  const deviceRead = readNs();
  const touched = native.faultTouch(o.addr, o.size, o.pages === 'thp' ? THP : PAGE, false);
  const faults = Array.from(touched.reps.flatMap((r) => Array.from(r.samples)));
  return { 'fault-back': faults, 'device-read/system': systemRead, 'device-read/device': deviceRead };
}

export function migrationClose(id: number): void {
  const o = open.get(id);
  if (!o) return;
  open.delete(id);
  o.buf.close();
  o.dev.close();
  native.munmap(o.outer, o.outerLength);
}
