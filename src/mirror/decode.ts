// Decoding of the mirrordrm uapi structures (kernel-patches/include/uapi/mirrordrm.h)
// from the raw bytes the native layer returns, with the layout and flag values
// the addon was compiled with (uapi.ts). Pure functions: unit-tested on the host.
import type { DeviceInfo, InvalidationEvent, InvalidationRecord, MirrorCounters, MirrorMode, MirrorPageState } from './types.js';
import { MIRRORDRM, MIRRORDRM_LAYOUT, MODE_FLAGS, eventValue } from './uapi.js';

export { MIRRORDRM, MIRRORDRM_LAYOUT, MIRRORDRM_UAPI, MODE_FLAGS } from './uapi.js';

/** The events the log names (MIRRORDRM_EVENT_*), UNKNOWN aside. */
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

const EVENT_BY_VALUE = new Map(EVENTS.map((e) => [eventValue(e), e]));

export function eventName(v: number): InvalidationEvent {
  return EVENT_BY_VALUE.get(v) ?? 'UNKNOWN';
}

export function modeFlags(mode: MirrorMode): number {
  return MODE_FLAGS[mode];
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

const RECORD = MIRRORDRM_LAYOUT.drm_mirrordrm_inval_record;
const PAGE = MIRRORDRM_LAYOUT.drm_mirrordrm_page;
const COUNTERS = MIRRORDRM_LAYOUT.drm_mirrordrm_counters;

/** record.owner: null for none, a mirrordrm owner id (1..4), or 'foreign'. */
function ownerName(v: number): number | 'foreign' | null {
  if (v === MIRRORDRM.OWNER_NONE) return null;
  if (v === MIRRORDRM.OWNER_FOREIGN) return 'foreign';
  return v;
}

export function decodeRecords(bytes: Uint8Array): InvalidationRecord[] {
  const dv = view(bytes);
  const out: InvalidationRecord[] = [];
  for (let o = 0; o + RECORD.sizeof <= bytes.byteLength; o += RECORD.sizeof) {
    const flags = dv.getUint32(o + RECORD.flags, true);
    out.push({
      seq: dv.getBigUint64(o + RECORD.seq, true),
      start: dv.getBigUint64(o + RECORD.start, true),
      end: dv.getBigUint64(o + RECORD.end, true),
      timestampNs: dv.getBigUint64(o + RECORD.timestamp_ns, true),
      durationNs: Number(dv.getBigUint64(o + RECORD.duration_ns, true)),
      pagesDropped: Number(dv.getBigUint64(o + RECORD.pages_dropped, true)),
      pagesDowngraded: Number(dv.getBigUint64(o + RECORD.pages_downgraded, true)),
      handle: dv.getUint32(o + RECORD.handle, true),
      event: eventName(dv.getUint32(o + RECORD.event, true)),
      pid: dv.getUint32(o + RECORD.pid, true),
      owner: ownerName(dv.getUint32(o + RECORD.owner, true)),
      finishNs: Number(dv.getBigUint64(o + RECORD.finish_ns, true)),
      ownMigration: (flags & MIRRORDRM.RECORD_OWN_MIGRATION) !== 0,
      blockable: (flags & MIRRORDRM.RECORD_BLOCKABLE) !== 0,
      wouldBlock: (flags & MIRRORDRM.RECORD_WOULD_BLOCK) !== 0,
      readOnlyUpdate: (flags & MIRRORDRM.RECORD_READ_ONLY) !== 0,
      downgraded: (flags & MIRRORDRM.RECORD_DOWNGRADED) !== 0,
      keptStale: (flags & MIRRORDRM.RECORD_KEPT_STALE) !== 0,
      fenceWait: (flags & MIRRORDRM.RECORD_FENCE_WAIT) !== 0,
      twoPass: (flags & MIRRORDRM.RECORD_TWO_PASS) !== 0,
      finishFallback: (flags & MIRRORDRM.RECORD_FINISH_FALLBACK) !== 0,
    });
  }
  return out;
}

function ownerOf(flags: number): number | null {
  if (!(flags & MIRRORDRM.PAGE_DEVICE_PRIVATE)) return null;
  return (flags & MIRRORDRM.PAGE_OWNER_MASK) >>> MIRRORDRM.PAGE_OWNER_SHIFT;
}

export function decodePages(bytes: Uint8Array, firstPage: number): MirrorPageState[] {
  const dv = view(bytes);
  const out: MirrorPageState[] = [];
  for (let i = 0, o = 0; o + PAGE.sizeof <= bytes.byteLength; i++, o += PAGE.sizeof) {
    const df = dv.getUint32(o + PAGE.dev_flags, true);
    const cf = dv.getUint32(o + PAGE.cpu_flags, true);
    out.push({
      index: firstPage + i,
      device: {
        pfn: dv.getBigUint64(o + PAGE.dev_pfn, true),
        valid: (df & MIRRORDRM.PAGE_VALID) !== 0,
        write: (df & MIRRORDRM.PAGE_WRITE) !== 0,
        zero: (df & MIRRORDRM.PAGE_ZERO) !== 0,
        stale: (df & MIRRORDRM.PAGE_STALE) !== 0,
        sameAsCpu: (df & MIRRORDRM.PAGE_SAME) !== 0,
        exclusive: (df & MIRRORDRM.PAGE_EXCLUSIVE) !== 0,
        deviceOwner: ownerOf(df),
      },
      cpu: {
        pfn: dv.getBigUint64(o + PAGE.cpu_pfn, true),
        valid: (cf & MIRRORDRM.PAGE_VALID) !== 0,
        write: (cf & MIRRORDRM.PAGE_WRITE) !== 0,
        zero: (cf & MIRRORDRM.PAGE_ZERO) !== 0,
        error: (cf & MIRRORDRM.PAGE_ERROR) !== 0,
        order: (cf & MIRRORDRM.PAGE_ORDER_MASK) >> MIRRORDRM.PAGE_ORDER_SHIFT,
        deviceOwner: ownerOf(cf),
      },
    });
  }
  return out;
}

/** struct drm_mirrordrm_counters' fields (but by_event) by their names in MirrorCounters. */
const COUNTER_FIELDS: Record<Exclude<keyof MirrorCounters, 'byEvent'>, keyof typeof MIRRORDRM_LAYOUT.drm_mirrordrm_counters> = {
  objects: 'objects',
  pages: 'pages',
  pagesPinned: 'pages_pinned',
  pagesValid: 'pages_valid',
  gupCalls: 'gup_calls',
  gupPages: 'gup_pages',
  hmmRangeFaultCalls: 'hmm_range_fault_calls',
  hmmRangeFaultEbusy: 'hmm_range_fault_ebusy',
  readRetry: 'read_retry',
  populates: 'populates',
  revalidations: 'revalidations',
  deviceAccesses: 'device_accesses',
  deviceBytes: 'device_bytes',
  invalidations: 'invalidations',
  wouldBlock: 'would_block',
  pagesDropped: 'pages_dropped',
  pagesDowngraded: 'pages_downgraded',
  logLost: 'log_lost',
  pagesToDevice: 'pages_to_device',
  pagesToRam: 'pages_to_ram',
  ownMigrations: 'own_migrations',
};

/** Counters from a STATS reply; fields past the end of a shorter (older) reply read 0. */
export function decodeCounters(bytes: Uint8Array): MirrorCounters {
  const dv = view(bytes);
  const get = (offset: number): number => (offset + 8 <= bytes.byteLength ? Number(dv.getBigInt64(offset, true)) : 0);
  const c = {} as Record<string, unknown>;
  for (const [name, field] of Object.entries(COUNTER_FIELDS)) c[name] = get(COUNTERS[field]);
  const byEvent = {} as Record<InvalidationEvent, number>;
  for (const e of [...EVENTS, 'UNKNOWN' as const]) byEvent[e] = get(COUNTERS.by_event + 8 * eventValue(e));
  c.byEvent = byEvent;
  return c as unknown as MirrorCounters;
}

const INFO = MIRRORDRM_LAYOUT.drm_mirrordrm_device_info;

export function decodeDeviceInfo(bytes: Uint8Array): DeviceInfo {
  const dv = view(bytes);
  const n = (off: number): number => Number(dv.getBigUint64(off, true));
  const caps = dv.getUint32(INFO.caps, true);
  return {
    index: dv.getUint32(INFO.index, true),
    owner: dv.getUint32(INFO.owner, true),
    caps: {
      devicePrivate: (caps & MIRRORDRM.CAP_DEVICE_PRIVATE) !== 0,
      migrateCompound: (caps & MIRRORDRM.CAP_MIGRATE_COMPOUND) !== 0,
      exclusive: (caps & MIRRORDRM.CAP_EXCLUSIVE) !== 0,
    },
    devmemPages: n(INFO.devmem_pages),
    devmemFree: n(INFO.devmem_free),
    devmemPfn: dv.getBigUint64(INFO.devmem_pfn, true),
    toDevice: n(INFO.to_device),
    toRam: n(INFO.to_ram),
    cpuFaults: n(INFO.cpu_faults),
    faultPages: n(INFO.fault_pages),
    folioFrees: n(INFO.folio_frees),
    folioSplits: n(INFO.folio_splits),
    thpAllocs: n(INFO.thp_allocs),
    allocFailures: n(INFO.alloc_failures),
    evicted: n(INFO.evicted),
  };
}
