// A userfaultfd session: open, UFFDIO_API handshake, register ranges, resolve
// faults (COPY, ZEROPAGE, CONTINUE, WRITEPROTECT, WAKE, MOVE, POISON), and
// receive messages in one of two ways:
//
//  - listen() / events() / nextEvent(): every message is handed to
//    JavaScript. A page fault stays held (the faulting thread sleeps in the
//    kernel) until the script resolves it, so "hold the fault, do something
//    else, release it" is just: await the fault, do the thing, call
//    fault.copy(). Two deliveries ('poll' by default, see UffdDelivery):
//    'poll' reads the uffd on the main thread's event loop (a uv_poll handle,
//    each readable batch read at once); 'thread' has a native thread read it
//    and pass each message on through a thread-safe function, so messages are
//    read even while the main thread is blocked.
//  - serve(policy): a native thread resolves faults itself (copy a pattern or
//    map the zero page, optionally after a delay), counting faults and timing
//    each one, for measurement. No JavaScript runs per fault.
//
// Closing stops delivery (a reader thread is joined; it never waits for a fault) and
// closes the uffd. The kernel then wakes every thread still held on a fault of
// this uffd and drops the registration of its ranges, so each held fault is
// retried as if the range had never been registered: an anonymous page reads
// as zeros, a shmem page shows the page cache. Nothing is left stuck. (With
// the SIGBUS feature, faults raise SIGBUS instead of being delivered at all.)
//
// Non-cooperative events (FORK, REMAP, REMOVE, UNMAP) make the thread that
// caused them (fork, mremap, madvise, munmap) wait until the message is read.
// Request those features only together with a reader (listen() or serve()),
// or that thread waits until the uffd is read or closed. When that thread is
// the main thread, only the 'thread' delivery can read the message, which is
// why the default picks it whenever one of those features is enabled.
import { EventEmitter } from 'node:events';
import { native } from '../addon.js';
import type { FaultServerCounters, UffdDeliveryHandle, UffdMessage, UffdPollHandle, UffdServerHandle, UffdServerSamples } from '../native.js';
import { invalidArg, invalidState, invalidType, isSyscallError, outOfRange, type SyscallError } from '../errors.js';
import { summarize, type Summary } from '../stats/summary.js';
import { holdAccessesAt, releaseHeldAccesses, type MemoryRange } from './access.js';
import { mappingsOverlapping, type Mapping } from '../memory/mapping.js';
import {
  REGISTER_MODES,
  UFFD_FEATURES,
  decodeFeatures,
  decodeIoctls,
  featureBit,
  uffdConstants as C,
  type RegisterMode,
  type UffdFeature,
  type UffdIoctl,
} from './constants.js';

const EVENT_NAMES = new Set(['event', 'pagefault', 'fork', 'remap', 'remove', 'unmap']);
/** Features whose events make the thread that caused them wait until the message is read. */
const NON_COOPERATIVE: readonly UffdFeature[] = ['EVENT_FORK', 'EVENT_REMAP', 'EVENT_REMOVE', 'EVENT_UNMAP'];
/** Messages read per batch by the 'poll' delivery (one read() each time the uffd is readable). */
const POLL_BATCH = 64;
const PAGE_SIZE = native.mmConstants.PAGE_SIZE;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

// ------------------------------------------------------------------ types

export interface UffdOpenOptions {
  /** 'syscall' (userfaultfd(2), the default) or 'device' (/dev/userfaultfd + USERFAULTFD_IOC_NEW). */
  via?: 'syscall' | 'device';
  /**
   * UFFD_USER_MODE_ONLY (faults raised by the kernel itself, e.g. in
   * copy_to_user, are not delivered): true, false, or 'auto' (default): through
   * the syscall, without it, and again with it if the kernel refuses with EPERM
   * (vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE); through the device,
   * without it (access to /dev/userfaultfd is the permission there).
   */
  userModeOnly?: boolean | 'auto';
  /** Features to enable at UFFDIO_API (UFFD_FEATURE_* without the prefix). */
  features?: UffdFeature[];
  /** How listen() delivers messages (default 'auto'); see UffdDelivery. */
  delivery?: UffdDelivery | 'auto';
}

/**
 * How messages reach JavaScript.
 *
 * - 'poll': the main thread's event loop polls the uffd and reads each batch
 *   itself; the fastest round trip (no thread, no cross-thread handoff). Messages
 *   are read only while the main thread is in its event loop.
 * - 'thread': a native thread reads the uffd and hands each message to the main
 *   thread through a thread-safe function. Messages are read (and so
 *   non-cooperative events complete) even while the main thread is blocked, e.g.
 *   in an madvise(MADV_DONTNEED), munmap, mremap or fork of its own that waits
 *   for its REMOVE, UNMAP, REMAP or FORK message to be read.
 *
 * 'auto' (the default) is 'thread' when EVENT_FORK, EVENT_REMAP, EVENT_REMOVE or
 * EVENT_UNMAP is enabled and 'poll' otherwise. Neither lets the main thread touch
 * a page of a range it resolves itself: the access waits for a handler that
 * can only run on the thread that is waiting.
 */
