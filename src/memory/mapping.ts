// Mapping: one mmap'd range of memory with a Uint8Array view over the real pages.
//
// Backings (the `backing` property):
//   'anon'             private anonymous, 4 KiB pages only (MADV_NOHUGEPAGE)
//   'anon-thp'         private anonymous, 2 MiB aligned, MADV_HUGEPAGE
//   'anon-shared'      MAP_SHARED | MAP_ANONYMOUS (shmem behind the scenes)
//   'anon-shared-thp'  the same, 2 MiB aligned, MADV_HUGEPAGE
//   'hugetlb-2M' / 'hugetlb-1G'            MAP_HUGETLB | MAP_HUGE_2MB / MAP_HUGE_1GB
//   'memfd' / 'memfd-thp'                  memfd_create + mmap (shmem)
//   'memfd-hugetlb-2M' / 'memfd-hugetlb-1G'  memfd_create(MFD_HUGETLB | MFD_HUGE_*)
//   'file'             a regular file
//
// THP on shmem (anon-shared-thp, memfd-thp): memfd_create has no THP flag of its
// own. Whether shmem gets huge pages is decided by
// /sys/kernel/mm/transparent_hugepage/shmem_enabled (and, on kernels with
// mTHP, hugepages-2048kB/shmem_enabled): 'always' or 'within_size' give them
// to every mapping, 'advise' only to VMAs marked MADV_HUGEPAGE, 'never' and
// 'deny' to none. mirrorlab maps such ranges 2 MiB aligned and applies
// MADV_HUGEPAGE; what the kernel really did is visible with pageSummary() and
// smapsFor() (ShmemPmdMapped). See shmemThp() / setShmemThp() in thp.ts.
//
// The view is an external ArrayBuffer over the mapping. unmap(), unmapRange()
// and a remap() that moves or resizes the range detach it (length 0; set()/fill()
// throw TypeError), and every method of an unmapped Mapping throws
// ERR_INVALID_STATE. If a Mapping and all views of it become unreachable while
// still mapped, the ArrayBuffer's finalizer unmaps the range.
//
// Several Mapping objects can cover one range (adopt() of a range a Mapping
// already owns, remap() with `fixed` onto another Mapping's range, a range
// unmapped behind mirrorlab's back and mapped again). Every live Mapping is in
// a registry of ranges: when one of them unmaps, moves or replaces a range,
// the others that overlap it are marked replaced (views detached, finalizer
// disarmed, `mapped` false, methods throw ERR_INVALID_STATE naming the
// Mapping that did it), so that none of them reaches or later unmaps memory
// it no longer owns. An adopted alias keeps the Mappings it overlaps reachable
// and does not unmap on its own when collected: only the owner's finalizer does.
import fs from 'node:fs';
import { inspect } from 'node:util';
import { native } from '../addon.js';
import type { NativeView } from '../native.js';
import { invalidArg, invalidState, invalidType, outOfRange } from '../errors.js';
import {
  ADVICE, MAP, MFD, MREMAP, adviceValue, checkHugeSize, hugeSizeFlag, HUGE_SIZES, protBits, protString,
  type Advice, type HugeSize, type Prot,
} from './constants.js';
import { HPAGE_PMD_SIZE, PAGE_SIZE, checkAddress, checkBool, checkNoOverflow, checkOptions, checkSize, checkSubrange } from './validate.js';
import { checkMapped } from './address-space.js';

export type Backing =
  | 'anon' | 'anon-thp' | 'anon-shared' | 'anon-shared-thp'
  | 'hugetlb-2M' | 'hugetlb-1G'
  | 'memfd' | 'memfd-thp' | 'memfd-hugetlb-2M' | 'memfd-hugetlb-1G'
  | 'file' | 'adopted';
