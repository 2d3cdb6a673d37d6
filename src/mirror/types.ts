// One interface for "a device mirror of a user buffer". The mock DRM driver
// (mirrordrm) implements it first; real drivers' userptr paths (amdgpu,
// i915, xe) and CUDA's HMM path implement it later, so scenario suites are
// written once against these types.

/** How the device holds the buffer's pages. */
export type MirrorMode =
  | 'gup' // pin_user_pages (FOLL_PIN) at registration
  | 'gup-longterm' // pin_user_pages with FOLL_LONGTERM
  | 'gup-get' // get_user_pages: plain references, no FOLL_PIN accounting
  | 'hmm' // mmu_interval_notifier + hmm_range_fault, no references held
  | 'svm'; // the kernel's DRM GPU SVM helpers (drm_gpusvm ranges); 6.15+ only

/**
 * The modes every kernel has, which the per-mode tests iterate. 'svm' is not
 * among them: it needs drm_gpusvm (Debian 7.2 has it, 6.1 and 6.12 do not,
 * where the kernel refuses it with EOPNOTSUPP); see ALL_MIRROR_MODES.
 */
export const MIRROR_MODES: readonly MirrorMode[] = ['gup', 'gup-longterm', 'gup-get', 'hmm'];

/** Every mode MockDrm.userptr accepts, 'svm' included. */
export const ALL_MIRROR_MODES: readonly MirrorMode[] = [...MIRROR_MODES, 'svm'];

/** Anything with an address and a length: a Mapping, or a plain range. */
export interface MirrorRange {
  readonly address: bigint | number;
  readonly length: number;
}

export interface MirrorOptions {
  mode: MirrorMode;
  /** The device only reads (no FOLL_WRITE / HMM_PFN_REQ_WRITE). */
  readOnly?: boolean;
  /** HMM, SVM: fault the whole range in at registration (GUP modes always do). */
  populate?: boolean;
  /** GUP modes: on invalidation release the pages and re-pin at the next use
   *  (default: keep the pins and mark the pages stale). */
  repin?: boolean;
  /** Two-pass notifier (Linux 7.1+ invalidate_start / invalidate_finish): the
   *  fence wait and the release of GUP pages run in the finish pass. Older
   *  kernels refuse it with EOPNOTSUPP. */
  twoPass?: boolean;
}

/** The kernel's enum mmu_notifier_event, by name. */
export type InvalidationEvent =
  | 'UNMAP'
  | 'CLEAR'
  | 'PROTECTION_VMA'
  | 'PROTECTION_PAGE'
  | 'SOFT_DIRTY'
  | 'RELEASE'
  | 'MIGRATE'
  | 'EXCLUSIVE'
  | 'UNKNOWN';

/** One invalidation callback, as the driver saw it. */
export interface InvalidationRecord {
  seq: bigint;
  event: InvalidationEvent;
  start: bigint;
  /** Exclusive. */
  end: bigint;
  /** mmu_notifier_range_blockable(). */
  blockable: boolean;
  /** The callback returned false (non-blockable range, busy device or held lock). */
  wouldBlock: boolean;
  /** The driver knew the update leaves the range readable. */
  readOnlyUpdate: boolean;
  /** The device kept read access (read-only downgrade). */
  downgraded: boolean;
  /** GUP pages were kept and marked stale. */
  keptStale: boolean;
  /** The emulated fence wait ran. */
  fenceWait: boolean;
  /** A two-pass object's record: durationNs is the start pass, finishNs the finish pass. */
  twoPass: boolean;
  /** Two-pass object whose finish state could not be allocated: the start pass did everything. */
  finishFallback: boolean;
  /** Object hit (one record per object per callback). */
  handle: number;
  pagesDropped: number;
  pagesDowngraded: number;
  durationNs: number;
  timestampNs: bigint;
  /** tgid of the task that ran the callback. */
  pid: number;
  /**
   * range->owner of MIGRATE and EXCLUSIVE events: the pgmap owner id of a
   * mirrordrm device (module parameter owners=), 'foreign' for another
   * driver's owner, null when the range names none.
   */
  owner: number | 'foreign' | null;
  /** Time in the second (finish) pass of a two-pass notifier, 0 without one. */
  finishNs: number;
  /** The object's own MIGRATE/EXCLUSIVE: ignored, the call maps the result itself. */
  ownMigration: boolean;
}

export interface PageView {
  valid: boolean;
  write: boolean;
  zero: boolean;
  /** Only given to CAP_SYS_ADMIN; 0n otherwise. */
  pfn: bigint;
  /**
   * The pgmap owner id of the device whose private memory holds the page,
   * null for system memory. The CPU view shows only pages of this device's
   * owner (hmm_range_fault's dev_private_owner); another owner's read as absent.
   */
  deviceOwner: number | null;
}