export type UffdDelivery = 'poll' | 'thread';

export interface UffdApiInfo {
  api: number;
  /** Every feature the kernel offers (what UFFDIO_API wrote back). */
  offered: UffdFeature[];
  offeredBits: bigint;
  /** Offered bits this build of mirrorlab has no name for. */
  unknownFeatureBits: bigint;
  /** Features enabled on this uffd (those requested). */
  enabled: UffdFeature[];
  enabledBits: bigint;
  /** ioctls valid on the uffd itself (UFFD_API_IOCTLS). */
  ioctls: UffdIoctl[];
  ioctlBits: bigint;
}

export interface Registration {
  address: bigint;
  length: number;
  modes: RegisterMode[];
  /** Page size used to align faults and checks on this range. */
  pageSize: number;
  /** ioctls the kernel allows on the range (uffdio_register.ioctls). */
  ioctls: UffdIoctl[];
  ioctlBits: bigint;
}

export interface PageFaultFlags {
  write: boolean;
  wp: boolean;
  minor: boolean;
}

export interface BaseEvent {
  /** CLOCK_MONOTONIC when the message was read (by the event loop or the delivery thread). */
  readNs: bigint;
  uffd: Userfaultfd;
}

export interface ForkEvent extends BaseEvent {
  type: 'fork';
  /** The child's new uffd (already initialized, with the parent's features). */
  child: Userfaultfd;
}

export interface RemapEvent extends BaseEvent {
  type: 'remap';
  from: bigint;
  to: bigint;
  length: number;
}

export interface RemoveEvent extends BaseEvent {
  type: 'remove';
  start: bigint;
  end: bigint;
}

export interface UnmapEvent extends BaseEvent {
  type: 'unmap';
  start: bigint;
  end: bigint;
}

export type UffdEvent = PageFault | ForkEvent | RemapEvent | RemoveEvent | UnmapEvent;
export type UffdEventType = UffdEvent['type'];

export interface CopyOptions {
  /** UFFDIO_COPY_MODE_DONTWAKE: map the page but leave the faulting thread asleep (wake() later). */
  dontWake?: boolean;
  /** UFFDIO_COPY_MODE_WP: map it write-protected (range registered with 'wp'). */
  wp?: boolean;
}

export interface FaultServerPolicy {
  /** How MISSING faults are resolved (default 'copy'). WP faults are always resolved by
   * clearing write protection, MINOR faults by UFFDIO_CONTINUE. */
  missing?: 'copy' | 'zeropage';
  /** Bytes copied into each faulting page, repeated to fill it (default zeros). */
  pattern?: Uint8Array;
  /** Page size of the faulting ranges (default: the page size of the registrations when
   * they all have the same, like 2 MiB for hugetlb Mappings; else the base page size). */
  pageSize?: number;
  /** Copy with UFFDIO_COPY_MODE_WP. */
  wp?: boolean;
  /** Wait this long before resolving each fault (an emulated slow backing store). */
  delayUs?: number;
  /** Keep at most this many latency samples (default 1 Mi). */
  maxSamples?: number;
}

export type { FaultServerCounters };

export interface FaultServerResult extends UffdServerSamples {
  service: Summary;
}

// ------------------------------------------------------------------ checks

function checkRange(name: string, r: MemoryRange, pageSize: number): { address: bigint; length: number } {
  if (r === null || typeof r !== 'object') throw invalidType(name, r, 'an object with address and length');
  const { address, length } = r;
  if (typeof address !== 'bigint') throw invalidType(`${name}.address`, address, 'of type bigint');
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length <= 0)
    throw invalidArg(`${name}.length`, length, 'must be a positive integer');
  if (address < 0n) throw outOfRange(`${name}.address`, address, '>= 0');
  if (address + BigInt(length) > U64_MAX + 1n)
    throw outOfRange(`${name}.address + ${name}.length`, address + BigInt(length), '<= 2^64');
  if (address % BigInt(pageSize) !== 0n) throw invalidArg(`${name}.address`, address, `must be aligned to the page size (${pageSize})`);
  if (length % pageSize !== 0) throw invalidArg(`${name}.length`, length, `must be a multiple of the page size (${pageSize})`);
  return { address, length };
}

function checkBoolOpts(name: string, opts: object | undefined, allowed: string[]): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object') throw invalidType(name, opts, 'an object');
  for (const k of Object.keys(opts)) if (!allowed.includes(k)) throw invalidArg(`${name}.${k}`, k, `is not an option (${allowed.join(', ')})`);
}

function timeoutError(ms: number): Error {
  return Object.assign(new Error(`No userfaultfd event within ${ms} ms`), { code: 'ETIMEDOUT' });
}

const finalizer = new FinalizationRegistry<{ fd: number; closed: boolean }>((s) => {
  if (!s.closed) {
    s.closed = true;
    try {
      native.uffdClose(s.fd);
    } catch {
      /* already closed */
    }
  }
});

// ------------------------------------------------------------------ PageFault

