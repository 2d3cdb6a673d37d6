// FakeVram: the /dev/fakevram0 device-memory driver (kernel-patches/fakevram)
// from TypeScript: policy, mappings, counters, eviction, driver-side access.
//
// The module runs only inside guests (this machine's kernel loads no modules);
// see test/guest/fakevram.test.ts and kernel-patches/fakevram/tools/run-guest.sh.
import fs from 'node:fs';
import { native } from '../addon.js';
import { invalidArg, invalidState, invalidType, outOfRange } from '../errors.js';
import { Mapping } from '../memory/mapping.js';
import { checkAccessible } from '../memory/address-space.js';

export type EntrySize = 'pte' | 'pmd' | 'pud';
export const ENTRY_SIZES: readonly EntrySize[] = ['pte', 'pmd', 'pud'];
export type DeviceKind = 'iomem' | 'pages';

const C = native.fakevramConstants;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const PAGE = 4096;

export interface FakeVramInfo {
  kind: DeviceKind;
  /** bytes of device memory */
  size: number;
  physBase: bigint;
  /** entry sizes this module (as built for the running kernel) can insert */
  supports: Record<EntrySize, boolean>;
  entryBytes: Record<EntrySize, number>;
  /** kernel the module was built for, "6.12.117" */
  kernel: string;
}

export interface Policy {
  /** largest entry the fault handlers insert */
  maxEntry: EntrySize;
  /** the first fault fills the whole VMA with the largest entries that fit */
  prefault?: boolean;
  /** do not align mapping addresses to the entry size */
  noAlign?: boolean;
}

export type PerSize = Record<EntrySize, number>;

export interface FakeVramCounters {
  /** faults that inserted the faulting entry, by its size */
  faults: PerSize;
  /** ->huge_fault calls by the size the core asked for (pte is always 0) */
  hugeFaultCalls: PerSize;
  /** VM_FAULT_FALLBACK returned, by the size asked for */
  fallbacks: PerSize;
  /** other entries inserted by prefault (4 KiB: inserted or already present) */
  prefaultEntries: PerSize;
  prefaultSkipped: number;
  sigbus: number;
  zaps: number;
  mmaps: number;
  vmaOpens: number;
  vmaCloses: number;
  /** huge PUD entries zapped before a VMA split (6.12 split path, see fakevram.c) */
  splitZaps: number;
}

function perSize(a: number[]): PerSize {
  return { pte: a[0] ?? 0, pmd: a[1] ?? 0, pud: a[2] ?? 0 };
}

function entryIndex(e: unknown, name: string): number {
  const i = ENTRY_SIZES.indexOf(e as EntrySize);
  if (i < 0) throw invalidArg(name, e, `must be one of ${ENTRY_SIZES.join(', ')}`);
  return i;
}

function checkAligned(name: string, v: unknown, nonZero: boolean): number {
  if (typeof v !== 'number') throw invalidType(name, v, 'of type number');
  if (!Number.isSafeInteger(v) || v < 0) throw outOfRange(name, v, '>= 0 and a safe integer');
  if (v % PAGE !== 0) throw invalidArg(name, v, 'must be a multiple of 4096');
  if (nonZero && v === 0) throw invalidArg(name, v, 'must not be zero');
  return v;
}

/** Fill / check the pattern the guest tests use: one u64 per 4 KiB page, (offset ^ seed). */
export function patternFill(address: bigint, length: number, seed: bigint, base = 0): void {
  checkPatternArgs(address, length, seed, base, 'write');
  native.patternFill(address, length, seed, base);
}
/** Number of 4 KiB pages in [address, address + length) whose first u64 is not ((base + offset) ^ seed). */
export function patternCheck(address: bigint, length: number, seed: bigint, base = 0): number {
  checkPatternArgs(address, length, seed, base, 'read');
  return native.patternCheck(address, length, seed, base);
}