export interface MirrorPageState {
  index: number;
  /** What the device would use now. */
  device: PageView & { stale: boolean; sameAsCpu: boolean; exclusive: boolean };
  /** The CPU page tables, read without faulting. */
  cpu: PageView & { error: boolean; order: number };
}

export interface MirrorCounters {
  objects: number;
  pages: number;
  pagesPinned: number;
  pagesValid: number;
  gupCalls: number;
  gupPages: number;
  hmmRangeFaultCalls: number;
  hmmRangeFaultEbusy: number;
  readRetry: number;
  populates: number;
  revalidations: number;
  deviceAccesses: number;
  deviceBytes: number;
  invalidations: number;
  wouldBlock: number;
  pagesDropped: number;
  pagesDowngraded: number;
  logLost: number;
  byEvent: Record<InvalidationEvent, number>;
  /** Pages MIGRATE moved to device memory, and back. */
  pagesToDevice: number;
  pagesToRam: number;
  /** MIGRATE/EXCLUSIVE callbacks the object ignored as its own. */
  ownMigrations: number;
}

/** What MIGRATE moved. */
export interface MigrateResult {
  /** Pages moved. */
  migrated: number;
  /** Of those, pages moved as part of a 2 MiB folio. */
  compound: number;
  /** Pages of the range that did not move. */
  skipped: number;
}

/** A mirrordrm device: which one, its owner, its device memory and what moved through it. */
export interface DeviceInfo {
  index: number;
  owner: number;
  caps: { devicePrivate: boolean; migrateCompound: boolean; exclusive: boolean };
  devmemPages: number;
  devmemFree: number;
  /** First pfn of the device-private range; 0n unless CAP_SYS_ADMIN. */
  devmemPfn: bigint;
  toDevice: number;
  toRam: number;
  cpuFaults: number;
  faultPages: number;
  folioFrees: number;
  folioSplits: number;
  thpAllocs: number;
  allocFailures: number;
  evicted: number;
}

export interface DeviceAccessResult {
  /** Times the device view had to be (re)built for this access. */
  populates: number;
  /** hmm_range_fault -EBUSY and read_retry collisions. */
  retries: number;
}

/** How invalidation callbacks behave (a driver design to compare). */
export interface CallbackBehaviour {
  /** Keep device read access on updates known to be read-only. */
  readOnlyDowngrade?: boolean;
  /** Emulated fence wait in blockable callbacks; non-blockable ones return false. */
  fenceWaitNs?: number;
  /**
   * Sleep between collecting the pages and checking for a colliding
   * invalidation while populating: a test knob that makes races deterministic.
   */
  populateDelayNs?: number;
}

/**
 * What every backend's buffer offers, the mock driver's and a real GPU's
 * (src/gpu/cuda CudaBuffer: cuda-pinned, cuda-hmm, cuda-managed,
 * cuda-device): the bytes the device reads. Scenario code written against
 * this runs on either.
 */
export interface DeviceBuffer extends Disposable {
  readonly address: bigint;
  readonly size: number;
  readonly closed: boolean;
  /** The bytes the device read from [offset, offset + length). */
  read(offset: number, length: number): Promise<Uint8Array>;
  readSync(offset: number, length: number): Uint8Array;
  close(): void;
}

/** A user buffer as mirrored by one device. */
export interface MirroredBuffer extends DeviceBuffer {
  readonly handle: number;
  readonly address: bigint;
  readonly size: number;
  readonly mode: MirrorMode;
  readonly closed: boolean;
  /** Device read of [offset, offset + length), off the JavaScript thread. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Device write, off the JavaScript thread. */
  write(offset: number, data: Uint8Array): Promise<DeviceAccessResult>;
  readSync(offset: number, length: number): Uint8Array;
  writeSync(offset: number, data: Uint8Array): DeviceAccessResult;
  snapshot(firstPage?: number, count?: number): MirrorPageState[];
  stats(): MirrorCounters;
  setBehaviour(b: CallbackBehaviour): void;
  close(): void;
}

export interface DrainResult {
  records: InvalidationRecord[];
  /** Records lost to overflow since the last drain (never silent). */
  lost: bigint;
  lostTotal: bigint;
  pending: number;
}

export interface MirrorDevice extends Disposable {
  readonly backend: string;
  readonly closed: boolean;
  /** Registration; blocking kernel work (pinning, faults) runs off the JS thread. */
  userptr(range: MirrorRange, options: MirrorOptions): Promise<MirroredBuffer>;
  userptrSync(range: MirrorRange, options: MirrorOptions): MirroredBuffer;
  /** Takes every queued invalidation record. */
  drainInvalidations(): DrainResult;
  /** Records as they arrive (poll() on the device, off the JS thread). */
  invalidations(opts?: { signal?: AbortSignal }): AsyncIterableIterator<InvalidationRecord>;
  stats(): MirrorCounters;
  /** Default behaviour for buffers registered later. */
  setBehaviour(b: CallbackBehaviour): void;
  close(): void;
}