/** A page fault, held until one of its methods resolves it (or the uffd closes). */
export class PageFault implements BaseEvent {
  readonly type = 'pagefault' as const;
  /** The faulting address (page-aligned unless EXACT_ADDRESS is enabled). */
  readonly address: bigint;
  /** The page that faulted, aligned to its registration's page size. */
  readonly page: bigint;
  readonly pageSize: number;
  readonly flags: PageFaultFlags;
  readonly rawFlags: number;
  /** Kernel thread id of the faulting thread (0 unless THREAD_ID is enabled). */
  readonly tid: number;
  readonly readNs: bigint;
  readonly uffd: Userfaultfd;
  private _resolvedBy: string | null = null;
  // The Mappings under the faulting page, kept reachable while this event is:
  // a held fault whose Mapping was collected would have its memory unmapped
  // by the finalizer under the faulting thread.
  readonly #pinned: readonly Mapping[];

  /** @internal built by the uffd from a message */
  constructor(uffd: Userfaultfd, m: UffdMessage) {
    this.uffd = uffd;
    this.address = m.address!;
    this.pageSize = uffd.pageSizeAt(this.address);
    this.page = this.address - (this.address % BigInt(this.pageSize));
    this.rawFlags = m.flags!;
    this.flags = {
      write: (m.flags! & C.UFFD_PAGEFAULT_FLAG_WRITE) !== 0,
      wp: (m.flags! & C.UFFD_PAGEFAULT_FLAG_WP) !== 0,
      minor: (m.flags! & C.UFFD_PAGEFAULT_FLAG_MINOR) !== 0,
    };
    this.tid = m.ptid ?? 0;
    this.readNs = m.readNs;
    this.#pinned = mappingsOverlapping(this.page, this.pageSize);
  }

  /** The faulting page as a range. */
  get range(): MemoryRange {
    return { address: this.page, length: this.pageSize };
  }

  /** How it was resolved ('copy', 'zeropage', ...), or null while held. */
  get resolvedBy(): string | null {
    return this._resolvedBy;
  }

  /**
   * Resolve a MISSING fault with UFFDIO_COPY of `data` (one page; shorter data
   * is repeated). EAGAIN means the mm is changing under a non-cooperative
   * event (fork, mremap, madvise, munmap): once the delivery has read that
   * event, calling again succeeds. EEXIST: the page is
   * already there (wake() the thread).
   */
  copy(data: Uint8Array, opts?: CopyOptions): number {
    let src = data;
    if (!(data instanceof Uint8Array)) throw invalidType('data', data, 'a Uint8Array');
    if (data.byteLength < this.pageSize) {
      if (data.byteLength === 0) throw invalidArg('data', data.byteLength, 'must not be empty');
      src = new Uint8Array(this.pageSize);
      for (let i = 0; i < this.pageSize; i += data.byteLength) src.set(data.subarray(0, Math.min(data.byteLength, this.pageSize - i)), i);
    }
    const n = this.uffd.copy(this.range, src, opts);
    this._resolvedBy = 'copy';
    return n;
  }

  /** Resolve a MISSING fault with UFFDIO_ZEROPAGE. */
  zeropage(opts?: { dontWake?: boolean }): number {
    const n = this.uffd.zeropage(this.range, opts);
    this._resolvedBy = 'zeropage';
    return n;
  }

  /** Resolve a MINOR fault with UFFDIO_CONTINUE (map the page-cache page). */
  continue(opts?: { dontWake?: boolean; wp?: boolean }): number {
    const n = this.uffd.continue(this.range, opts);
    this._resolvedBy = 'continue';
    return n;
  }

  /** Resolve a WP fault by clearing write protection on the page (UFFDIO_WRITEPROTECT, mode 0). */
  unprotect(opts?: { dontWake?: boolean }): void {
    this.uffd.writeProtect(this.range, false, opts);
    this._resolvedBy = 'writeprotect';
  }

  /** UFFDIO_WAKE on the page: the thread retries the access (and faults again if nothing changed). */
  wake(): void {
    this.uffd.wake(this.range);
    this._resolvedBy = 'wake';
  }
}

// ------------------------------------------------------------------ FaultServer

/** A native thread resolving faults of one uffd with a fixed policy. */
export class FaultServer implements Disposable {
  private handle: UffdServerHandle;
  private result: FaultServerResult | null = null;

  /** @internal */
  constructor(
    private readonly owner: Userfaultfd,
    handle: UffdServerHandle,
  ) {
    this.handle = handle;
  }

  get running(): boolean {
    return this.result === null;
  }

  /** Counters so far (safe while running). */
  stats(): FaultServerCounters {
    if (this.result) return this.result;
    return native.uffdServerStats(this.handle);
  }

