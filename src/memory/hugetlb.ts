// hugetlb pools: /sys/kernel/mm/hugepages/hugepages-<size>kB/{nr,free,resv,surplus}_hugepages.
// reserveHugePages() raises a pool to hold at least N free pages and gives back
// what it added when disposed (the previous nr_hugepages is written back).
// The previous value is journaled before the pool grows (restore-journal.ts),
// so a process killed while holding a reservation has it undone by the next.
import fs from 'node:fs';
import { journalSetting, replayDeadJournals } from './restore-journal.js';
import { restoreOnExit } from './restore-on-exit.js';
import { invalidArg } from '../errors.js';
import { checkHugeSize, HUGE_SIZES, type HugeSize } from './constants.js';
import { checkSize } from './validate.js';

const ROOT = '/sys/kernel/mm/hugepages';

export interface HugePool {
  size: HugeSize | string;
  bytes: number;
  dir: string;
  nr: number;
  free: number;
  resv: number;
  surplus: number;
}

function readNum(p: string): number {
  return Number(fs.readFileSync(p, 'utf8').trim());
}

function dirFor(size: HugeSize): string {
  return `${ROOT}/hugepages-${HUGE_SIZES[size] / 1024}kB`;
}

function sizeName(kb: number): string {
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}G`;
  if (kb % 1024 === 0) return `${kb / 1024}M`;
  return `${kb}K`;
}

/** Every pool the kernel offers (empty if hugetlbfs is not built in). */
export function hugePools(): HugePool[] {
  let names: string[];
  try {
    names = fs.readdirSync(ROOT);
  } catch {
    return [];
  }
  const out: HugePool[] = [];
  for (const n of names) {
    const m = /^hugepages-(\d+)kB$/.exec(n);
    if (!m) continue;
    const kb = Number(m[1]);
    const dir = `${ROOT}/${n}`;
    out.push({
      size: sizeName(kb), bytes: kb * 1024, dir,
      nr: readNum(`${dir}/nr_hugepages`), free: readNum(`${dir}/free_hugepages`),
      resv: readNum(`${dir}/resv_hugepages`), surplus: readNum(`${dir}/surplus_hugepages`),
    });
  }
  return out.sort((a, b) => a.bytes - b.bytes);
}

/** One pool's counters, or undefined when this size does not exist here. */
export function hugePool(size: HugeSize): HugePool | undefined {
  checkHugeSize(size);
  return hugePools().find((p) => p.bytes === HUGE_SIZES[size]);
}

export interface HugeReservation {
  size: HugeSize;
  /** free pages now usable by this process (free - resv at reservation time) */
  available: number;
  /** nr_hugepages before, written back on dispose */
  previous: number;
  /** pages added to the pool by this reservation */
  added: number;
  release(): void;
  [Symbol.dispose](): void;
}

/**
 * Make sure `count` pages of `size` are free (free - resv >= count), growing
 * nr_hugepages if needed (root only). The kernel may grant fewer pages than
 * asked (fragmented memory, 1 GiB pages especially): then the pool is put
 * back and an Error with code 'ENOMEM' says how many it got.
 * Disposal writes the previous nr_hugepages back (only if this call changed it).
 */
export function reserveHugePages(size: HugeSize, count: number): HugeReservation {
  checkHugeSize(size);
  const n = checkSize('count', count, { nonZero: true });
  const dir = dirFor(size);
  if (!fs.existsSync(dir)) throw invalidArg('size', size, `has no pool on this kernel (${dir} missing)`);
  const nrPath = `${dir}/nr_hugepages`;
  // A pool a killed run left grown would look like free pages already there.
  replayDeadJournals();
  const previous = readNum(nrPath);
  const usable = () => readNum(`${dir}/free_hugepages`) - readNum(`${dir}/resv_hugepages`);
  let added = 0;
  let unjournal = () => {};
  if (usable() < n) {
    const target = previous + (n - usable());
    unjournal = journalSetting(nrPath, String(previous));
    try {
      fs.writeFileSync(nrPath, String(target));
    } catch (e) {
      unjournal();
      throw e;
    }
    added = readNum(nrPath) - previous;
    if (added <= 0) unjournal();
    if (usable() < n) {
      const got = usable();
      fs.writeFileSync(nrPath, String(previous));
      unjournal();
      const e = new Error(`ENOMEM: the ${size} hugetlb pool grew to ${previous + added} of ${target} pages asked (${got} usable, ${n} needed)`) as Error & { code: string; got: number };
      e.code = 'ENOMEM';
      e.got = got;
      throw e;
    }
  }
  let released = false;
  const shrink = () => {
    fs.writeFileSync(nrPath, String(previous));
    unjournal();
  };
  const forget = added > 0 ? restoreOnExit(shrink) : () => {};
  const release = () => {
    if (released) return;
    released = true;
    forget();
    if (added > 0) shrink();
  };
  return { size, available: usable(), previous, added, release, [Symbol.dispose]: release };
}
