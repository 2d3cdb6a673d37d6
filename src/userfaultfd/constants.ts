// userfaultfd uapi names and their bits, with decoders for what UFFDIO_API
// and UFFDIO_REGISTER write back. Values come from the addon (which defines
// the bits newer than the build machine's headers itself).
import { native } from '../addon.js';

const C = native.uffdConstants;
export const uffdConstants = C;

/** UFFD_FEATURE_* without the prefix, in bit order. */
export const UFFD_FEATURES = [
  'PAGEFAULT_FLAG_WP',
  'EVENT_FORK',
  'EVENT_REMAP',
  'EVENT_REMOVE',
  'MISSING_HUGETLBFS',
  'MISSING_SHMEM',
  'EVENT_UNMAP',
  'SIGBUS',
  'THREAD_ID',
  'MINOR_HUGETLBFS',
  'MINOR_SHMEM',
  'EXACT_ADDRESS',
  'WP_HUGETLBFS_SHMEM',
  'WP_UNPOPULATED',
  'POISON',
  'WP_ASYNC',
  'MOVE',
] as const;
export type UffdFeature = (typeof UFFD_FEATURES)[number];

/** _UFFDIO_* command numbers: bit positions in the ioctls masks. */
export const UFFD_IOCTLS = [
  'REGISTER',
  'UNREGISTER',
  'WAKE',
  'COPY',
  'ZEROPAGE',
  'MOVE',
  'WRITEPROTECT',
  'CONTINUE',
  'POISON',
  'API',
] as const;
export type UffdIoctl = (typeof UFFD_IOCTLS)[number];

export type RegisterMode = 'missing' | 'wp' | 'minor';
export const REGISTER_MODES: Record<RegisterMode, number> = {
  missing: C.UFFDIO_REGISTER_MODE_MISSING,
  wp: C.UFFDIO_REGISTER_MODE_WP,
  minor: C.UFFDIO_REGISTER_MODE_MINOR,
};

export const UFFD_EVENTS: Record<number, string> = {
  [C.UFFD_EVENT_PAGEFAULT]: 'pagefault',
  [C.UFFD_EVENT_FORK]: 'fork',
  [C.UFFD_EVENT_REMAP]: 'remap',
  [C.UFFD_EVENT_REMOVE]: 'remove',
  [C.UFFD_EVENT_UNMAP]: 'unmap',
};

export function featureBit(name: UffdFeature): bigint {
  return BigInt(C[`UFFD_FEATURE_${name}`]);
}

export function ioctlBit(name: UffdIoctl): bigint {
  return 1n << BigInt(C[`_UFFDIO_${name}`]);
}

export interface Decoded<N extends string> {
  names: N[];
  /** Bits set that this build of mirrorlab has no name for (a newer kernel). */
  unknown: bigint;
}

export function decodeFeatures(bits: bigint): Decoded<UffdFeature> {
  const names: UffdFeature[] = [];
  let rest = bits;
  for (const f of UFFD_FEATURES) {
    const b = featureBit(f);
    if (bits & b) names.push(f);
    rest &= ~b;
  }
  return { names, unknown: rest };
}

export function decodeIoctls(bits: bigint): Decoded<UffdIoctl> {
  const names: UffdIoctl[] = [];
  let rest = bits;
  for (const i of UFFD_IOCTLS) {
    const b = ioctlBit(i);
    if (bits & b) names.push(i);
    rest &= ~b;
  }
  return { names, unknown: rest };
}
