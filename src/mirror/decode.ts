// Decoding of the mirrordrm uapi structures (kernel-patches/include/uapi/mirrordrm.h)
// from the raw bytes the native layer returns. Pure functions: unit-tested on the host.
import type { InvalidationEvent, InvalidationRecord, MirrorCounters, MirrorMode, MirrorPageState } from './types.js';

export const MIRRORDRM = {
  MODE_GUP: 0x1,
  MODE_GUP_LONGTERM: 0x2,
  MODE_GUP_GET: 0x3,
  MODE_HMM: 0x4,
  READ_ONLY: 1 << 4,
  POPULATE: 1 << 5,
  GUP_REPIN: 1 << 6,
  ACCESS_READ: 1,
  ACCESS_WRITE: 2,
  PAGE_VALID: 1 << 0,
  PAGE_WRITE: 1 << 1,
  PAGE_ZERO: 1 << 2,
  PAGE_ERROR: 1 << 3,
  PAGE_STALE: 1 << 4,
  PAGE_SAME: 1 << 5,
  PAGE_ORDER_SHIFT: 8,
  RECORD_BLOCKABLE: 1 << 0,
  RECORD_WOULD_BLOCK: 1 << 1,
  RECORD_READ_ONLY: 1 << 2,
  RECORD_DOWNGRADED: 1 << 3,
  RECORD_KEPT_STALE: 1 << 4,
  RECORD_FENCE_WAIT: 1 << 5,
  BEHAVIOUR_RO_DOWNGRADE: 1 << 0,
  FENCE_WAIT_MAX_NS: 1_000_000_000,
  POPULATE_DELAY_MAX_NS: 1_000_000_000,
  MAX_SIZE: 2 ** 32,
  SIZEOF_RECORD: 72,
  SIZEOF_PAGE: 24,
} as const;

export const EVENTS: readonly InvalidationEvent[] = [
  'UNMAP',
  'CLEAR',
  'PROTECTION_VMA',
  'PROTECTION_PAGE',
  'SOFT_DIRTY',
  'RELEASE',
  'MIGRATE',
  'EXCLUSIVE',
];

export function eventName(v: number): InvalidationEvent {
  return EVENTS[v] ?? 'UNKNOWN';
}

export function modeFlags(mode: MirrorMode): number {
  switch (mode) {
    case 'gup':
      return MIRRORDRM.MODE_GUP;
    case 'gup-longterm':
      return MIRRORDRM.MODE_GUP_LONGTERM;
    case 'gup-get':
      return MIRRORDRM.MODE_GUP_GET;
    case 'hmm':
      return MIRRORDRM.MODE_HMM;
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function decodeRecords(bytes: Uint8Array): InvalidationRecord[] {
  const dv = view(bytes);
  const out: InvalidationRecord[] = [];
  for (let o = 0; o + MIRRORDRM.SIZEOF_RECORD <= bytes.byteLength; o += MIRRORDRM.SIZEOF_RECORD) {
    const flags = dv.getUint32(o + 64, true);
    out.push({
      seq: dv.getBigUint64(o, true),
      start: dv.getBigUint64(o + 8, true),
      end: dv.getBigUint64(o + 16, true),
      timestampNs: dv.getBigUint64(o + 24, true),
      durationNs: Number(dv.getBigUint64(o + 32, true)),
      pagesDropped: Number(dv.getBigUint64(o + 40, true)),
      pagesDowngraded: Number(dv.getBigUint64(o + 48, true)),
      handle: dv.getUint32(o + 56, true),
      event: eventName(dv.getUint32(o + 60, true)),
      pid: dv.getUint32(o + 68, true),
      blockable: (flags & MIRRORDRM.RECORD_BLOCKABLE) !== 0,
      wouldBlock: (flags & MIRRORDRM.RECORD_WOULD_BLOCK) !== 0,
      readOnlyUpdate: (flags & MIRRORDRM.RECORD_READ_ONLY) !== 0,
      downgraded: (flags & MIRRORDRM.RECORD_DOWNGRADED) !== 0,
      keptStale: (flags & MIRRORDRM.RECORD_KEPT_STALE) !== 0,
      fenceWait: (flags & MIRRORDRM.RECORD_FENCE_WAIT) !== 0,
    });
  }
  return out;
}

export function decodePages(bytes: Uint8Array, firstPage: number): MirrorPageState[] {
  const dv = view(bytes);
  const out: MirrorPageState[] = [];
  for (let i = 0, o = 0; o + MIRRORDRM.SIZEOF_PAGE <= bytes.byteLength; i++, o += MIRRORDRM.SIZEOF_PAGE) {
    const df = dv.getUint32(o + 16, true);
    const cf = dv.getUint32(o + 20, true);
    out.push({
      index: firstPage + i,
      device: {
        pfn: dv.getBigUint64(o, true),
        valid: (df & MIRRORDRM.PAGE_VALID) !== 0,
        write: (df & MIRRORDRM.PAGE_WRITE) !== 0,
        zero: (df & MIRRORDRM.PAGE_ZERO) !== 0,
        stale: (df & MIRRORDRM.PAGE_STALE) !== 0,
        sameAsCpu: (df & MIRRORDRM.PAGE_SAME) !== 0,
      },
      cpu: {
        pfn: dv.getBigUint64(o + 8, true),
        valid: (cf & MIRRORDRM.PAGE_VALID) !== 0,
        write: (cf & MIRRORDRM.PAGE_WRITE) !== 0,
        zero: (cf & MIRRORDRM.PAGE_ZERO) !== 0,
        error: (cf & MIRRORDRM.PAGE_ERROR) !== 0,
        order: (cf >> MIRRORDRM.PAGE_ORDER_SHIFT) & 0x1f,
      },
    });
  }
  return out;
}

const COUNTER_FIELDS = [
  'objects',
  'pages',
  'pagesPinned',
  'pagesValid',
  'gupCalls',
  'gupPages',
  'hmmRangeFaultCalls',
  'hmmRangeFaultEbusy',
  'readRetry',
  'populates',
  'revalidations',
  'deviceAccesses',
  'deviceBytes',
  'invalidations',
  'wouldBlock',
  'pagesDropped',
  'pagesDowngraded',
  'logLost',
] as const;

export function decodeCounters(bytes: Uint8Array): MirrorCounters {
  const dv = view(bytes);
  const get = (i: number): number => (i * 8 + 8 <= bytes.byteLength ? Number(dv.getBigInt64(i * 8, true)) : 0);
  const c = {} as Record<string, unknown>;
  COUNTER_FIELDS.forEach((f, i) => (c[f] = get(i)));
  const byEvent = {} as Record<InvalidationEvent, number>;
  EVENTS.forEach((e, i) => (byEvent[e] = get(COUNTER_FIELDS.length + i)));
  byEvent.UNKNOWN = get(COUNTER_FIELDS.length + 15);
  c.byEvent = byEvent;
  return c as unknown as MirrorCounters;
}
