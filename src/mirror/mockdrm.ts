// MockDrm: the mirrordrm render node (kernel-patches/mirrordrm) behind the
// mirror interface. Arguments are checked here before any ioctl; the kernel
// checks them again and its errno comes back unchanged.
import fs from 'node:fs';
import path from 'node:path';
import { native } from '../addon.js';
import { invalidArg, invalidState, invalidType, outOfRange } from '../errors.js';
import { MIRRORDRM, decodeCounters, decodeDeviceInfo, decodePages, decodeRecords, modeFlags } from './decode.js';
import {
  ALL_MIRROR_MODES,
  type DeviceAccessResult,
  type CallbackBehaviour,
  type DeviceInfo,
  type MigrateResult,
  type DrainResult,
  type InvalidationRecord,
  type MirrorCounters,
  type MirrorDevice,
  type MirroredBuffer,
  type MirrorMode,
  type MirrorOptions,
  type MirrorRange,
  type MirrorPageState,
} from './types.js';

const md = native.mirrordrm;
const PAGE = 4096;

interface DeviceState {
  fd: number;
  closed: boolean;
}

// Forgotten devices close their file (which frees their objects); forgotten
// buffers close their GEM handle while the device is still open.
const deviceRegistry = new FinalizationRegistry<DeviceState>((s) => {
  if (!s.closed) {
    s.closed = true;
    try {
      fs.closeSync(s.fd);
    } catch {
      /* already gone */
    }
  }
});
const bufferRegistry = new FinalizationRegistry<{ dev: DeviceState; handle: number; closed: boolean }>((b) => {
  if (!b.closed && !b.dev.closed) {
    try {
      md.gemClose(b.dev.fd, b.handle);
    } catch {
      /* the device went first */
    }
  }
});

/** The render node whose driver is mirrordrm, or undefined when none is loaded. */
export function findMirrordrmNode(dir = '/dev/dri'): string | undefined {
  return findMirrordrmNodes(dir)[0];
}