const BACKINGS: readonly Backing[] = [
  'anon', 'anon-thp', 'anon-shared', 'anon-shared-thp', 'hugetlb-2M', 'hugetlb-1G',
  'memfd', 'memfd-thp', 'memfd-hugetlb-2M', 'memfd-hugetlb-1G', 'file', 'adopted',
];

/**
 * populate: true = fault every page in after the advice is applied
 * (MADV_POPULATE_WRITE if writable, else MADV_POPULATE_READ); 'read' / 'write'
 * choose; 'map' = MAP_POPULATE at mmap time (before any madvise).
 */
export type Populate = boolean | 'read' | 'write' | 'map';

export interface MapOptions {
  prot?: Prot;
  shared?: boolean;
  populate?: Populate;
}
export interface AnonymousOptions extends MapOptions {
  thp?: boolean;
}
export interface MemfdOptions extends MapOptions {
  thp?: boolean;
  hugetlb?: HugeSize;
  name?: string;
}
export interface FileOptions extends MapOptions {
  /** byte offset in the file (page aligned), default 0 */
  offset?: number;
  /** create the file if missing and extend it to offset + length if shorter (default true) */
  create?: boolean;
}
export interface RemapOptions {
  mayMove?: boolean;
  fixed?: bigint | number;
  dontUnmap?: boolean;
}
export interface RemapResult {
  moved: boolean;
  oldAddress: bigint;
  oldLength: number;
  /** with dontUnmap: the old range, still mapped (private anonymous: now empty) */
  old?: Mapping;
}

const MAP_OPTS = ['prot', 'shared', 'populate'] as const;

// memfd / file descriptors a forgotten Mapping still holds.
const fdRegistry = new FinalizationRegistry<number>((fd) => {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
});

let nextId = 1;

// The registry of live Mappings (weak: a forgotten Mapping still gets collected).
const liveMappings = new Map<number, WeakRef<Mapping>>();
const liveCleanup = new FinalizationRegistry<number>((id) => liveMappings.delete(id));

/** Live (mapped) Mapping objects that overlap [address, address + length). */
export function mappingsOverlapping(address: bigint, length: number): Mapping[] {
  const end = address + BigInt(length);
  const out: Mapping[] = [];
  for (const [id, ref] of liveMappings) {
    const m = ref.deref();
    if (!m || !m.mapped) {
      liveMappings.delete(id);
      continue;
    }
    if (m.address < end && m.end > address) out.push(m);
  }
  return out;
}

export class Mapping {
  readonly id = nextId++;
  #address: bigint;
  #length: number;
  readonly pageSize: number;
  readonly backing: Backing;
  readonly shared: boolean;
  #prot: number;
  #fd: number | undefined;
  readonly path: string | undefined;
  #handle: NativeView | undefined;
  #view: Uint8Array;
  #state: 'mapped' | 'unmapped' | 'replaced' = 'mapped';
  #replacedBy = '';
  // Mappings an adopted alias overlaps: kept reachable so that their
  // finalizers cannot unmap the memory under the alias.
  #owners: Mapping[] = [];

  /**
   * overlap: what other live Mappings over this range mean.
   *   'replace' (default): the range was just returned by mmap, so any Mapping
   *     still registered over it lost its memory behind mirrorlab's back: it is
   *     marked replaced.
   *   'keep': they stay valid (the old range of a DONTUNMAP remap, the tail
   *     of a split).
   *   'alias': adopt() of memory they own: they stay valid, this one keeps
   *     them reachable and does not unmap when collected.
   */
  private constructor(init: {
    address: bigint; length: number; pageSize: number; backing: Backing; shared: boolean; prot: number; fd?: number; path?: string;
    overlap?: 'replace' | 'keep' | 'alias';
  }) {
    this.#address = init.address;
    this.#length = init.length;
    this.pageSize = init.pageSize;
    this.backing = init.backing;
    this.shared = init.shared;
    this.#prot = init.prot;
    this.#fd = init.fd;
    this.path = init.path;
    const overlap = init.overlap ?? 'replace';
    if (overlap === 'alias') this.#owners = mappingsOverlapping(init.address, init.length);
    else if (overlap === 'replace') Mapping.#replaceOverlapping(init.address, init.length, this, `mapping ${this.id} was mmap'd over it`);
    // An alias over live owners must not unmap their memory when collected.
    this.#handle = native.newView(init.address, init.length, this.#owners.length === 0);
    this.#view = new Uint8Array(this.#handle.buffer);
    if (init.fd !== undefined) fdRegistry.register(this, init.fd, this);
    liveMappings.set(this.id, new WeakRef(this));
    liveCleanup.register(this, this.id);
  }

