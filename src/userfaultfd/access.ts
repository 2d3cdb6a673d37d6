// Memory accesses from another thread (or a forked child), returning Promises.
//
// The JavaScript thread must never touch a range registered with a
// userfaultfd it resolves itself: the fault would wait for a thread that is
// waiting on the fault. These accessors run each call on a new native thread
// (not the libuv pool), time every access in nanoseconds (fault included) and
// settle when the last access returns, so a script can start one, hold the
// fault it raises, do something else, and release it.
import { native } from '../addon.js';
import type { AccessSignal, ForkAccessResult, ThreadAccessResult } from '../native.js';
import { invalidArg, invalidType, outOfRange } from '../errors.js';
import { checkMapped } from '../memory/address-space.js';
import { Mapping, mappingsOverlapping } from '../memory/mapping.js';

/** Anything with an address and a length: a Mapping, a registration, a plain object. */
export interface MemoryRange {
  address: bigint;
  length: number;
}

export interface ThreadAccessOptions {
  /** Bytes from one access to the next (default 4096: one access per page). */
  stride?: number;
  /** Bytes each access touches (default: stride, so the whole range is accessed). */
  width?: number;
  /** Sleep until this CLOCK_MONOTONIC time (see monotonicNs()) before the first access:
   * several accessors given the same time start together (races). */
  startAtNs?: bigint;
}

export interface ThreadWriteOptions extends ThreadAccessOptions {
  /** Bytes to write: exactly the bytes the accesses write, in order. */
  data?: Uint8Array;
  /** Byte to write when no data is given (default 0). */
  fill?: number;
}

export type { AccessSignal, ThreadAccessResult, ForkAccessResult };

interface Spec {
  address: bigint;
  length: number;
  stride: number;
  width: number;
  startAtNs: bigint | undefined;
}

function spec(range: MemoryRange, opts: ThreadAccessOptions): Spec {
  if (range === null || typeof range !== 'object') throw invalidType('range', range, 'an object with address and length');
  // An unmapped (or replaced) Mapping says so (ERR_INVALID_STATE) rather than being read as a hole.
  const { address, length } = range instanceof Mapping ? range.range() : range;
  if (typeof address !== 'bigint') throw invalidType('range.address', address, 'of type bigint');
  if (!Number.isSafeInteger(length) || length <= 0) throw invalidArg('range.length', length, 'must be a positive integer');
  if (address + BigInt(length) > 0xffff_ffff_ffff_ffffn) throw outOfRange('range.address + range.length', address + BigInt(length), '<= 2^64 - 1');
  const stride = opts.stride ?? 4096;
  const width = opts.width ?? stride;
  if (!Number.isSafeInteger(stride) || stride <= 0) throw invalidArg('stride', stride, 'must be a positive integer');
  if (!Number.isSafeInteger(width) || width <= 0) throw invalidArg('width', width, 'must be a positive integer');
  const startAtNs = opts.startAtNs;
  if (startAtNs !== undefined && typeof startAtNs !== 'bigint') throw invalidType('startAtNs', startAtNs, 'a bigint (CLOCK_MONOTONIC ns)');
  if (startAtNs !== undefined && startAtNs < 0n) throw outOfRange('startAtNs', startAtNs, '>= 0');
  return { address, length, stride, width, startAtNs };
}

/**
 * Keeps the Mappings under the range reachable until the access settles: a
 * Mapping collected meanwhile would have its finalizer unmap memory the
 * native thread is still using (or holding a fault on).
 */
function pinWhile<T>(s: Spec, access: () => Promise<T>): Promise<T> {
  // After the argument checks: a hole or a kernel address is refused here; a
  // page the access may not make (read-only, PROT_NONE, unmapped while the
  // access waits on a fault) ends the access with SIGSEGV in result.signal.
  checkMapped('range', s.address, s.length);
  const pinned: Mapping[] = mappingsOverlapping(s.address, s.length);
  const promise = access();
  const pending: PendingAccess = { address: s.address, end: s.address + BigInt(s.length), keepAlive: setInterval(() => {}, 1 << 30), held: false };
  pendingAccesses.add(pending);
  return promise.finally(() => {
    pinned.length = 0;
    clearInterval(pending.keepAlive);
    pendingAccesses.delete(pending);
  });
}