  /** Stop and join the thread; returns the counters and per-fault service times. Idempotent. */
  stop(): FaultServerResult {
    if (this.result) return this.result;
    const r = native.uffdServerStop(this.handle);
    this.result = { ...r, service: summarize(r.serviceNs) };
    this.owner._readerStopped(this);
    return this.result!;
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}

// ------------------------------------------------------------------ Userfaultfd

interface Waiter {
  type: UffdEventType | undefined;
  resolve: (e: UffdEvent) => void;
  reject: (e: unknown) => void;
  timer?: NodeJS.Timeout;
}

interface IteratorState {
  queue: UffdEvent[];
  wake: (() => void) | null;
  done: boolean;
  error: unknown;
}

/**
 * A userfaultfd. Emits 'event' (every message), 'pagefault', 'fork', 'remap',
 * 'remove', 'unmap', 'error' (delivery stopped on an error) and
 * 'close'. Adding a listener for an event, events(), nextEvent() or listen()
 * starts delivery.
 */
export class Userfaultfd extends EventEmitter implements Disposable {
  readonly fd: number;
  readonly via: 'syscall' | 'device' | 'fork';
  /** Whether the uffd was created with UFFD_USER_MODE_ONLY. */
  readonly userModeOnly: boolean;
  readonly api: UffdApiInfo;

  private state: { fd: number; closed: boolean };
  private readonly registrations: Registration[] = [];
  /** The running delivery, if any. */
  private reader: { mode: 'thread'; handle: UffdDeliveryHandle } | { mode: 'poll'; handle: UffdPollHandle } | null = null;
  private readonly deliveryChoice: UffdDelivery | 'auto';
  /** The 'poll' delivery's batch buffer (see uffdPollStart), allocated on first use. */
  private pollBuffer: { buffer: ArrayBuffer; u8: Uint8Array; u32: Uint32Array; u64: BigUint64Array } | null = null;
  private server: FaultServer | null = null;
  private backlog: UffdEvent[] = [];
  private waiters: Waiter[] = [];
  private iterators = new Set<IteratorState>();
  private refed = true;

  /** Events nobody received (no waiter, iterator or listener) are kept for nextEvent()/events(),
   * up to this many (oldest dropped). */
  backlogLimit = 4096;

  private constructor(
    fd: number,
    via: 'syscall' | 'device' | 'fork',
    userModeOnly: boolean,
    api: UffdApiInfo,
    delivery: UffdDelivery | 'auto',
    regs: Registration[] = [],
  ) {
    super();
    this.fd = fd;
    this.deliveryChoice = delivery;
    this.via = via;
    this.userModeOnly = userModeOnly;
    this.api = api;
    this.registrations = regs.map((r) => ({ ...r }));
    this.state = { fd, closed: false };
    finalizer.register(this, this.state, this.state);
    // 'error' without a listener would throw from the delivery callback.
    this.on('error', () => {});
    // A listener for an event starts delivery.
    this.on('newListener', (name: string | symbol) => {
      if (typeof name === 'string' && EVENT_NAMES.has(name) && !this.state.closed && !this.server) this.listen();
    });
  }

  /** Create a uffd (O_CLOEXEC | O_NONBLOCK) and do the UFFDIO_API handshake. */
  static open(opts: UffdOpenOptions = {}): Userfaultfd {
    checkBoolOpts('options', opts, ['via', 'userModeOnly', 'features', 'delivery']);
    const delivery = opts.delivery ?? 'auto';
    if (delivery !== 'auto' && delivery !== 'poll' && delivery !== 'thread') throw invalidArg('options.delivery', delivery, "must be 'auto', 'poll' or 'thread'");
    const via = opts.via ?? 'syscall';
    if (via !== 'syscall' && via !== 'device') throw invalidArg('options.via', via, "must be 'syscall' or 'device'");
    const umo = opts.userModeOnly ?? 'auto';
    if (umo !== true && umo !== false && umo !== 'auto') throw invalidArg('options.userModeOnly', umo, "must be true, false or 'auto'");
    let want = 0n;
    for (const f of opts.features ?? []) {
      if (!(UFFD_FEATURES as readonly string[]).includes(f))
        throw invalidArg('options.features', f, `is not a userfaultfd feature (${UFFD_FEATURES.join(', ')})`);
      want |= featureBit(f);
    }
    const base = C.O_CLOEXEC | C.O_NONBLOCK;
    let fd: number;
    let userModeOnly = umo === true;
    try {
      fd = native.uffdOpen(base | (userModeOnly ? C.UFFD_USER_MODE_ONLY : 0), via === 'device');
    } catch (e) {
      if (umo !== 'auto' || via !== 'syscall' || !isSyscallError(e) || e.code !== 'EPERM') throw e;
      userModeOnly = true;
      fd = native.uffdOpen(base | C.UFFD_USER_MODE_ONLY, false);
    }
    let raw: { api: bigint; features: bigint; ioctls: bigint };
    try {
      raw = native.uffdApi(fd, want);
    } catch (e) {
      native.uffdClose(fd);
      throw e;
    }
    return new Userfaultfd(fd, via, userModeOnly, apiInfo(raw, want), delivery);
  }

  /**
   * What this kernel offers, from a throwaway uffd: features and ioctls
   * decoded to names. Throws the SyscallError if no uffd can be created.
   */
  static probe(opts: Omit<UffdOpenOptions, 'features' | 'delivery'> = {}): UffdApiInfo & { via: 'syscall' | 'device'; userModeOnly: boolean } {
    const u = Userfaultfd.open({ ...opts, features: [] });
    try {
      return { ...u.api, via: u.via as 'syscall' | 'device', userModeOnly: u.userModeOnly };
    } finally {
      u.close();
    }
  }