  // ---------------------------------------------------------------- factories

  /** Private (or shared) anonymous memory; thp: 2 MiB aligned + MADV_HUGEPAGE, else MADV_NOHUGEPAGE. */
  static anonymous(length: number, options?: AnonymousOptions): Mapping {
    const o = checkOptions('options', options, [...MAP_OPTS, 'thp']);
    const len = checkSize('length', length, { align: PAGE_SIZE, nonZero: true });
    const thp = checkBool('options.thp', o.thp) ?? false;
    const shared = checkBool('options.shared', o.shared) ?? false;
    const prot = protBits(o.prot ?? 'rw', 'options.prot');
    const populate = checkPopulate(o.populate);
    const flags = (shared ? MAP.SHARED : MAP.PRIVATE) | MAP.ANONYMOUS | (populate === 'map' ? MAP.POPULATE : 0);
    const address = thp ? mapAligned(len, HPAGE_PMD_SIZE, prot, flags, -1) : native.mmap(0n, len, prot, flags, -1, 0);
    const m = new Mapping({
      address, length: len, pageSize: PAGE_SIZE, shared, prot,
      backing: shared ? (thp ? 'anon-shared-thp' : 'anon-shared') : thp ? 'anon-thp' : 'anon',
    });
    m.#setup(thp ? 'HUGEPAGE' : 'NOHUGEPAGE', populate);
    return m;
  }

  /** MAP_HUGETLB with MAP_HUGE_2MB or MAP_HUGE_1GB; length must be a multiple of the huge page size. */
  static hugetlb(length: number, size: HugeSize, options?: MapOptions): Mapping {
    const hs = checkHugeSize(size);
    const o = checkOptions('options', options, MAP_OPTS);
    const len = checkSize('length', length, { align: HUGE_SIZES[hs], nonZero: true });
    const shared = checkBool('options.shared', o.shared) ?? false;
    const prot = protBits(o.prot ?? 'rw', 'options.prot');
    const populate = checkPopulate(o.populate);
    const flags = (shared ? MAP.SHARED : MAP.PRIVATE) | MAP.ANONYMOUS | MAP.HUGETLB | hugeSizeFlag(hs) |
      (populate === 'map' ? MAP.POPULATE : 0);
    const address = native.mmap(0n, len, prot, flags, -1, 0);
    const m = new Mapping({ address, length: len, pageSize: HUGE_SIZES[hs], shared, prot, backing: `hugetlb-${hs}` });
    m.#setup(undefined, populate);
    return m;
  }