// Keeping the process alive while an access runs. The native completion is
// unref'd; each pending access holds a ref'd interval instead, so that
// `await threadRead(m)` works on its own. An access whose fault was handed to
// JavaScript (a PageFault event) can only go on when JavaScript resolves it:
// while held it lets go of the event loop, so a script that ends (or unrefs
// its Userfaultfd) while holding a fault exits instead of waiting forever.
interface PendingAccess {
  address: bigint;
  end: bigint;
  keepAlive: NodeJS.Timeout;
  held: boolean;
}
const pendingAccesses = new Set<PendingAccess>();

/** @internal a page fault at `address` was delivered to JavaScript. */
export function holdAccessesAt(address: bigint): void {
  for (const p of pendingAccesses) {
    if (address >= (p.address & ~4095n) && address < p.end) {
      p.held = true;
      p.keepAlive.unref();
    }
  }
}

/** @internal a call on a Userfaultfd may have resolved held faults. */
export function releaseHeldAccesses(): void {
  for (const p of pendingAccesses) {
    if (p.held) {
      p.held = false;
      p.keepAlive.ref();
    }
  }
}

/** Bytes an access pattern touches in total (the size of `bytes`, or of `data` for a write). */
export function accessBytes(length: number, opts: ThreadAccessOptions = {}): number {
  const stride = opts.stride ?? 4096;
  const width = opts.width ?? stride;
  let total = 0;
  for (let off = 0; off < length; off += stride) total += Math.min(width, length - off);
  return total;
}

/** Read `range` from a new thread: `width` bytes every `stride` bytes. */
export function threadRead(range: MemoryRange, opts: ThreadAccessOptions = {}): Promise<ThreadAccessResult> {
  const s = spec(range, opts);
  return pinWhile(s, () => native.threadAccess(s.address, s.length, s.stride, s.width, false, undefined, 0, s.startAtNs));
}

/** Write `range` from a new thread: `width` bytes every `stride` bytes, from `data` or `fill`. */
export function threadWrite(range: MemoryRange, opts: ThreadWriteOptions = {}): Promise<ThreadAccessResult> {
  const s = spec(range, opts);
  const fill = checkWrite(s, opts);
  return pinWhile(s, () => native.threadAccess(s.address, s.length, s.stride, s.width, true, opts.data, fill, s.startAtNs));
}

/** The same accesses made by a forked child (native code only after fork; it exits with _exit). */
export function forkAccess(
  range: MemoryRange,
  opts: ThreadWriteOptions & { write?: boolean } = {},
): Promise<ForkAccessResult> {
  const s = spec(range, opts);
  const write = opts.write ?? false;
  const fill = write ? checkWrite(s, opts) : 0;
  return pinWhile(s, () => native.forkAccess(s.address, s.length, s.stride, s.width, write, write ? opts.data : undefined, fill, s.startAtNs));
}

function checkWrite(s: Spec, opts: ThreadWriteOptions): number {
  const fill = opts.fill ?? 0;
  if (!Number.isInteger(fill) || fill < 0 || fill > 255) throw outOfRange('fill', fill, 'an integer from 0 to 255');
  if (opts.data !== undefined) {
    if (!(opts.data instanceof Uint8Array)) throw invalidType('data', opts.data, 'a Uint8Array');
    const want = accessBytes(s.length, s);
    if (opts.data.byteLength !== want) throw invalidArg('data', opts.data.byteLength, `must hold exactly ${want} bytes`);
  }
  return fill;
}

/**
 * Resolves true if `promise` is still pending after `ms` milliseconds, false
 * if it settled first. The way to prove a thread is held on a fault.
 */
export async function stillPending(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (!(promise instanceof Promise)) throw invalidType('promise', promise, 'a Promise');
  if (!Number.isFinite(ms) || ms < 0) throw outOfRange('ms', ms, 'a finite number >= 0');
  let settled = false;
  const watch = promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await Promise.race([watch, new Promise((r) => setTimeout(r, ms))]);
  return !settled;
}

/** Kernel thread id of the calling (JavaScript) thread. */
export function gettid(): number {
  return native.gettid();
}

/** CLOCK_MONOTONIC in nanoseconds, the clock of access and event timestamps. */
export function monotonicNs(): bigint {
  return native.monotonicNs();
}
