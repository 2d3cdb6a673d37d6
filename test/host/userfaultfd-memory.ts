// Memory for the userfaultfd tests: Mappings, plus a memfd mapped twice.
import { native } from '../../src/addon.js';
import { Mapping, PAGE_SIZE } from '../../src/memory/index.js';
import { pageState } from '../../src/pagestate/index.js';
import { Userfaultfd, type UffdApiInfo, type UffdFeature } from '../../src/userfaultfd/index.js';

export const PAGE: number = PAGE_SIZE;
export { Mapping };

/** A memfd mapped MAP_SHARED twice: `a` and `b` see the same page cache. */
export function memfdTwice(length: number): { a: Mapping; b: Mapping; [Symbol.dispose](): void } {
  const a = Mapping.memfd(length);
  const M = native.mmConstants;
  const addr = native.mmap(0n, length, M.PROT_READ | M.PROT_WRITE, M.MAP_SHARED, a.fd!, 0);
  const b = Mapping.adopt(addr, length, { shared: true });
  return {
    a,
    b,
    [Symbol.dispose]() {
      b.unmap();
      a.unmap();
    },
  };
}

/** /proc/self/pagemap: is the page at `address` present? */
export function pagePresent(address: bigint): boolean {
  return pageState({ address, length: PAGE }).page(0).present;
}

export function pattern(length: number, seed: number): Uint8Array {
  const p = new Uint8Array(length);
  for (let i = 0; i < length; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}


/** What this kernel offers, or null (with the reason printed) when no uffd can be opened. */
export const uffdProbe: UffdApiInfo | null = (() => {
  try {
    return Userfaultfd.probe();
  } catch (e) {
    console.warn(`skipped: userfaultfd unavailable here: ${(e as Error).message}`);
    return null;
  }
})();

/** True (and the reason printed) when the kernel lacks a feature. */
export function lacks(f: UffdFeature): boolean {
  if (!uffdProbe) return true;
  const missing = !uffdProbe.offered.includes(f);
  if (missing) console.warn(`skipped: this kernel does not offer UFFD_FEATURE_${f} (offers ${uffdProbe.offered.join(' ')})`);
  return missing;
}
