// Decoding of mirrordrm uapi structures and the InvalidationTracker's
// assertions, on synthetic bytes laid out as kernel-patches/include/uapi/mirrordrm.h.
import { describe, expect, it } from 'vitest';
import { InvalidationAssertionError, InvalidationTracker, MIRRORDRM, MIRRORDRM_LAYOUT, decodeCounters, decodePages, decodeRecords, formatRecord, matches } from '../../src/mirror/index.js';
import type { DrainResult } from '../../src/mirror/index.js';

function record(o: { seq: bigint; start: bigint; end: bigint; event: number; flags: number; handle: number; dropped?: number }): Uint8Array {
  const b = new Uint8Array(MIRRORDRM.SIZEOF_RECORD);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, o.seq, true);
  dv.setBigUint64(8, o.start, true);
  dv.setBigUint64(16, o.end, true);
  dv.setBigUint64(24, 123n, true);
  dv.setBigUint64(32, 4567n, true);
  dv.setBigUint64(40, BigInt(o.dropped ?? 0), true);
  dv.setUint32(56, o.handle, true);
  dv.setUint32(60, o.event, true);
  dv.setUint32(64, o.flags, true);
  dv.setUint32(68, 42, true);
  return b;
}

describe('mirrordrm decoding', () => {
  it('decodes invalidation records field by field', () => {
    const bytes = new Uint8Array([
      ...record({ seq: 1n, start: 0x7000n, end: 0x8000n, event: 0, flags: MIRRORDRM.RECORD_BLOCKABLE, handle: 3, dropped: 1 }),
      ...record({ seq: 2n, start: 0n, end: 0xffff_ffff_ffff_ffffn, event: 5, flags: MIRRORDRM.RECORD_WOULD_BLOCK | MIRRORDRM.RECORD_KEPT_STALE, handle: 4 }),
      ...record({ seq: 3n, start: 0n, end: 1n, event: 12, flags: 0, handle: 4 }),
    ]);
    const r = decodeRecords(bytes);
    expect(r).toHaveLength(3);
    expect(r[0]).toMatchObject({ seq: 1n, event: 'UNMAP', start: 0x7000n, end: 0x8000n, blockable: true, wouldBlock: false, handle: 3, pagesDropped: 1, durationNs: 4567, timestampNs: 123n, pid: 42 });
    expect(r[1]).toMatchObject({ event: 'RELEASE', blockable: false, wouldBlock: true, keptStale: true, end: 0xffff_ffff_ffff_ffffn });
    expect(r[2].event).toBe('UNKNOWN');
    expect(r[0]).toMatchObject({ owner: null, finishNs: 0, ownMigration: false });
  });

  it('decodes the owner and the own-migration flag of MIGRATE records', () => {
    const b = record({ seq: 1n, start: 0n, end: 0x1000n, event: 6, flags: MIRRORDRM.RECORD_OWN_MIGRATION, handle: 1 });
    const dv = new DataView(b.buffer);
    dv.setUint32(MIRRORDRM_LAYOUT.drm_mirrordrm_inval_record.owner, 3, true);
    expect(decodeRecords(b)[0]).toMatchObject({ event: 'MIGRATE', owner: 3, ownMigration: true });
    dv.setUint32(MIRRORDRM_LAYOUT.drm_mirrordrm_inval_record.owner, MIRRORDRM.OWNER_FOREIGN, true);
    expect(decodeRecords(b)[0].owner).toBe('foreign');
  });

  it('two-pass records: decoded, matched and printed with their flags', () => {
    const bytes = new Uint8Array([
      ...record({ seq: 1n, start: 0x7000n, end: 0x9000n, event: 0, flags: MIRRORDRM.RECORD_BLOCKABLE | MIRRORDRM.RECORD_TWO_PASS, handle: 3, dropped: 2 }),
      ...record({ seq: 2n, start: 0x7000n, end: 0x9000n, event: 0, flags: MIRRORDRM.RECORD_TWO_PASS | MIRRORDRM.RECORD_FINISH_FALLBACK, handle: 4 }),
      ...record({ seq: 3n, start: 0x7000n, end: 0x9000n, event: 0, flags: MIRRORDRM.RECORD_BLOCKABLE, handle: 5 }),
    ]);
    const r = decodeRecords(bytes);
    expect(r.map((x) => [x.twoPass, x.finishFallback])).toEqual([[true, false], [true, true], [false, false]]);
    expect(r.filter((x) => matches(x, { twoPass: true })).map((x) => x.handle)).toEqual([3, 4]);
    expect(r.filter((x) => matches(x, { twoPass: true, finishFallback: false })).map((x) => x.handle)).toEqual([3]);
    expect(formatRecord(r[1])).toMatch(/ two-pass finish-fallback /);
    expect(formatRecord(r[2])).not.toMatch(/two-pass/);
  });

  it('decodes page states with the mapping order', () => {
    const b = new Uint8Array(2 * MIRRORDRM.SIZEOF_PAGE);
    const dv = new DataView(b.buffer);
    dv.setBigUint64(0, 0x1234n, true);
    dv.setBigUint64(8, 0x1234n, true);
    dv.setUint32(16, MIRRORDRM.PAGE_VALID | MIRRORDRM.PAGE_SAME, true);
    dv.setUint32(20, MIRRORDRM.PAGE_VALID | MIRRORDRM.PAGE_WRITE | (9 << MIRRORDRM.PAGE_ORDER_SHIFT), true);
    dv.setUint32(24 + 16, MIRRORDRM.PAGE_VALID | MIRRORDRM.PAGE_EXCLUSIVE | MIRRORDRM.PAGE_DEVICE_PRIVATE | (2 << MIRRORDRM.PAGE_OWNER_SHIFT), true);
    dv.setUint32(24 + 20, MIRRORDRM.PAGE_ERROR, true);
    const p = decodePages(b, 10);
    expect(p[0]).toEqual({
      index: 10,
      device: { pfn: 0x1234n, valid: true, write: false, zero: false, stale: false, sameAsCpu: true, exclusive: false, deviceOwner: null },
      cpu: { pfn: 0x1234n, valid: true, write: true, zero: false, error: false, order: 9, deviceOwner: null },
    });
    expect(p[1].cpu.error).toBe(true);
    expect(p[1].index).toBe(11);
    // a device-private page of owner 2, held exclusive
    expect(p[1].device).toMatchObject({ valid: true, exclusive: true, deviceOwner: 2 });
  });

  it('decodes counters, tolerating a shorter (older) kernel structure', () => {
    const b = new Uint8Array(34 * 8);
    const dv = new DataView(b.buffer);
    dv.setBigInt64(0, 2n, true); // objects
    dv.setBigInt64(6 * 8, 17n, true); // hmm_range_fault_calls
    dv.setBigInt64((18 + 2) * 8, 5n, true); // by_event[PROTECTION_VMA]
    const c = decodeCounters(b);
    expect(c.objects).toBe(2);
    expect(c.hmmRangeFaultCalls).toBe(17);
    expect(c.byEvent.PROTECTION_VMA).toBe(5);
    expect(decodeCounters(b.subarray(0, 8)).pages).toBe(0);
  });
});