// The pattern loops load and store in C++ on this thread: the range must be
// this process's memory, readable (and writable for a fill), or the process
// would die of SIGSEGV.
function checkPatternArgs(address: unknown, length: unknown, seed: unknown, base: unknown, access: 'read' | 'write'): void {
  if (typeof address !== 'bigint') throw invalidType('address', address, 'of type bigint');
  if (address % BigInt(PAGE) !== 0n) throw invalidArg('address', address, 'must be aligned to 4096 bytes');
  const len = checkAligned('length', length, true);
  if (typeof seed !== 'bigint') throw invalidType('seed', seed, 'of type bigint');
  if (seed < 0n || seed >= 1n << 64n) throw outOfRange('seed', seed, 'from 0 to 2^64 - 1');
  if (typeof base !== 'number' || !Number.isSafeInteger(base) || base < 0) throw outOfRange('base', base, 'a safe integer >= 0');
  checkAccessible('address', address, len, access);
}
/** The same pattern in a buffer (for driver-side writes). */
export function patternBuffer(length: number, seed: bigint, base = 0): Uint8Array {
  const b = new Uint8Array(length);
  const v = new DataView(b.buffer);
  for (let off = 0; off + 8 <= length; off += PAGE) v.setBigUint64(off, BigInt(base + off) ^ seed, true);
  return b;
}