/** Every mirrordrm render node, in minor order (module parameter devices=N gives N). */
export function findMirrordrmNodes(dir = '/dev/dri'): string[] {
  const found: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.startsWith('renderD')).sort();
  } catch {
    return found;
  }
  for (const n of names) {
    const p = path.join(dir, n);
    let fd = -1;
    try {
      fd = fs.openSync(p, fs.constants.O_RDWR /* libuv adds O_CLOEXEC */);
      if (md.version(fd).name === 'mirrordrm') found.push(p);
    } catch {
      /* not ours, or not openable */
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  return found;
}

/** Where a migration goes and how. */
export interface MigrateOptions {
  to: 'device' | 'ram';
  /** Byte offset into the buffer (page aligned); default 0. */
  offset?: number;
  /** Bytes (page aligned); default: to the end of the buffer. */
  length?: number;
  /** Move 2 MiB THPs as one device folio (MIGRATE_VMA_SELECT_COMPOUND). */
  compound?: boolean;
}

export interface DeviceWriteOptions {
  /**
   * Skip the read-only pre-check and send the write to the kernel anyway, to
   * see its answer: a READ_ONLY object refuses it with EACCES. Argument and
   * bounds checks still run (an out-of-range write is refused here either way).
   */
  unchecked?: boolean;
}

function toBig(v: bigint | number, name: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw invalidType(name, v, 'a non-negative safe integer or a bigint');
}

function checkRange(range: MirrorRange): { address: bigint; length: number } {
  if (typeof range !== 'object' || range === null) throw invalidType('range', range, 'an object with address and length');
  const address = toBig(range.address, 'range.address');
  const length = range.length;
  if (!Number.isSafeInteger(length) || length <= 0) throw invalidArg('range.length', length, 'must be a positive integer');
  if (address % BigInt(PAGE) !== 0n) throw invalidArg('range.address', address, `must be aligned to ${PAGE} bytes`);
  if (length % PAGE !== 0) throw invalidArg('range.length', length, `must be a multiple of ${PAGE}`);
  if (length > MIRRORDRM.MAX_SIZE) throw outOfRange('range.length', length, `<= ${MIRRORDRM.MAX_SIZE}`);
  if (address + BigInt(length) > 0xffff_ffff_ffff_ffffn) throw outOfRange('range.address', address, 'such that address + length fits in 64 bits');
  return { address, length };
}

function userptrFlags(o: MirrorOptions): number {
  if (typeof o !== 'object' || o === null) throw invalidType('options', o, 'an object');
  if (!ALL_MIRROR_MODES.includes(o.mode)) throw invalidArg('options.mode', o.mode, `must be one of ${ALL_MIRROR_MODES.join(', ')}`);
  for (const k of Object.keys(o)) {
    if (!['mode', 'readOnly', 'populate', 'repin', 'twoPass'].includes(k)) throw invalidArg('options', k, 'has an unknown option');
  }
  if (o.repin && (o.mode === 'hmm' || o.mode === 'svm')) throw invalidArg('options.repin', o.repin, 'applies to GUP modes only');
  let f = modeFlags(o.mode);
  if (o.readOnly) f |= MIRRORDRM.READ_ONLY;
  if (o.populate) f |= MIRRORDRM.POPULATE;
  if (o.repin) f |= MIRRORDRM.GUP_REPIN;
  if (o.twoPass) f |= MIRRORDRM.TWO_PASS;
  return f;
}

function behaviourArgs(b: CallbackBehaviour): [number, number, number] {
  if (typeof b !== 'object' || b === null) throw invalidType('behaviour', b, 'an object');
  const ns = b.fenceWaitNs ?? 0;
  if (!Number.isSafeInteger(ns) || ns < 0 || ns > MIRRORDRM.FENCE_WAIT_MAX_NS)
    throw outOfRange('behaviour.fenceWaitNs', ns, `an integer in [0, ${MIRRORDRM.FENCE_WAIT_MAX_NS}]`);
  const delay = b.populateDelayNs ?? 0;
  if (!Number.isSafeInteger(delay) || delay < 0 || delay > MIRRORDRM.POPULATE_DELAY_MAX_NS)
    throw outOfRange('behaviour.populateDelayNs', delay, `an integer in [0, ${MIRRORDRM.POPULATE_DELAY_MAX_NS}]`);
  return [b.readOnlyDowngrade ? MIRRORDRM.BEHAVIOUR_RO_DOWNGRADE : 0, ns, delay];
}

export class MockDrmBuffer implements MirroredBuffer {
  readonly #dev: MockDrm;
  readonly #token: { dev: DeviceState; handle: number; closed: boolean };

  constructor(
    dev: MockDrm,
    readonly handle: number,
    readonly address: bigint,
    readonly size: number,
    readonly mode: MirrorMode,
    readonly options: Readonly<MirrorOptions>,
  ) {
    this.#dev = dev;
    this.#token = { dev: dev.state, handle, closed: false };
    bufferRegistry.register(this, this.#token, this);
  }

  get closed(): boolean {
    return this.#token.closed || this.#dev.closed;
  }

  #check(offset: number, length: number): void {
    if (this.closed) throw invalidState(`mirrordrm buffer ${this.handle} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw outOfRange('offset', offset, '>= 0');
    if (!Number.isSafeInteger(length) || length <= 0) throw invalidArg('length', length, 'must be a positive integer');
    if (offset + length > this.size) throw outOfRange('offset + length', offset + length, `<= ${this.size}`);
  }

  // A write to a read-only object is refused here unless the caller asks to
  // see the kernel refuse it (EACCES from DRM_IOCTL_MIRRORDRM_ACCESS).
  #checkWrite(offset: number, data: Uint8Array, options: DeviceWriteOptions | undefined): void {
    if (!(data instanceof Uint8Array)) throw invalidType('data', data, 'a Uint8Array');
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidType('options', options, 'an object');
    for (const k of Object.keys(options ?? {})) {
      if (k !== 'unchecked') throw invalidArg('options', k, 'has an unknown option');
    }
    if (options?.unchecked !== undefined && typeof options.unchecked !== 'boolean')
      throw invalidType('options.unchecked', options.unchecked, 'of type boolean');
    this.#check(offset, data.byteLength);
    if (this.options.readOnly && !options?.unchecked) throw invalidState(`mirrordrm buffer ${this.handle} is read-only`);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    await md.accessAsync(this.#dev.fd, this.handle, offset, MIRRORDRM.ACCESS_READ, out);
    return out;
  }

  async write(offset: number, data: Uint8Array, options?: DeviceWriteOptions): Promise<DeviceAccessResult> {
    this.#checkWrite(offset, data, options);
    return md.accessAsync(this.#dev.fd, this.handle, offset, MIRRORDRM.ACCESS_WRITE, data);
  }

  readSync(offset: number, length: number): Uint8Array {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    md.access(this.#dev.fd, this.handle, offset, MIRRORDRM.ACCESS_READ, out);
    return out;
  }

  writeSync(offset: number, data: Uint8Array, options?: DeviceWriteOptions): DeviceAccessResult {
    this.#checkWrite(offset, data, options);
    return md.access(this.#dev.fd, this.handle, offset, MIRRORDRM.ACCESS_WRITE, data);
  }

  snapshot(firstPage = 0, count?: number): MirrorPageState[] {
    const pages = this.size / PAGE;
    const n = count ?? pages - firstPage;
    if (this.closed) throw invalidState(`mirrordrm buffer ${this.handle} is closed`);
    if (!Number.isSafeInteger(firstPage) || firstPage < 0 || firstPage >= pages) throw outOfRange('firstPage', firstPage, `in [0, ${pages})`);
    if (!Number.isSafeInteger(n) || n <= 0 || firstPage + n > pages) throw outOfRange('count', n, `in [1, ${pages - firstPage}]`);
    return decodePages(md.snapshot(this.#dev.fd, this.handle, firstPage, n), firstPage);
  }

  stats(): MirrorCounters {
    if (this.closed) throw invalidState(`mirrordrm buffer ${this.handle} is closed`);
    return decodeCounters(md.stats(this.#dev.fd, this.handle));
  }

  setBehaviour(b: CallbackBehaviour): void {
    const [flags, ns, delay] = behaviourArgs(b);
    if (this.closed) throw invalidState(`mirrordrm buffer ${this.handle} is closed`);
    md.setBehaviour(this.#dev.fd, this.handle, flags, ns, delay);
  }

  #pageRange(offset: number | undefined, length: number | undefined): [number, number] {
    const off = offset ?? 0;
    const len = length ?? this.size - off;
    this.#check(off, len);
    if (off % PAGE !== 0) throw invalidArg('offset', off, `must be aligned to ${PAGE} bytes`);
    if (len % PAGE !== 0) throw invalidArg('length', len, `must be a multiple of ${PAGE}`);
    return [off, len];
  }

  /**
   * Moves [offset, offset + length) into this device's private memory or
   * back (DRM_IOCTL_MIRRORDRM_MIGRATE). Only private anonymous memory moves
   * (EOPNOTSUPP otherwise); ENOSPC when device memory ran out part way, with
   * the pages that did move on the Error (migrated, compound, skipped).
   */
  migrate(opts: MigrateOptions): MigrateResult {
    if (typeof opts !== 'object' || opts === null) throw invalidType('options', opts, 'an object');
    for (const k of Object.keys(opts)) {
      if (!['to', 'offset', 'length', 'compound'].includes(k)) throw invalidArg('options', k, 'has an unknown option');
    }
    if (opts.to !== 'device' && opts.to !== 'ram') throw invalidArg('options.to', opts.to, "must be 'device' or 'ram'");
    const [off, len] = this.#pageRange(opts.offset, opts.length);
    let flags = opts.to === 'device' ? MIRRORDRM.MIGRATE_TO_DEVICE : MIRRORDRM.MIGRATE_TO_RAM;
    if (opts.compound) flags |= MIRRORDRM.MIGRATE_COMPOUND;
    return md.migrate(this.#dev.fd, this.handle, off, len, flags);
  }

  /**
   * make_device_exclusive() on each page (device atomics): the CPU loses the
   * pages until it touches them. Returns the pages made exclusive.
   */
  exclusive(offset?: number, length?: number): number {
    const [off, len] = this.#pageRange(offset, length);
    return md.exclusive(this.#dev.fd, this.handle, off, len);
  }

  close(): void {
    if (this.#token.closed) return;
    this.#token.closed = true;
    bufferRegistry.unregister(this);
    if (!this.#dev.closed) md.gemClose(this.#dev.fd, this.handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export class MockDrm implements MirrorDevice {
  readonly backend = 'mirrordrm';
  /** @internal shared with buffers and finalizers */
  readonly state: DeviceState;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.state = { fd, closed: false };
    deviceRegistry.register(this, this.state, this);
  }

  /** Opens every mirrordrm device (module parameter devices=N), in minor order. */
  static openAll(): MockDrm[] {
    const out: MockDrm[] = [];
    try {
      for (const p of findMirrordrmNodes()) out.push(MockDrm.open(p));
    } catch (e) {
      for (const d of out) d.close();
      throw e;
    }
    return out;
  }

  /** Opens the mirrordrm render node (found by driver name unless a path is given). */
  static open(nodePath?: string): MockDrm {
    const p = nodePath ?? findMirrordrmNode();
    if (!p) throw invalidState('no mirrordrm render node: load the module (modprobe mirrordrm) first');
    const fd = fs.openSync(p, fs.constants.O_RDWR /* libuv adds O_CLOEXEC */);
    try {
      const v = md.version(fd);
      if (v.name !== 'mirrordrm') throw invalidArg('path', p, `is a ${v.name} device, not mirrordrm`);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new MockDrm(fd, p);
  }

  get fd(): number {
    return this.state.fd;
  }

  get closed(): boolean {
    return this.state.closed;
  }

  #live(): void {
    if (this.state.closed) throw invalidState('mirrordrm device is closed');
  }

  async userptr(range: MirrorRange, options: MirrorOptions): Promise<MockDrmBuffer> {
    const { address, length } = checkRange(range);
    const flags = userptrFlags(options);
    this.#live();
    const handle = await md.userptrAsync(this.fd, address, length, flags);
    return new MockDrmBuffer(this, handle, address, length, options.mode, { ...options });
  }

  userptrSync(range: MirrorRange, options: MirrorOptions): MockDrmBuffer {
    const { address, length } = checkRange(range);
    const flags = userptrFlags(options);
    this.#live();
    const handle = md.userptr(this.fd, address, length, flags);
    return new MockDrmBuffer(this, handle, address, length, options.mode, { ...options });
  }

  drainInvalidations(): DrainResult {
    this.#live();
    const records: InvalidationRecord[] = [];
    let lost = 0n;
    let lostTotal = 0n;
    let pending = 0;
    for (;;) {
      const r = md.invalRead(this.fd, 256);
      records.push(...decodeRecords(r.records));
      lost += r.lost;
      lostTotal = r.lostTotal;
      pending = r.pending;
      if (r.count === 0 || r.pending === 0) break;
    }
    return { records, lost, lostTotal, pending };
  }

  /**
   * Invalidation records as they arrive. Waits with poll() on the thread
   * pool; an overflow of the kernel's log throws (records were lost) rather
   * than skipping silently.
   */
  async *invalidations(opts: { signal?: AbortSignal } = {}): AsyncIterableIterator<InvalidationRecord> {
    while (!this.closed && !opts.signal?.aborted) {
      const d = this.drainInvalidations();
      if (d.lost > 0n) throw invalidState(`mirrordrm invalidation log overflowed: ${d.lost} records lost`);
      for (const r of d.records) yield r;
      if (d.records.length === 0) await md.pollAsync(this.fd, 100);
    }
  }

  stats(): MirrorCounters {
    this.#live();
    return decodeCounters(md.stats(this.fd, 0));
  }

  /** Which device this is, its owner, its device memory and what moved through it. */
  deviceInfo(): DeviceInfo {
    this.#live();
    return decodeDeviceInfo(md.deviceInfo(this.fd));
  }

  setBehaviour(b: CallbackBehaviour): void {
    const [flags, ns, delay] = behaviourArgs(b);
    this.#live();
    md.setBehaviour(this.fd, 0, flags, ns, delay);
  }

  close(): void {
    if (this.state.closed) return;
    this.state.closed = true;
    deviceRegistry.unregister(this);
    fs.closeSync(this.state.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