  get closed(): boolean {
    return this.state.closed;
  }

  /** Whether the kernel offers `feature` (enabled or not on this uffd). */
  offers(feature: UffdFeature): boolean {
    return this.api.offered.includes(feature);
  }

  /** Whether `feature` is enabled on this uffd. */
  has(feature: UffdFeature): boolean {
    return this.api.enabled.includes(feature);
  }

  private live(): number {
    if (this.state.closed) throw invalidState('The userfaultfd is closed');
    // Any call on the uffd may resolve a held fault: accesses held on one keep
    // the process alive again until they complete.
    releaseHeldAccesses();
    return this.fd;
  }

  /** @internal page size of the registration holding `addr` (base page size if none). */
  pageSizeAt(addr: bigint): number {
    for (const r of this.registrations) if (addr >= r.address && addr < r.address + BigInt(r.length)) return r.pageSize;
    return PAGE_SIZE;
  }

  private rangeArg(name: string, r: MemoryRange): { address: bigint; length: number } {
    const a = r && typeof r === 'object' && typeof r.address === 'bigint' ? r.address : 0n;
    return checkRange(name, r, this.pageSizeAt(a));
  }

  /** Registered ranges, as this object knows them (REMAP/UNMAP events do not update it). */
  get registered(): readonly Registration[] {
    return this.registrations;
  }

  /**
   * UFFDIO_REGISTER `range` in `modes`. `range.pageSize` (if the range has one,
   * like a hugetlb Mapping) or `opts.pageSize` sets the alignment used for faults.
   */
  register(range: MemoryRange & { pageSize?: number }, modes: RegisterMode | RegisterMode[], opts: { pageSize?: number } = {}): Registration {
    const fd = this.live();
    const list = Array.isArray(modes) ? modes : [modes];
    if (list.length === 0) throw invalidArg('modes', modes, 'must name at least one mode');
    let mode = 0;
    for (const m of list) {
      if (!(m in REGISTER_MODES)) throw invalidArg('modes', m, "must be 'missing', 'wp' or 'minor'");
      mode |= REGISTER_MODES[m];
    }
    const pageSize = opts.pageSize ?? range?.pageSize ?? PAGE_SIZE;
    if (!Number.isSafeInteger(pageSize) || pageSize < PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0)
      throw invalidArg('pageSize', pageSize, `must be a power of two >= ${PAGE_SIZE}`);
    const { address, length } = checkRange('range', range, pageSize);
    const bits = native.uffdRegister(fd, address, length, mode);
    const reg: Registration = { address, length, modes: [...new Set(list)], pageSize, ioctls: decodeIoctls(bits).names, ioctlBits: bits };
    this.registrations.push(reg);
    return reg;
  }

  /** UFFDIO_UNREGISTER. */
  unregister(range: MemoryRange): void {
    const fd = this.live();
    const { address, length } = this.rangeArg('range', range);
    native.uffdUnregister(fd, address, length);
    const end = address + BigInt(length);
    for (let i = this.registrations.length - 1; i >= 0; i--) {
      const r = this.registrations[i];
      if (r.address >= address && r.address + BigInt(r.length) <= end) this.registrations.splice(i, 1);
    }
  }

  /**
   * UFFDIO_COPY `src` into `dst` (dst.length bytes). src: a Uint8Array of at
   * least dst.length bytes, or the address of readable memory. Returns the
   * bytes copied. A partial copy throws EAGAIN with err.args.copy = bytes done.
   */
  copy(dst: MemoryRange, src: Uint8Array | bigint | MemoryRange, opts: CopyOptions = {}): number {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake', 'wp']);
    const { address, length } = this.rangeArg('dst', dst);
    let s: Uint8Array | bigint;
    if (src instanceof Uint8Array) {
      if (src.byteLength < length) throw outOfRange('src.byteLength', src.byteLength, `>= ${length}`);
      s = src;
    } else if (typeof src === 'bigint') {
      s = src;
    } else if (src && typeof src === 'object' && typeof src.address === 'bigint') {
      if (src.length < length) throw outOfRange('src.length', src.length, `>= ${length}`);
      s = src.address;
    } else {
      throw invalidType('src', src, 'a Uint8Array, a bigint address or a range');
    }
    const mode = (opts.dontWake ? C.UFFDIO_COPY_MODE_DONTWAKE : 0) | (opts.wp ? C.UFFDIO_COPY_MODE_WP : 0);
    return native.uffdCopy(fd, address, s, length, mode);
  }

  /** UFFDIO_ZEROPAGE: map the zero page over `range`. Returns the bytes mapped. */
  zeropage(range: MemoryRange, opts: { dontWake?: boolean } = {}): number {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake']);
    const { address, length } = this.rangeArg('range', range);
    return native.uffdZeropage(fd, address, length, opts.dontWake ? C.UFFDIO_ZEROPAGE_MODE_DONTWAKE : 0);
  }