export class FakeVram {
  #fd: number;
  readonly path: string;
  readonly info: FakeVramInfo;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    const raw = native.fakevramInfo(fd);
    const v = raw.kernelVersion;
    this.info = {
      kind: raw.kind === C.KIND_IOMEM ? 'iomem' : 'pages',
      size: raw.size,
      physBase: raw.physBase,
      supports: { pte: true, pmd: (raw.caps & C.CAP_PMD) !== 0, pud: (raw.caps & C.CAP_PUD) !== 0 },
      entryBytes: { pte: 2 ** raw.pageShift, pmd: 2 ** raw.pmdShift, pud: 2 ** raw.pudShift },
      kernel: `${v >> 16}.${(v >> 8) & 0xff}.${v & 0xff}`,
    };
  }

  /** Opens the device (O_RDWR). Throws the open(2) error (ENOENT: module not loaded). */
  static open(path = '/dev/fakevram0'): FakeVram {
    if (typeof path !== 'string') throw invalidType('path', path, 'of type string');
    const fd = fs.openSync(path, fs.constants.O_RDWR);
    try {
      return new FakeVram(path, fd);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get fd(): number {
    if (this.#fd < 0) throw invalidState('FakeVram is closed');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * An entry size the kernel cannot map (no PMD/PUD pfnmaps before 6.12) is
   * refused with the reason; `{ fallback: true }` lets the module take it and
   * fall back to smaller entries (what the guest scenarios measure).
   */
  setPolicy(policy: Policy, options: { fallback?: boolean } = {}): void {
    if (typeof policy !== 'object' || policy === null) throw invalidType('policy', policy, 'an object');
    for (const k of Object.keys(policy)) {
      if (!['maxEntry', 'prefault', 'noAlign'].includes(k)) throw invalidArg(`policy.${k}`, (policy as unknown as Record<string, unknown>)[k], 'is not a policy option');
    }
    const max = entryIndex(policy.maxEntry, 'policy.maxEntry');
    const entry = ENTRY_SIZES[max];
    if (typeof options !== 'object' || options === null) throw invalidType('options', options, 'an object');
    if (options.fallback !== undefined && typeof options.fallback !== 'boolean') throw invalidType('options.fallback', options.fallback, 'of type boolean');
    // The module would take the policy and quietly fall back to smaller entries.
    if (!this.info.supports[entry] && !options.fallback)
      throw invalidArg('policy.maxEntry', entry,
        `is not available: kernel ${this.info.kernel} has no ${entry.toUpperCase()} pfnmap support (special huge ${entry.toUpperCase()} entries came in 6.12); use 'pte'${this.info.supports.pmd ? " or 'pmd'" : ''}, or { fallback: true } to let the module fall back to smaller entries`);
    const flags = (policy.prefault ? C.POLICY_PREFAULT : 0) | (policy.noAlign ? C.POLICY_NO_ALIGN : 0);
    native.fakevramSetPolicy(this.fd, max, flags);
  }

  get policy(): Required<Policy> {
    const p = native.fakevramGetPolicy(this.fd);
    return {
      maxEntry: ENTRY_SIZES[p.maxEntry] ?? 'pte',
      prefault: (p.flags & C.POLICY_PREFAULT) !== 0,
      noAlign: (p.flags & C.POLICY_NO_ALIGN) !== 0,
    };
  }

  /** Counters of this open file; reset: zero them as they are read. */
  counters(reset = false): FakeVramCounters {
    const c = native.fakevramCounters(this.fd, reset);
    return {
      faults: perSize(c.faults),
      hugeFaultCalls: perSize(c.hugeFaultCalls),
      fallbacks: perSize(c.fallbacks),
      prefaultEntries: perSize(c.prefaultEntries),
      prefaultSkipped: c.prefaultSkipped,
      sigbus: c.sigbus,
      zaps: c.zaps,
      mmaps: c.mmaps,
      vmaOpens: c.vmaOpens,
      vmaCloses: c.vmaCloses,
      splitZaps: c.splitZaps,
    };
  }

  /**
   * Zaps every user mapping of [offset, offset + length) of the device memory
   * (length 0: to the end). The driver widens the range to whole 1 GiB
   * physical blocks; the range really zapped is returned.
   */
  evict(offset = 0, length = 0): { offset: number; length: number } {
    checkAligned('offset', offset, false);
    checkAligned('length', length, false);
    if (offset > this.info.size || length > this.info.size - offset) throw outOfRange('length', length, `offset + length <= ${this.info.size}`);
    return native.fakevramEvict(this.fd, offset, length);
  }

  /** Reads device memory from the driver side (not through any user mapping). */
  read(offset: number, length: number): Uint8Array {
    this.#checkRange(offset, length);
    const b = new Uint8Array(length);
    native.fakevramAccess(this.fd, offset, b, false);
    return b;
  }

  /** Writes device memory from the driver side. */
  write(offset: number, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw invalidType('data', data, 'a Uint8Array');
    this.#checkRange(offset, data.length);
    native.fakevramAccess(this.fd, offset, data, true);
  }

  /**
   * mmap(MAP_SHARED) of [offset, offset + length) of the device memory, with
   * the address chosen by the driver's get_unmapped_area (aligned per the
   * policy in force now). The Mapping unmaps it when disposed.
   */
  map(length: number, options: { offset?: number; prot?: 'r' | 'rw' } = {}): Mapping {
    checkAligned('length', length, true);
    const offset = checkAligned('options.offset', options.offset ?? 0, false);
    if (offset > this.info.size || length > this.info.size - offset) throw outOfRange('length', length, `offset + length <= ${this.info.size}`);
    const prot = options.prot ?? 'rw';
    if (prot !== 'r' && prot !== 'rw') throw invalidArg('options.prot', prot, "must be 'r' or 'rw'");
    const bits = prot === 'rw' ? PROT_READ | PROT_WRITE : PROT_READ;
    const addr = native.mmap(0n, length, bits, MAP_SHARED, this.fd, offset);
    return Mapping.adopt(addr, length, { prot, shared: true, backing: 'adopted' });
  }

  close(): void {
    if (this.#fd >= 0) {
      fs.closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw outOfRange('offset', offset, '>= 0');
    if (!Number.isSafeInteger(length) || length < 0) throw outOfRange('length', length, '>= 0');
    if (offset > this.info.size || length > this.info.size - offset) throw outOfRange('length', length, `offset + length <= ${this.info.size}`);
  }
}

/** Sizes of the uapi structs as this addon was compiled (a layout check for tests). */
export const UAPI_SIZES = {
  info: C.SIZEOF_INFO, policy: C.SIZEOF_POLICY, counters: C.SIZEOF_COUNTERS, evict: C.SIZEOF_EVICT, access: C.SIZEOF_ACCESS,
} as const;
