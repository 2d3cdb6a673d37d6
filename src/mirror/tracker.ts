// InvalidationTracker: collects a device's invalidation records and answers
// the questions tests and scripts ask ("an UNMAP covering exactly this range
// arrived, blockable; nothing else touched handle 3"). Failures throw an
// Error whose message lists every record seen, so a failing test shows what
// the kernel actually did.
import type { InvalidationEvent, InvalidationRecord, MirrorDevice } from './types.js';

export interface RecordMatch {
  event?: InvalidationEvent | InvalidationEvent[];
  handle?: number;
  /** Exact range [start, end). */
  start?: bigint | number;
  end?: bigint | number;
  /** The record's range covers [start, end) (use with covers: true). */
  covers?: boolean;
  blockable?: boolean;
  wouldBlock?: boolean;
  readOnlyUpdate?: boolean;
  downgraded?: boolean;
  keptStale?: boolean;
  twoPass?: boolean;
  finishFallback?: boolean;
}

export class InvalidationAssertionError extends Error {
  constructor(
    message: string,
    readonly records: InvalidationRecord[],
  ) {
    super(message);
    this.name = 'InvalidationAssertionError';
  }
}

export function formatRecord(r: InvalidationRecord, base = 0n): string {
  const rel = (v: bigint): string => (base ? `+0x${(v - base).toString(16)}` : `0x${v.toString(16)}`);
  const flags = [
    r.blockable ? 'blockable' : 'non-blockable',
    r.wouldBlock && 'would-block',
    r.readOnlyUpdate && 'read-only-update',
    r.downgraded && 'downgraded',
    r.keptStale && 'kept-stale',
    r.fenceWait && 'fence-wait',
    r.twoPass && 'two-pass',
    r.finishFallback && 'finish-fallback',
  ].filter(Boolean);
  return `#${r.seq} ${r.event} [${rel(r.start)}, ${rel(r.end)}) handle ${r.handle} dropped ${r.pagesDropped} downgraded ${r.pagesDowngraded} ${flags.join(' ')} ${r.durationNs} ns pid ${r.pid}`;
}

export function matches(r: InvalidationRecord, m: RecordMatch): boolean {
  if (m.event !== undefined && !(Array.isArray(m.event) ? m.event.includes(r.event) : r.event === m.event)) return false;
  if (m.handle !== undefined && r.handle !== m.handle) return false;
  const s = m.start === undefined ? undefined : BigInt(m.start);
  const e = m.end === undefined ? undefined : BigInt(m.end);
  if (m.covers) {
    if (s !== undefined && r.start > s) return false;
    if (e !== undefined && r.end < e) return false;
  } else {
    if (s !== undefined && r.start !== s) return false;
    if (e !== undefined && r.end !== e) return false;
  }
  for (const k of ['blockable', 'wouldBlock', 'readOnlyUpdate', 'downgraded', 'keptStale', 'twoPass', 'finishFallback'] as const) {
    if (m[k] !== undefined && r[k] !== m[k]) return false;
  }
  return true;
}

export class InvalidationTracker {
  readonly records: InvalidationRecord[] = [];
  lost = 0n;

  constructor(
    readonly device: Pick<MirrorDevice, 'drainInvalidations'>,
    /** Addresses in messages are shown relative to this base. */
    public base = 0n,
  ) {}

  /** Pulls every queued record from the device; returns the new ones. */
  collect(): InvalidationRecord[] {
    const d = this.device.drainInvalidations();
    this.lost += d.lost;
    this.records.push(...d.records);
    return d.records;
  }

  /** Drops what was collected (after draining the device). */
  reset(): void {
    this.collect();
    this.records.length = 0;
    this.lost = 0n;
  }

  forHandle(handle: number): InvalidationRecord[] {
    return this.records.filter((r) => r.handle === handle);
  }

  find(m: RecordMatch): InvalidationRecord[] {
    return this.records.filter((r) => matches(r, m));
  }

  describe(): string {
    if (this.records.length === 0) return '  (no records)';
    return this.records.map((r) => '  ' + formatRecord(r, this.base)).join('\n');
  }

  #fail(what: string): never {
    throw new InvalidationAssertionError(`${what}\nrecords seen (lost ${this.lost}):\n${this.describe()}`, [...this.records]);
  }

  #noLoss(): void {
    if (this.lost > 0n) this.#fail(`${this.lost} invalidation records were lost to overflow`);
  }

  /** Exactly one record matches; returns it. */
  expectOne(m: RecordMatch): InvalidationRecord {
    this.collect();
    this.#noLoss();
    const f = this.find(m);
    if (f.length !== 1) this.#fail(`expected exactly one record matching ${show(m)}, found ${f.length}`);
    return f[0];
  }

  /** At least one record matches; returns them. */
  expectSome(m: RecordMatch): InvalidationRecord[] {
    this.collect();
    this.#noLoss();
    const f = this.find(m);
    if (f.length === 0) this.#fail(`expected a record matching ${show(m)}`);
    return f;
  }

  /** No record for this handle other than those matching `except`. */
  expectNothingElse(handle: number, except: RecordMatch[] = []): void {
    this.collect();
    this.#noLoss();
    const other = this.forHandle(handle).filter((r) => !except.some((m) => matches(r, m)));
    if (other.length) this.#fail(`expected no other records for handle ${handle}, found ${other.length}`);
  }

  /** No record at all (for one handle, or any). */
  expectNone(handle?: number): void {
    this.collect();
    this.#noLoss();
    const f = handle === undefined ? this.records : this.forHandle(handle);
    if (f.length) this.#fail(`expected no records${handle === undefined ? '' : ` for handle ${handle}`}, found ${f.length}`);
  }
}

function show(m: RecordMatch): string {
  return JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}