  /** UFFDIO_CONTINUE: map the existing page-cache pages of a MINOR range. Returns the bytes mapped. */
  continue(range: MemoryRange, opts: { dontWake?: boolean; wp?: boolean } = {}): number {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake', 'wp']);
    const { address, length } = this.rangeArg('range', range);
    const mode = (opts.dontWake ? C.UFFDIO_CONTINUE_MODE_DONTWAKE : 0) | (opts.wp ? C.UFFDIO_CONTINUE_MODE_WP : 0);
    return native.uffdContinue(fd, address, length, mode);
  }

  /** UFFDIO_WRITEPROTECT: set (protect = true) or clear write protection; clearing wakes waiters unless dontWake. */
  writeProtect(range: MemoryRange, protect: boolean, opts: { dontWake?: boolean } = {}): void {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake']);
    if (typeof protect !== 'boolean') throw invalidType('protect', protect, 'of type boolean');
    const { address, length } = this.rangeArg('range', range);
    const mode = (protect ? C.UFFDIO_WRITEPROTECT_MODE_WP : 0) | (opts.dontWake ? C.UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0);
    native.uffdWriteprotect(fd, address, length, mode);
  }

  /** UFFDIO_WAKE: wake threads waiting on faults in `range`. */
  wake(range: MemoryRange): void {
    const fd = this.live();
    const { address, length } = this.rangeArg('range', range);
    native.uffdWake(fd, address, length);
  }

  /**
   * UFFDIO_MOVE `length` bytes of pages from `src` to `dst` (anonymous, both
   * in ranges of this uffd; dst must be unpopulated). Returns the bytes moved.
   */
  move(dst: bigint, src: bigint, length: number, opts: { dontWake?: boolean; allowSrcHoles?: boolean } = {}): number {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake', 'allowSrcHoles']);
    checkRange('dst', { address: dst, length }, PAGE_SIZE);
    checkRange('src', { address: src, length }, PAGE_SIZE);
    const mode = (opts.dontWake ? C.UFFDIO_MOVE_MODE_DONTWAKE : 0) | (opts.allowSrcHoles ? C.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0);
    return native.uffdMove(fd, dst, src, length, mode);
  }

  /** UFFDIO_POISON: install poison markers; a later access raises SIGBUS. Returns the bytes poisoned. */
  poison(range: MemoryRange, opts: { dontWake?: boolean } = {}): number {
    const fd = this.live();
    checkBoolOpts('options', opts, ['dontWake']);
    const { address, length } = this.rangeArg('range', range);
    return native.uffdPoison(fd, address, length, opts.dontWake ? C.UFFDIO_POISON_MODE_DONTWAKE : 0);
  }

  /** Read the messages queued now, without listen() or serve() (non-blocking). */
  read(): UffdEvent[] {
    const fd = this.live();
    if (this.reader || this.server) throw invalidState('A reader (listen() or serve()) owns this userfaultfd');
    return native.uffdRead(fd).map((m) => this.toEvent(m));
  }

  // ---------------------------------------------------------------- delivery

  /** The delivery listen() starts: the open() option, with 'auto' resolved for this uffd's features. */
  get delivery(): UffdDelivery {
    if (this.deliveryChoice !== 'auto') return this.deliveryChoice;
    return NON_COOPERATIVE.some((f) => this.has(f)) ? 'thread' : 'poll';
  }

  /** Start delivering messages to JavaScript (idempotent). */
  listen(): this {
    const fd = this.live();
    if (this.server) throw invalidState('A fault server owns this userfaultfd; stop it first');
    if (this.reader) return this;
    if (this.delivery === 'thread') {
      const reader = { mode: 'thread' as const, handle: null as unknown as UffdDeliveryHandle };
      reader.handle = native.uffdDeliveryStart(fd, (err, m) => {
        // Messages the thread read before it was stopped arrive afterwards:
        // they go to nextEvent()/events() like the rest of a 'poll' batch.
        if (this.reader !== reader) {
          if (m && !this.state.closed) this.dispatch(this.toEvent(m), false);
        } else if (err) {
          this.onError(err);
        } else {
          this.dispatch(this.toEvent(m!));
        }
      });
      this.reader = reader;
      if (!this.refed) native.uffdDeliveryRef(reader.handle, false);
    } else {
      if (!this.pollBuffer) {
        const buffer = new ArrayBuffer(C.POLL_HEADER + POLL_BATCH * C.UFFD_MSG_SIZE);
        this.pollBuffer = { buffer, u8: new Uint8Array(buffer), u32: new Uint32Array(buffer), u64: new BigUint64Array(buffer) };
      }
      const reader = { mode: 'poll' as const, handle: null as unknown as UffdPollHandle };
      reader.handle = native.uffdPollStart(fd, this.pollBuffer.buffer, (err, count) => this.onBatch(reader, err, count));
      this.reader = reader;
      if (!this.refed) native.uffdPollRef(reader.handle, false);
    }
    return this;
  }

  get listening(): boolean {
    return this.reader !== null;
  }

  /** Stop delivery ('thread': the thread is joined); held faults stay held. */
  stopListening(): void {
    const r = this.reader;
    if (!r) return;
    this.reader = null;
    if (r.mode === 'thread') native.uffdReaderStop(r.handle);
    else native.uffdPollStop(r.handle);
  }

