// Small mappings for the userfaultfd tests, straight from the addon's mmap
// family, shaped like a Mapping ({ address, length, view }).
import fs from 'node:fs';
import { native } from '../../src/addon.js';

const M = native.mmConstants;
export const PAGE: number = M.PAGE_SIZE;

export interface TestMapping {
  address: bigint;
  length: number;
  view: Uint8Array;
  /** Forget the range without unmapping it (it was unmapped or moved by the test). */
  forget(): void;
  [Symbol.dispose](): void;
}

function wrap(address: bigint, length: number, after?: () => void): TestMapping {
  const { buffer, record } = native.newView(address, length, false);
  let mapped = true;
  const release = () => {
    if (!mapped) return;
    mapped = false;
    native.releaseView(buffer, record);
  };
  return {
    address,
    length,
    view: new Uint8Array(buffer),
    forget: release,
    [Symbol.dispose]() {
      if (mapped) {
        release();
        native.munmap(address, length);
      }
      after?.();
    },
  };
}

/** Private anonymous memory, 4 KiB pages only (MADV_NOHUGEPAGE). */
export function anon(length: number): TestMapping {
  const a: bigint = native.mmap(0n, length, M.PROT_READ | M.PROT_WRITE, M.MAP_PRIVATE | M.MAP_ANONYMOUS, -1, 0);
  native.madvise(a, length, M.MADV_NOHUGEPAGE);
  return wrap(a, length);
}

/** A memfd mapped MAP_SHARED twice: `a` and `b` see the same page cache. */
export function memfdTwice(length: number): { a: TestMapping; b: TestMapping; [Symbol.dispose](): void } {
  const fd: number = native.memfdCreate('mirrorlab-uffd-test', M.MFD_CLOEXEC);
  fs.ftruncateSync(fd, length);
  const prot = M.PROT_READ | M.PROT_WRITE;
  const a = wrap(native.mmap(0n, length, prot, M.MAP_SHARED, fd, 0), length);
  const b = wrap(native.mmap(0n, length, prot, M.MAP_SHARED, fd, 0), length);
  return {
    a,
    b,
    [Symbol.dispose]() {
      a[Symbol.dispose]();
      b[Symbol.dispose]();
      fs.closeSync(fd);
    },
  };
}

/** /proc/self/pagemap bit 63: is the page at `address` present? */
export function pagePresent(address: bigint): boolean {
  const fd = fs.openSync('/proc/self/pagemap', 'r');
  try {
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, Number((address / BigInt(PAGE)) * 8n));
    return (b.readBigUInt64LE(0) >> 63n) === 1n;
  } finally {
    fs.closeSync(fd);
  }
}

export function pattern(length: number, seed: number): Uint8Array {
  const p = new Uint8Array(length);
  for (let i = 0; i < length; i++) p[i] = (i * 31 + seed) & 0xff;
  return p;
}
