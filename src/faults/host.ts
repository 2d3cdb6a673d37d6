// Small host helpers used by the fault measurements: a temporary hugetlb
// pool reservation (restored afterwards) and the smaps fields of one VMA.
import { readFileSync, writeFileSync } from 'node:fs';

const hugeDir = (kb: number) => `/sys/kernel/mm/hugepages/hugepages-${kb}kB`;

function readNum(p: string): number {
  return Number(readFileSync(p, 'utf8').trim());
}

export interface PoolReservation {
  /** Huge page size in kB. */
  sizeKb: number;
  /** nr_hugepages before, to be restored. */
  before: number;
  /** Put nr_hugepages back. */
  restore(): void;
}

/** Make sure `count` free huge pages of `sizeKb` exist, growing the pool if
 * needed. Returns null with a reason when the pool cannot provide them. */
export function reserveHugePages(sizeKb: number, count: number): PoolReservation | { reason: string } {
  const dir = hugeDir(sizeKb);
  let before: number, free: number;
  try {
    before = readNum(`${dir}/nr_hugepages`);
    free = readNum(`${dir}/free_hugepages`);
  } catch (e) {
    return { reason: `${dir} not readable: ${(e as Error).message}` };
  }
  const restore = () => {
    try {
      writeFileSync(`${dir}/nr_hugepages`, String(before));
    } catch {
      /* restoring is best effort; the pool shrinks as pages become free */
    }
  };
  if (free < count) {
    try {
      writeFileSync(`${dir}/nr_hugepages`, String(before + count - free));
    } catch (e) {
      return { reason: `writing ${dir}/nr_hugepages: ${(e as Error).message}` };
    }
    const got = readNum(`${dir}/free_hugepages`);
    if (got < count) {
      restore();
      return { reason: `${dir}: asked for ${count} free pages, the kernel could only provide ${got} (memory fragmented or short)` };
    }
  }
  return { sizeKb, before, restore };
}

/** The smaps fields (kB values as numbers, others as strings) of the VMA containing `address`. */
export function smapsOf(address: bigint, pid: number | 'self' = 'self'): Record<string, number | string> | null {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const lines = text.split('\n');
  let cur: Record<string, number | string> | null = null;
  for (const line of lines) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      if (cur) return cur;
      const lo = BigInt('0x' + m[1]);
      const hi = BigInt('0x' + m[2]);
      if (address >= lo && address < hi) cur = { range: `${m[1]}-${m[2]}` };
      continue;
    }
    if (!cur) continue;
    const f = /^(\w+):\s+(.*)$/.exec(line);
    if (!f) continue;
    const kb = /^(\d+) kB$/.exec(f[2]);
    cur[f[1]] = kb ? Number(kb[1]) : f[2].trim();
  }
  return cur;
}

/** The bracketed word of a /sys/kernel/mm/transparent_hugepage file, or null. */
export function thpSetting(file: 'enabled' | 'defrag' | 'shmem_enabled'): string | null {
  try {
    return /\[(\S+)\]/.exec(readFileSync(`/sys/kernel/mm/transparent_hugepage/${file}`, 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}