  /**
   * memfd_create + ftruncate + mmap (MAP_SHARED unless shared: false).
   * thp: 2 MiB aligned + MADV_HUGEPAGE (effective only as shmem_enabled allows);
   * hugetlb: MFD_HUGETLB | MFD_HUGE_2MB / MFD_HUGE_1GB.
   * The descriptor stays open (mapping.fd) until unmap().
   */
  static memfd(length: number, options?: MemfdOptions): Mapping {
    const o = checkOptions('options', options, [...MAP_OPTS, 'thp', 'hugetlb', 'name']);
    const thp = checkBool('options.thp', o.thp) ?? false;
    const huge = o.hugetlb === undefined ? undefined : checkHugeSize(o.hugetlb, 'options.hugetlb');
    if (thp && huge) throw invalidArg('options', o, 'cannot ask for both thp and hugetlb');
    const len = checkSize('length', length, { align: huge ? HUGE_SIZES[huge] : PAGE_SIZE, nonZero: true });
    const shared = checkBool('options.shared', o.shared) ?? true;
    const prot = protBits(o.prot ?? 'rw', 'options.prot');
    const populate = checkPopulate(o.populate);
    if (o.name !== undefined && typeof o.name !== 'string') throw invalidType('options.name', o.name, 'of type string');
    const name = (o.name as string | undefined) ?? 'mirrorlab';
    const fd = native.memfdCreate(name, MFD.CLOEXEC | (huge ? MFD.HUGETLB | hugeSizeFlag(huge) : 0));
    let address: bigint;
    try {
      fs.ftruncateSync(fd, len);
      const flags = (shared ? MAP.SHARED : MAP.PRIVATE) | (populate === 'map' ? MAP.POPULATE : 0);
      address = thp ? mapAligned(len, HPAGE_PMD_SIZE, prot, flags, fd) : native.mmap(0n, len, prot, flags, fd, 0);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const m = new Mapping({
      address, length: len, pageSize: huge ? HUGE_SIZES[huge] : PAGE_SIZE, shared, prot, fd,
      backing: huge ? `memfd-hugetlb-${huge}` : thp ? 'memfd-thp' : 'memfd',
    });
    m.#setup(huge ? undefined : thp ? 'HUGEPAGE' : 'NOHUGEPAGE', populate);
    return m;
  }

  /** A regular file mapped MAP_SHARED (default) or MAP_PRIVATE; created and extended as needed. */
  static file(path: string, length: number, options?: FileOptions): Mapping {
    if (typeof path !== 'string' || path === '') throw invalidType('path', path, 'a non-empty string');
    const o = checkOptions('options', options, [...MAP_OPTS, 'offset', 'create']);
    const len = checkSize('length', length, { align: PAGE_SIZE, nonZero: true });
    const offset = o.offset === undefined ? 0 : checkSize('options.offset', o.offset, { align: PAGE_SIZE });
    const shared = checkBool('options.shared', o.shared) ?? true;
    const create = checkBool('options.create', o.create) ?? true;
    const prot = protBits(o.prot ?? 'rw', 'options.prot');
    const populate = checkPopulate(o.populate);
    const needWrite = shared && (prot & 2) !== 0;
    const { O_RDWR, O_RDONLY, O_CREAT, O_CLOEXEC } = fs.constants as Record<string, number>;
    const fd = fs.openSync(path, (create ? O_RDWR | O_CREAT : needWrite ? O_RDWR : O_RDONLY) | (O_CLOEXEC ?? 0), 0o600);
    let address: bigint;
    try {
      if (create && fs.fstatSync(fd).size < offset + len) fs.ftruncateSync(fd, offset + len);
      const flags = (shared ? MAP.SHARED : MAP.PRIVATE) | (populate === 'map' ? MAP.POPULATE : 0);
      address = native.mmap(0n, len, prot, flags, fd, offset);
    } finally {
      fs.closeSync(fd);
    }
    const m = new Mapping({ address, length: len, pageSize: PAGE_SIZE, shared, prot, backing: 'file', path });
    m.#setup(undefined, populate);
    return m;
  }

  /**
   * Take ownership of a range mapped by other means (another module's mmap,
   * an mremap DONTUNMAP leftover). The Mapping will munmap it.
   */
  static adopt(address: bigint, length: number, options: { prot?: Prot; shared?: boolean; pageSize?: number; backing?: Backing } = {}): Mapping {
    const o = checkOptions('options', options, ['prot', 'shared', 'pageSize', 'backing']);
    const addr = checkAddress('address', address, PAGE_SIZE);
    const len = checkSize('length', length, { align: PAGE_SIZE, nonZero: true });
    checkNoOverflow(addr, len);
    const pageSize = o.pageSize === undefined ? PAGE_SIZE : checkSize('options.pageSize', o.pageSize, { nonZero: true });
    if (pageSize & (pageSize - 1) || pageSize < PAGE_SIZE) throw invalidArg('options.pageSize', o.pageSize, `must be a power of two >= ${PAGE_SIZE}`);
    if (len % pageSize) throw invalidArg('length', length, `must be a multiple of options.pageSize (${pageSize})`);
    const shared = checkBool('options.shared', o.shared) ?? false;
    if (o.backing !== undefined && (typeof o.backing !== 'string' || !BACKINGS.includes(o.backing as Backing)))
      throw invalidArg('options.backing', o.backing, `must be one of ${BACKINGS.join(', ')}`);
    const prot = protBits(o.prot ?? 'rw', 'options.prot');
    // The view is an external buffer over the range: it must be mapped memory of this process.
    checkMapped('address', addr, len);
    return new Mapping({
      address: addr, length: len, pageSize, shared, prot,
      backing: (o.backing as Backing | undefined) ?? 'adopted', overlap: 'alias',
    });
  }

  #setup(advice: Advice | undefined, populate: Populate | undefined): void {
    try {
      if (advice) native.madvise(this.#address, this.#length, ADVICE[advice]);
      if (populate === true || populate === 'read' || populate === 'write') {
        const write = populate === 'write' || (populate === true && (this.#prot & 2) !== 0);
        native.madvise(this.#address, this.#length, write ? ADVICE.POPULATE_WRITE : ADVICE.POPULATE_READ);
      }
    } catch (e) {
      this.unmap();
      throw e;
    }
  }

  // ---------------------------------------------------------------- properties

  get address(): bigint {
    return this.#address;
  }
  get length(): number {
    return this.#length;
  }
  get end(): bigint {
    return this.#address + BigInt(this.#length);
  }
  get prot(): string {
    return protString(this.#prot);
  }
  get fd(): number | undefined {
    return this.#fd;
  }
  get mapped(): boolean {
    return this.#state === 'mapped';
  }
  /** Number of base (4 KiB) pages. */
  get pages(): number {
    return this.#length / PAGE_SIZE;
  }
  /** Uint8Array over the whole mapping; detached (length 0) once unmapped or moved. */
  get view(): Uint8Array {
    return this.#view;
  }

  // ---------------------------------------------------------------- helpers

  #live(what: string): void {
    if (this.#state === 'replaced')
      throw invalidState(`${what}: mapping ${this.id} at 0x${this.#address.toString(16)} no longer owns its range: ${this.#replacedBy}`);
    if (this.#state !== 'mapped')
      throw invalidState(`${what}: mapping ${this.id} at 0x${this.#address.toString(16)} is unmapped`);
  }

  /** Another Mapping unmapped, moved over or remapped this range: let go of it without unmapping. */
  #markReplaced(why: string): void {
    if (this.#state !== 'mapped') return;
    const h = this.#handle!;
    native.releaseView(h.buffer, h.record);
    this.#handle = undefined;
    this.#state = 'replaced';
    this.#replacedBy = why;
    this.#owners = [];
    liveMappings.delete(this.id);
    this.#closeFd();
  }

  static #replaceOverlapping(address: bigint, length: number, except: Mapping, why: string): void {
    for (const m of mappingsOverlapping(address, length)) if (m !== except) m.#markReplaced(why);
  }

  #closeFd(): void {
    if (this.#fd === undefined) return;
    fdRegistry.unregister(this);
    try {
      fs.closeSync(this.#fd);
    } catch {
      /* closed elsewhere */
    }
    this.#fd = undefined;
  }

  /** Address of a byte offset in the mapping (offset may equal length). */
  addressAt(offset: number): bigint {
    this.#live('addressAt');
    const off = checkSize('offset', offset);
    if (off > this.#length) throw invalidArg('offset', offset, `must be <= the mapping length ${this.#length}`);
    return this.#address + BigInt(off);
  }

  /** A view of part of the mapping (shares the detach). */
  subarray(offset: number, length?: number): Uint8Array {
    this.#live('subarray');
    const off = checkSize('offset', offset);
    if (off > this.#length) throw invalidArg('offset', offset, `must be <= the mapping length ${this.#length}`);
    const len = length === undefined ? this.#length - off : checkSize('length', length);
    if (off + len > this.#length) throw invalidArg('length', length, `must keep offset + length within ${this.#length}`);
    return this.#view.subarray(off, off + len);
  }

  /** { address, length } of a page-aligned subrange, for page state and userfaultfd calls. */
  range(offset?: number, length?: number): { address: bigint; length: number } {
    this.#live('range');
    const r = checkSubrange(this.#length, offset, length);
    return { address: this.#address + BigInt(r.offset), length: r.length };
  }

  /** Write `byte` at the start of each page (or each `stride` bytes) of a subrange: faults pages in from JS. */
  touch(options: { offset?: number; length?: number; stride?: number; value?: number } = {}): void {
    this.#live('touch');
    const o = checkOptions('options', options, ['offset', 'length', 'stride', 'value']);
    const r = checkSubrange(this.#length, o.offset, o.length);
    const stride = o.stride === undefined ? PAGE_SIZE : checkSize('options.stride', o.stride, { nonZero: true });
    const v = o.value === undefined ? 1 : checkSize('options.value', o.value);
    // The view is a Uint8Array: 300 would be stored as 44.
    if (v > 255) throw outOfRange('options.value', o.value, 'a byte (0 to 255)');
    for (let i = r.offset; i < r.offset + r.length; i += stride) this.#view[i] = v;
  }

  // ---------------------------------------------------------------- syscalls

  /** mprotect a page-aligned subrange (default: all). */
  protect(prot: Prot, offset?: number, length?: number): void {
    this.#live('protect');
    const bits = protBits(prot);
    const r = checkSubrange(this.#length, offset, length);
    native.mprotect(this.#address + BigInt(r.offset), r.length, bits);
    if (r.offset === 0 && r.length === this.#length) this.#prot = bits;
  }

  /** madvise a page-aligned subrange (default: all) with an advice name. */
  advise(advice: Advice | string, offset?: number, length?: number): void {
    this.#live('advise');
    const a = adviceValue(advice);
    const r = checkSubrange(this.#length, offset, length);
    native.madvise(this.#address + BigInt(r.offset), r.length, a);
  }

  /**
   * mremap. Without mayMove the range grows or shrinks in place (or fails
   * with the kernel's ENOMEM). fixed implies MREMAP_FIXED (and needs mayMove).
   * dontUnmap (MREMAP_DONTUNMAP) needs mayMove and the same length; the old
   * range stays mapped and is returned as `old`, a Mapping of its own.
   * The old view is detached whenever the address or the length changes.
   */
  remap(newLength: number, options?: RemapOptions): RemapResult {
    this.#live('remap');
    const o = checkOptions('options', options, ['mayMove', 'fixed', 'dontUnmap']);
    const len = checkSize('newLength', newLength, { align: PAGE_SIZE, nonZero: true });
    const mayMove = checkBool('options.mayMove', o.mayMove) ?? false;
    const dontUnmap = checkBool('options.dontUnmap', o.dontUnmap) ?? false;
    const fixed = o.fixed === undefined ? undefined : checkAddress('options.fixed', o.fixed, PAGE_SIZE);
    if (fixed !== undefined && !mayMove) throw invalidArg('options.fixed', o.fixed, 'needs mayMove: true (MREMAP_FIXED requires MREMAP_MAYMOVE)');
    if (dontUnmap && !mayMove) throw invalidArg('options.dontUnmap', true, 'needs mayMove: true (MREMAP_DONTUNMAP requires MREMAP_MAYMOVE)');
    if (dontUnmap && len !== this.#length) throw invalidArg('newLength', newLength, `must equal the current length ${this.#length} with dontUnmap`);
    if (fixed !== undefined) checkNoOverflow(fixed, len, 'newLength');
    const flags = (mayMove ? MREMAP.MAYMOVE : 0) | (fixed !== undefined ? MREMAP.FIXED : 0) | (dontUnmap ? MREMAP.DONTUNMAP : 0);
    const oldAddress = this.#address;
    const oldLength = this.#length;
    const addr = native.mremap(oldAddress, oldLength, len, flags, fixed ?? 0n);
    const moved = addr !== oldAddress;
    const result: RemapResult = { moved, oldAddress, oldLength };
    // The kernel has moved/resized the range: the old view must not reach it.
    if (moved || len !== oldLength) this.#replaceView(addr, len);
    // Other Mappings over what the kernel unmapped (the old range, or the
    // tail a shrink cut) or over where the range now lies (MREMAP_FIXED
    // replaced whatever was there) no longer own their memory.
    const why = `mapping ${this.id} remapped 0x${oldAddress.toString(16)} to 0x${addr.toString(16)}`;
    const oldEnd = oldAddress + BigInt(oldLength);
    if (moved) {
      if (!dontUnmap) Mapping.#replaceOverlapping(oldAddress, oldLength, this, why);
      Mapping.#replaceOverlapping(addr, len, this, why);
    } else if (len < oldLength) {
      Mapping.#replaceOverlapping(addr + BigInt(len), oldLength - len, this, why);
    } else if (len > oldLength) {
      Mapping.#replaceOverlapping(oldEnd, len - oldLength, this, why);
    }
    if (dontUnmap) {
      result.old = new Mapping({
        address: oldAddress, length: oldLength, pageSize: this.pageSize, backing: this.backing,
        shared: this.shared, prot: this.#prot, overlap: 'keep',
      });
    }
    return result;
  }

  /**
   * munmap a page-aligned part of the range (aligned to the huge page size
   * for hugetlb; length defaults to the rest of the range). The Mapping keeps what is left: cutting the head or the
   * tail shrinks it; cutting a hole in the middle splits it, this Mapping
   * keeps the part before the hole and the part after it is returned as a
   * Mapping of its own (a memfd one with its own descriptor on the same
   * file). Unmapping everything is unmap(). Every view taken before is
   * detached (one ArrayBuffer spans the whole old range, so views of the
   * part that stays go too): take `view` or subarray() again.
   */
  unmapRange(offset: number, length?: number): Mapping | undefined {
    this.#live('unmapRange');
    const r = checkSubrange(this.#length, offset, length, this.pageSize);
    if (r.length === this.#length) {
      this.unmap();
      return undefined;
    }
    const end = r.offset + r.length;
    const hole = r.offset > 0 && end < this.#length;
    // A split memfd mapping gives the tail its own descriptor: reopened
    // before the munmap, so that nothing can fail between the munmap and the
    // new views.
    const tailFd = hole && this.#fd !== undefined ? fs.openSync(`/proc/self/fd/${this.#fd}`, fs.constants.O_RDWR) : undefined;
    // munmap first: if the kernel refuses (ENOMEM past vm.max_map_count),
    // nothing has changed and the old view still reaches mapped memory.
    try {
      native.munmap(this.#address + BigInt(r.offset), r.length);
    } catch (e) {
      if (tailFd !== undefined) fs.closeSync(tailFd);
      throw e;
    }
    Mapping.#replaceOverlapping(this.#address + BigInt(r.offset), r.length, this, `mapping ${this.id} unmapped part of it`);
    const tail = hole
      ? new Mapping({
          address: this.#address + BigInt(end), length: this.#length - end, pageSize: this.pageSize,
          backing: this.backing, shared: this.shared, prot: this.#prot, fd: tailFd, path: this.path, overlap: 'keep',
        })
      : undefined;
    if (r.offset === 0) this.#replaceView(this.#address + BigInt(end), this.#length - end);
    else this.#replaceView(this.#address, r.offset);
    return tail;
  }

  // Detach the current view (so no JavaScript reaches the old range and its
  // finalizer will not unmap it) and make a new owning view of what is mapped now.
  #replaceView(address: bigint, length: number): void {
    native.releaseView(this.#handle!.buffer, this.#handle!.record);
    this.#address = address;
    this.#length = length;
    this.#handle = native.newView(address, length, true);
    this.#view = new Uint8Array(this.#handle.buffer);
  }

  /** munmap the whole range; the view is detached first. */
  unmap(): void {
    this.#live('unmap');
    const h = this.#handle!;
    // Detach before munmap: no JavaScript can reach the range afterwards, and
    // the finalizer will not unmap a range someone else may map next.
    native.releaseView(h.buffer, h.record);
    this.#handle = undefined;
    this.#state = 'unmapped';
    this.#owners = [];
    liveMappings.delete(this.id);
    try {
      native.munmap(this.#address, this.#length);
      Mapping.#replaceOverlapping(this.#address, this.#length, this, `mapping ${this.id} unmapped it`);
    } finally {
      this.#closeFd();
    }
  }

  [Symbol.dispose](): void {
    if (this.#state === 'mapped') this.unmap();
  }

  toString(): string {
    const a = `0x${this.#address.toString(16)}`;
    const e = `0x${(this.#address + BigInt(this.#length)).toString(16)}`;
    const state = this.#state === 'mapped' ? '' : ` (${this.#state})`;
    return `Mapping ${this.backing} ${a}-${e} ${fmtBytes(this.#length)} ${this.prot}${this.shared ? ' shared' : ' private'} page ${fmtBytes(this.pageSize)}${this.path ? ' ' + this.path : ''}${state}`;
  }

  [inspect.custom](): string {
    return `<${this.toString()}>`;
  }

  toJSON(): Record<string, unknown> {
    return {
      address: `0x${this.#address.toString(16)}`, length: this.#length, pageSize: this.pageSize, backing: this.backing,
      shared: this.shared, prot: this.prot, mapped: this.mapped, path: this.path,
    };
  }
}

function checkPopulate(v: unknown): Populate | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true || v === 'read' || v === 'write' || v === 'map') return v;
  throw invalidArg('options.populate', v, "must be a boolean, 'read', 'write' or 'map'");
}

/**
 * A range of `length` bytes at an address aligned to `align`: reserve
 * length + align bytes PROT_NONE, map the real thing MAP_FIXED at the aligned
 * address inside, and unmap the slack on both sides. (For anonymous memory
 * this is the usual over-map and trim; going through a reservation keeps a
 * file mapping's offset 0 at the aligned start.)
 */
function mapAligned(length: number, align: number, prot: number, flags: number, fd: number): bigint {
  const total = length + align;
  const resv = native.mmap(0n, total, 0, MAP.PRIVATE | MAP.ANONYMOUS | MAP.NORESERVE, -1, 0);
  const a = (resv + BigInt(align - 1)) & ~BigInt(align - 1);
  let addr: bigint;
  try {
    addr = native.mmap(a, length, prot, flags | MAP.FIXED, fd, 0);
  } catch (e) {
    native.munmap(resv, total);
    throw e;
  }
  const head = Number(a - resv);
  if (head) native.munmap(resv, head);
  const tail = total - head - length;
  if (tail) native.munmap(a + BigInt(length), tail);
  return addr;
}

function fmtBytes(n: number): string {
  if (n >= 1 << 30 && n % (1 << 30) === 0) return `${n / (1 << 30)} GiB`;
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`;
  return `${n} B`;
}