describe('InvalidationTracker', () => {
  const queue: DrainResult[] = [];
  const device = {
    drainInvalidations: (): DrainResult => queue.shift() ?? { records: [], lost: 0n, lostTotal: 0n, pending: 0 },
  };
  const recs = decodeRecords(
    new Uint8Array([
      ...record({ seq: 1n, start: 0x11000n, end: 0x12000n, event: 0, flags: MIRRORDRM.RECORD_BLOCKABLE, handle: 3 }),
      ...record({ seq: 2n, start: 0x10000n, end: 0x14000n, event: 2, flags: MIRRORDRM.RECORD_BLOCKABLE, handle: 4 }),
    ]),
  );

  it('finds the exact record, and lists everything seen when an assertion fails', () => {
    queue.push({ records: recs, lost: 0n, lostTotal: 0n, pending: 0 });
    const t = new InvalidationTracker(device, 0x10000n);
    const r = t.expectOne({ event: 'UNMAP', start: 0x11000n, end: 0x12000n, blockable: true, handle: 3 });
    expect(r.seq).toBe(1n);
    t.expectNothingElse(3, [{ event: 'UNMAP' }]);
    t.expectSome({ handle: 4, covers: true, start: 0x11000n, end: 0x13000n });
    let err: unknown;
    try {
      t.expectNone(4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidationAssertionError);
    expect((err as Error).message).toContain('#2 PROTECTION_VMA [+0x0, +0x4000) handle 4');
  });

  it('fails when records were lost to overflow', () => {
    queue.push({ records: [], lost: 7n, lostTotal: 7n, pending: 0 });
    const t = new InvalidationTracker(device);
    expect(() => t.expectNone()).toThrow(/7 invalidation records were lost/);
  });
});