  /** Keep the process alive while listening (the default). */
  ref(): this {
    this.refed = true;
    this.setRef(true);
    return this;
  }

  /** Let the process exit even while listening. */
  unref(): this {
    this.refed = false;
    this.setRef(false);
    return this;
  }

  private setRef(ref: boolean): void {
    const r = this.reader;
    if (r?.mode === 'thread') native.uffdDeliveryRef(r.handle, ref);
    else if (r?.mode === 'poll') native.uffdPollRef(r.handle, ref);
  }

  /**
   * A batch read by the 'poll' delivery: decode every message out of the shared
   * buffer first (the next batch overwrites it), then dispatch them in order.
   * If a handler stops delivery part way, the rest of the batch, already read
   * from the kernel, goes to nextEvent()/events() only (dropped if it closed the uffd).
   */
  private onBatch(reader: NonNullable<Userfaultfd['reader']>, err: SyscallError | null, count: number): void {
    if (err) {
      this.onError(err);
      return;
    }
    const { u8, u32, u64 } = this.pollBuffer!;
    const readNs = u64[0];
    const events: UffdEvent[] = [];
    for (let i = 0; i < count; i++) events.push(this.toEvent(decodeMessage(u8, u32, u64, C.POLL_HEADER + i * C.UFFD_MSG_SIZE, readNs)));
    for (const ev of events) {
      if (this.reader === reader) this.dispatch(ev);
      else if (!this.state.closed) this.dispatch(ev, false);
    }
  }

  private toEvent(m: UffdMessage): UffdEvent {
    switch (m.event) {
      case C.UFFD_EVENT_PAGEFAULT:
        // The access that faulted now waits for JavaScript: it no longer keeps the process alive by itself.
        holdAccessesAt(m.address!);
        return new PageFault(this, m);
      case C.UFFD_EVENT_FORK:
        return {
          type: 'fork',
          readNs: m.readNs,
          uffd: this,
          child: new Userfaultfd(m.ufd!, 'fork', this.userModeOnly, this.api, this.deliveryChoice, this.registrations),
        };
      case C.UFFD_EVENT_REMAP:
        return { type: 'remap', readNs: m.readNs, uffd: this, from: m.from!, to: m.to!, length: m.len! };
      case C.UFFD_EVENT_REMOVE:
        return { type: 'remove', readNs: m.readNs, uffd: this, start: m.start!, end: m.end! };
      case C.UFFD_EVENT_UNMAP:
        return { type: 'unmap', readNs: m.readNs, uffd: this, start: m.start!, end: m.end! };
      default:
        throw new Error(`unknown userfaultfd event 0x${m.event.toString(16)}`);
    }
  }

  /** The delivery stopped on an error (it carries errno and syscall). */
  private onError(err: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    for (const it of this.iterators) {
      it.error = err;
      it.wake?.();
    }
    this.emit('error', err);
  }

  /** Events nobody has taken yet, for nextEvent()/events(). */
  private keep(evs: UffdEvent[]): void {
    this.backlog.push(...evs);
    if (this.backlog.length > this.backlogLimit) this.backlog.splice(0, this.backlog.length - this.backlogLimit);
  }

  /**
   * Hand an event to a waiting nextEvent(), the iterators and the listeners.
   * `listeners: false` for events read by a delivery that has since been
   * stopped: they still go to nextEvent()/events(), or the backlog.
   */
  private dispatch(ev: UffdEvent, listeners = true): void {
    let claimed = false;
    const i = this.waiters.findIndex((w) => w.type === undefined || w.type === ev.type);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve(ev);
      claimed = true;
    }
    for (const it of this.iterators) {
      it.queue.push(ev);
      it.wake?.();
      claimed = true;
    }
    if (!listeners) {
      if (!claimed) this.keep([ev]);
      return;
    }
    if (this.listenerCount(ev.type) > 0 || this.listenerCount('event') > 0) claimed = true;
    if (!claimed) this.keep([ev]);
    this.emit('event', ev);
    this.emit(ev.type, ev);
  }

  /**
   * The next event (of `type`, if given), starting delivery if needed. Events
   * that arrived while nobody waited (and no listener took them) are returned
   * first, oldest first.
   */
  nextEvent<T extends UffdEventType>(type?: T, opts: { timeoutMs?: number } = {}): Promise<Extract<UffdEvent, { type: T }>> {
    this.listen();
    const i = this.backlog.findIndex((e) => type === undefined || e.type === type);
    if (i >= 0) return Promise.resolve(this.backlog.splice(i, 1)[0] as Extract<UffdEvent, { type: T }>);
    return new Promise((resolve, reject) => {
      const w: Waiter = { type, resolve: resolve as (e: UffdEvent) => void, reject };
      if (opts.timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(timeoutError(opts.timeoutMs!));
        }, opts.timeoutMs);
      }
      this.waiters.push(w);
    });
  }

  /** Every event from now on (and the unclaimed backlog first), until close. */
  events(): AsyncIterableIterator<UffdEvent> {
    this.listen();
    const it: IteratorState = { queue: this.backlog.splice(0), wake: null, done: false, error: null };
    this.iterators.add(it);
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<UffdEvent>> {
        for (;;) {
          if (it.queue.length) return { value: it.queue.shift()!, done: false };
          if (it.error) throw it.error;
          if (it.done) return { value: undefined, done: true };
          await new Promise<void>((r) => (it.wake = r));
          it.wake = null;
        }
      },
      async return(): Promise<IteratorResult<UffdEvent>> {
        it.done = true;
        self.iterators.delete(it);
        return { value: undefined, done: true };
      },
    };
  }

  // ---------------------------------------------------------------- native server

  /** Start a native fault server on this uffd (instead of delivery to JavaScript). */
  serve(policy: FaultServerPolicy = {}): FaultServer {
    const fd = this.live();
    checkBoolOpts('policy', policy, ['missing', 'pattern', 'pageSize', 'wp', 'delayUs', 'maxSamples']);
    if (this.reader) throw invalidState('Delivery to JavaScript is running; stopListening() first');
    if (this.server) throw invalidState('A fault server is already running');
    const missing = policy.missing ?? 'copy';
    if (missing !== 'copy' && missing !== 'zeropage') throw invalidArg('policy.missing', missing, "must be 'copy' or 'zeropage'");
    const sizes = new Set(this.registrations.map((r) => r.pageSize));
    const pageSize = policy.pageSize ?? (sizes.size === 1 ? [...sizes][0] : PAGE_SIZE);
    if (!Number.isSafeInteger(pageSize) || pageSize < PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0)
      throw invalidArg('policy.pageSize', pageSize, `must be a power of two >= ${PAGE_SIZE}`);
    const delayUs = policy.delayUs ?? 0;
    if (!Number.isFinite(delayUs) || delayUs < 0) throw outOfRange('policy.delayUs', delayUs, '>= 0');
    const maxSamples = policy.maxSamples ?? 1 << 20;
    if (!Number.isSafeInteger(maxSamples) || maxSamples < 0) throw outOfRange('policy.maxSamples', maxSamples, 'a non-negative integer');
    if (policy.pattern !== undefined && !(policy.pattern instanceof Uint8Array)) throw invalidType('policy.pattern', policy.pattern, 'a Uint8Array');
    const handle = native.uffdServerStart(fd, {
      policy: missing === 'copy' ? C.POLICY_COPY : C.POLICY_ZEROPAGE,
      pattern: policy.pattern,
      pageSize,
      copyMode: policy.wp ? C.UFFDIO_COPY_MODE_WP : 0,
      delayNs: Math.round(delayUs * 1000),
      maxSamples,
    });
    this.server = new FaultServer(this, handle);
    return this.server;
  }

  /** @internal */
  _readerStopped(s: FaultServer): void {
    if (this.server === s) this.server = null;
  }

  // ---------------------------------------------------------------- close

  /**
   * Stop delivery (or the fault server) and close the uffd. Threads held on faults are woken
   * by the kernel and retry as if the range had never been registered.
   * Pending nextEvent() promises reject with ERR_INVALID_STATE; iterators end.
   */
  close(): void {
    if (this.state.closed) return;
    this.server?.stop();
    this.stopListening();
    this.state.closed = true;
    finalizer.unregister(this.state);
    releaseHeldAccesses();
    native.uffdClose(this.fd);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(invalidState('The userfaultfd was closed'));
    }
    for (const it of this.iterators) {
      it.done = true;
      it.wake?.();
    }
    this.iterators.clear();
    this.backlog = [];
    this.emit('close');
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * One struct uffd_msg at byte `off` (8-byte aligned) of a 'poll' batch: u8 event,
 * 7 reserved bytes, then the union (pagefault: u64 flags, u64 address, u32 ptid;
 * fork: u32 ufd; remap: u64 from, to, len; remove/unmap: u64 start, end).
 */
function decodeMessage(u8: Uint8Array, u32: Uint32Array, u64: BigUint64Array, off: number, readNs: bigint): UffdMessage {
  const event = u8[off];
  const q = off / 8;
  switch (event) {
    case C.UFFD_EVENT_PAGEFAULT:
      return { event, readNs, flags: u32[q * 2 + 2], address: u64[q + 2], ptid: u32[q * 2 + 6] };
    case C.UFFD_EVENT_FORK:
      return { event, readNs, ufd: u32[q * 2 + 2] };
    case C.UFFD_EVENT_REMAP:
      return { event, readNs, from: u64[q + 1], to: u64[q + 2], len: Number(u64[q + 3]) };
    case C.UFFD_EVENT_REMOVE:
    case C.UFFD_EVENT_UNMAP:
      return { event, readNs, start: u64[q + 1], end: u64[q + 2] };
    default:
      return { event, readNs };
  }
}

function apiInfo(raw: { api: bigint; features: bigint; ioctls: bigint }, enabled: bigint): UffdApiInfo {
  const f = decodeFeatures(raw.features);
  return {
    api: Number(raw.api),
    offered: f.names,
    offeredBits: raw.features,
    unknownFeatureBits: f.unknown,
    enabled: decodeFeatures(enabled).names,
    enabledBits: enabled,
    ioctls: decodeIoctls(raw.ioctls).names,
    ioctlBits: raw.ioctls,
  };
}
