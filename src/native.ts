// The native addon's exports, typed: one interface per Init function in
// native/*.cc (see native/addon.h), in the same order, with the parameter
// order, number/bigint choice and result shapes that the C++ reads and builds.
// test/host/addon-exports.test.ts checks at run time that the loaded addon
// exports exactly these names, so a function added in C++ without a type
// here fails the suite.
//
// Argument conventions of native/syscall_error.cc:
//   U64  ArgU64: a bigint in the uint64 range or a non-negative safe integer
//   I64  ArgI64: a bigint in the int64 range or an integer number
//   Fd   ArgFd:  as I64, and 0 ≤ fd ≤ INT32_MAX
// Values read with Napi::Number/BigInt/TypedArray directly are typed as such.
// A trailing argument the C++ reads only when present (info.Length() > n)
// is an overload without it: passing undefined there throws.
//
// Every group's constants are one plain object of numbers, exported at the
// top level as `<group>Constants` (mmConstants, forkConstants, ...).

import type { SyscallError } from './errors.js';

export type U64 = bigint | number;
export type I64 = bigint | number;
export type Fd = bigint | number;

// Opaque handles: Napi::External values that JavaScript only passes back.
declare const viewRecord: unique symbol;
declare const uffdDelivery: unique symbol;
declare const uffdServer: unique symbol;
declare const uffdPoll: unique symbol;
/** The ViewRecord of a view (newView), shared with the buffer's finalizer. */
export interface ViewRecord { readonly [viewRecord]: true }
/** A running uffd delivery thread (uffdDeliveryStart). */
export interface UffdDeliveryHandle { readonly [uffdDelivery]: true }
/** A running native fault server (uffdServerStart). */
export interface UffdServerHandle { readonly [uffdServer]: true }
/** A uffd polled on the main thread's event loop (uffdPollStart). */
export interface UffdPollHandle { readonly [uffdPoll]: true }

// ---------------------------------------------------------------- mm.cc

export type MmConstantName =
  | 'PROT_NONE' | 'PROT_READ' | 'PROT_WRITE' | 'PROT_EXEC'
  | 'MAP_SHARED' | 'MAP_PRIVATE' | 'MAP_FIXED' | 'MAP_FIXED_NOREPLACE'
  | 'MAP_ANONYMOUS' | 'MAP_POPULATE' | 'MAP_NORESERVE' | 'MAP_HUGETLB'
  | 'MAP_HUGE_SHIFT' | 'MAP_LOCKED'
  | 'MADV_NORMAL' | 'MADV_RANDOM' | 'MADV_SEQUENTIAL' | 'MADV_WILLNEED'
  | 'MADV_DONTNEED' | 'MADV_FREE' | 'MADV_REMOVE' | 'MADV_DONTFORK' | 'MADV_DOFORK'
  | 'MADV_MERGEABLE' | 'MADV_UNMERGEABLE' | 'MADV_HUGEPAGE' | 'MADV_NOHUGEPAGE'
  | 'MADV_COLD' | 'MADV_PAGEOUT' | 'MADV_POPULATE_READ' | 'MADV_POPULATE_WRITE'
  | 'MADV_COLLAPSE'
  | 'MREMAP_MAYMOVE' | 'MREMAP_FIXED' | 'MREMAP_DONTUNMAP'
  | 'MFD_CLOEXEC' | 'MFD_ALLOW_SEALING' | 'MFD_HUGETLB' | 'MFD_HUGE_SHIFT'
  | 'MPOL_DEFAULT' | 'MPOL_PREFERRED' | 'MPOL_BIND' | 'MPOL_INTERLEAVE' | 'MPOL_LOCAL'
  | 'MPOL_MF_STRICT' | 'MPOL_MF_MOVE' | 'MPOL_MF_MOVE_ALL'
  | 'PAGE_SIZE';

/** newView's result: an external ArrayBuffer over the mapping and its record. */
export interface NativeView {
  buffer: ArrayBuffer;
  record: ViewRecord;
}

export interface MovePagesRaw {
  /** the syscall's return: 0, or the number of pages left unmigrated */
  result: number;
  /** per page: its node, a negative errno, or INT32_MIN where the kernel wrote nothing */
  status: Int32Array;
}

export interface MmNative {
  mmap(addr: U64, length: U64, prot: I64, flags: I64, fd: I64, offset: I64): bigint;
  munmap(addr: U64, length: U64): void;
  mprotect(addr: U64, length: U64, prot: I64): void;
  madvise(addr: U64, length: U64, advice: I64): void;
  mremap(oldAddr: U64, oldLength: U64, newLength: U64, flags: I64, newAddr: U64): bigint;
  memfdCreate(name: string, flags: U64): number;
  newView(addr: U64, length: U64, owned: boolean): NativeView;
  /** Detaches the buffer; with its record, its finalizer no longer unmaps. */
  releaseView(buffer: ArrayBuffer, record?: ViewRecord): void;
  /** nodes null only asks where each page is. */
  movePages(pid: I64, addrs: BigUint64Array, nodes: Int32Array | null, flags: I64): MovePagesRaw;
  /** mincore(2) over the range: throws ENOMEM (args.hole: the first unmapped page) unless every page is mapped. */
  checkMapped(addr: U64, length: U64): void;
  /** nodemask: bit n = node n */
  mbind(addr: U64, length: U64, mode: I64, nodemask: U64, flags: U64): void;
  mmConstants: Readonly<Record<MmConstantName, number>>;
}

// ---------------------------------------------------------------- fork_child.cc

export type ForkConstantName =
  | 'OP_WRITE' | 'OP_READ' | 'OP_MADVISE' | 'OP_MPROTECT' | 'OP_MUNMAP'
  | 'OP_SLEEP' | 'OP_WAIT' | 'OP_FILL' | 'OP_IOCTL';

/** One operation for forkRun; data is required by OP_WRITE and OP_IOCTL (length bytes). */
export interface NativeForkOp {
  code: number;
  addr: bigint;
  length: number;
  arg: number;
  data?: Uint8Array;
}

/** Operation `index` finished ('result') or, an OP_WAIT, is waiting for forkResume ('wait'). */
export interface NativeForkStep<T extends 'result' | 'wait'> {
  type: T;
  index: number;
  /** negative errno, -0 on success */
  errno: number;
  code?: string;
  /** OP_READ: the bytes read; OP_IOCTL: the argument after the call */
  bytes?: Buffer;
}

export interface NativeForkExit {
  type: 'exit';
  pid: number;
  /** the wait status */
  status: number;
  exitCode: number | null;
  signal: number | null;
}

export type NativeForkEvent = NativeForkStep<'result'> | NativeForkStep<'wait'> | NativeForkExit;

export interface ForkChildNative {
  /** The callback runs on the JavaScript thread; ctlFd is the caller's to close after 'exit'. */
  /** unref: the event callback does not keep the event loop alive (the caller does). */
  forkRun(ops: readonly NativeForkOp[], onEvent: (event: NativeForkEvent) => void, unref?: boolean): { pid: number; ctlFd: number };
  forkResume(ctlFd: Fd): void;
  forkConstants: Readonly<Record<ForkConstantName, number>>;
}

// ---------------------------------------------------------------- pagemap.cc

export type PagemapConstantName =
  | 'PAGE_IS_WPALLOWED' | 'PAGE_IS_WRITTEN' | 'PAGE_IS_FILE' | 'PAGE_IS_PRESENT'
  | 'PAGE_IS_SWAPPED' | 'PAGE_IS_PFNZERO' | 'PAGE_IS_HUGE' | 'PAGE_IS_SOFT_DIRTY'
  | 'PAGE_IS_GUARD';

export interface PageStateRaw {
  /** raw /proc/self/pagemap entries */
  pagemap: BigUint64Array;
  /** flags of each present PFN; null (and kpageflagsErrno) when unreadable */
  kpageflags: BigUint64Array | null;
  kpageflagsErrno?: number;
  /** PAGEMAP_SCAN categories; null (and scanErrno) when refused */
  scan: Uint8Array | null;
  scanErrno?: number;
}

export interface PagemapScanRaw {
  /** (start, end, categories) triples */
  regions: BigUint64Array;
  walkEnd: bigint;
}

export type PageSummaryRaw = {
  pages: number;
  pageSize: number;
  present: number;
  swapped: number;
  exclusive: number;
  softDirty: number;
  fileOrSharedAnon: number;
  uffdWp: number;
  guard: number;
  pfnKnown: number;
} & (
  | { kpageflags: true; thp: number; thpHead: number; thpTail: number; hugetlb: number; zeroPage: number; ksm: number; anon: number; lru: number }
  | { kpageflags: false; kpageflagsErrno: number }
) & (
  | { pagemapScan: true; scanPresent: number; scanHuge: number; pfnZero: number; pmdMapped: number }
  | { pagemapScan: false; pagemapScanErrno: number }
);

export interface PagemapNative {
  pageStateRaw(addr: U64, length: U64): PageStateRaw;
  pagemapScan(
    start: U64, end: U64, categoryMask: U64, categoryAnyofMask: U64,
    categoryInverted: U64, returnMask: U64, maxPages: U64,
  ): PagemapScanRaw;
  pageSummary(addr: U64, length: U64): PageSummaryRaw;
  pagemapConstants: Readonly<Record<PagemapConstantName, number>>;
}

// ---------------------------------------------------------------- userfaultfd.cc

export type UffdConstantName =
  | 'O_CLOEXEC' | 'O_NONBLOCK' | 'UFFD_USER_MODE_ONLY' | 'UFFD_API'
  | 'UFFD_FEATURE_PAGEFAULT_FLAG_WP' | 'UFFD_FEATURE_EVENT_FORK' | 'UFFD_FEATURE_EVENT_REMAP'
  | 'UFFD_FEATURE_EVENT_REMOVE' | 'UFFD_FEATURE_MISSING_HUGETLBFS' | 'UFFD_FEATURE_MISSING_SHMEM'
  | 'UFFD_FEATURE_EVENT_UNMAP' | 'UFFD_FEATURE_SIGBUS' | 'UFFD_FEATURE_THREAD_ID'
  | 'UFFD_FEATURE_MINOR_HUGETLBFS' | 'UFFD_FEATURE_MINOR_SHMEM' | 'UFFD_FEATURE_EXACT_ADDRESS'
  | 'UFFD_FEATURE_WP_HUGETLBFS_SHMEM' | 'UFFD_FEATURE_WP_UNPOPULATED' | 'UFFD_FEATURE_POISON'
  | 'UFFD_FEATURE_WP_ASYNC' | 'UFFD_FEATURE_MOVE'
  | '_UFFDIO_REGISTER' | '_UFFDIO_UNREGISTER' | '_UFFDIO_WAKE' | '_UFFDIO_COPY'
  | '_UFFDIO_ZEROPAGE' | '_UFFDIO_MOVE' | '_UFFDIO_WRITEPROTECT' | '_UFFDIO_CONTINUE'
  | '_UFFDIO_POISON' | '_UFFDIO_API'
  | 'UFFDIO_REGISTER_MODE_MISSING' | 'UFFDIO_REGISTER_MODE_WP' | 'UFFDIO_REGISTER_MODE_MINOR'
  | 'UFFDIO_COPY_MODE_DONTWAKE' | 'UFFDIO_COPY_MODE_WP' | 'UFFDIO_ZEROPAGE_MODE_DONTWAKE'
  | 'UFFDIO_WRITEPROTECT_MODE_WP' | 'UFFDIO_WRITEPROTECT_MODE_DONTWAKE'
  | 'UFFDIO_CONTINUE_MODE_DONTWAKE' | 'UFFDIO_CONTINUE_MODE_WP'
  | 'UFFDIO_MOVE_MODE_DONTWAKE' | 'UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES'
  | 'UFFDIO_POISON_MODE_DONTWAKE' | 'POLL_HEADER' | 'UFFD_MSG_SIZE'
  | 'UFFD_EVENT_PAGEFAULT' | 'UFFD_EVENT_FORK' | 'UFFD_EVENT_REMAP' | 'UFFD_EVENT_REMOVE'
  | 'UFFD_EVENT_UNMAP'
  | 'UFFD_PAGEFAULT_FLAG_WRITE' | 'UFFD_PAGEFAULT_FLAG_WP' | 'UFFD_PAGEFAULT_FLAG_MINOR'
  | 'POLICY_COPY' | 'POLICY_ZEROPAGE';

/**
 * One struct uffd_msg. Which of the optional fields are set depends on event:
 * PAGEFAULT flags, address, ptid; FORK ufd; REMAP from, to, len;
 * REMOVE and UNMAP start, end.
 */
export interface UffdMessage {
  event: number;
  /** CLOCK_MONOTONIC ns when the batch holding this message was read */
  readNs: bigint;
  flags?: number;
  address?: bigint;
  ptid?: number;
  ufd?: number;
  from?: bigint;
  to?: bigint;
  len?: number;
  start?: bigint;
  end?: bigint;
}

export interface UffdServerConfig {
  /** POLICY_COPY or POLICY_ZEROPAGE */
  policy: number;
  /** repeated to fill one page for UFFDIO_COPY (zeros without it) */
  pattern?: NodeJS.TypedArray;
  pageSize: number;
  copyMode: number;
  delayNs: number;
  maxSamples: number;
}

export interface FaultServerCounters {
  faults: number;
  missing: number;
  wp: number;
  minor: number;
  /** COPY found the page already mapped (another thread faulted it in): the waiters were woken. */
  eexist: number;
  /** EAGAIN retries (the mm changed under the copy). */
  eagain: number;
  errors: number;
  lastErrno: number;
  forks: number;
  remaps: number;
  removes: number;
  unmaps: number;
}

export interface UffdServerSamples extends FaultServerCounters {
  /** Per-fault service time: message read to resolving ioctl returned, in ns. */
  serviceNs: Float64Array;
  /** CLOCK_MONOTONIC (ns) at which each fault's service began, same order as serviceNs. */
  readAtNs: Float64Array;
  /** Each fault's address (as a double: exact for user addresses), same order. */
  address: Float64Array;
}

export interface UserfaultfdNative {
  uffdOpen(flags: I64, viaDevice: boolean): number;
  uffdClose(fd: Fd): void;
  /** The api, features and ioctls words the kernel wrote back. */
  uffdApi(fd: Fd, features: U64): { api: bigint; features: bigint; ioctls: bigint };
  /** Returns the ioctls bits the range allows. */
  uffdRegister(fd: Fd, start: U64, len: U64, mode: U64): bigint;
  uffdUnregister(fd: Fd, start: U64, len: U64): void;
  uffdWake(fd: Fd, start: U64, len: U64): void;
  /** src: an address, or a typed array read during the ioctl. Returns bytes copied. */
  uffdCopy(fd: Fd, dst: U64, src: U64 | NodeJS.TypedArray, len: U64, mode: U64): number;
  uffdZeropage(fd: Fd, start: U64, len: U64, mode: U64): number;
  uffdWriteprotect(fd: Fd, start: U64, len: U64, mode: U64): void;
  uffdContinue(fd: Fd, start: U64, len: U64, mode: U64): number;
  uffdMove(fd: Fd, dst: U64, src: U64, len: U64, mode: U64): number;
  uffdPoison(fd: Fd, start: U64, len: U64, mode: U64): number;
  /** [] when nothing is queued (O_NONBLOCK uffd). */
  uffdRead(fd: Fd): UffdMessage[];
  /** Exactly one of err and message is null. */
  uffdDeliveryStart(fd: Fd, callback: (err: SyscallError | null, message: UffdMessage | null) => void): UffdDeliveryHandle;
  uffdDeliveryRef(handle: UffdDeliveryHandle, ref: boolean): void;
  uffdReaderStop(handle: UffdDeliveryHandle | UffdServerHandle): void;
  /**
   * Poll the uffd on the main thread's event loop: each time it is readable,
   * one read() fills `buffer` (u64 readNs at 0, then struct uffd_msg from
   * POLL_HEADER, 32 bytes each) and the callback gets the message count. After
   * an error (count 0) polling has stopped.
   */
  uffdPollStart(fd: Fd, buffer: ArrayBuffer, callback: (err: SyscallError | null, count: number) => void): UffdPollHandle;
  uffdPollStop(handle: UffdPollHandle): void;
  uffdPollRef(handle: UffdPollHandle, ref: boolean): void;
  uffdServerStart(fd: Fd, config: UffdServerConfig): UffdServerHandle;
  uffdServerStats(handle: UffdServerHandle): FaultServerCounters;
  uffdServerStop(handle: UffdServerHandle): UffdServerSamples;
  uffdConstants: Readonly<Record<UffdConstantName, number>>;
}

// ---------------------------------------------------------------- thread_access.cc

export interface AccessSignal {
  signal: 'SIGBUS' | 'SIGSEGV';
  /** si_code (BUS_ADRERR = 2, BUS_MCEERR_AR = 4, ...). */
  code: number;
  address: bigint;
}

export interface ThreadAccessResult {
  /** Kernel thread id of the accessing thread (matches a fault's tid with THREAD_ID). */
  tid: number;
  /** CLOCK_MONOTONIC at the start and end of the loop. */
  startNs: bigint;
  endNs: bigint;
  /** Accesses that finished (less than requested when a SIGBUS stopped the loop). */
  completed: number;
  /** Per-access latency in nanoseconds, fault included, one entry per completed access. */
  latencyNs: Float64Array;
  /** Start of each completed access in ns after startNs (to line accesses up with events' readNs). */
  offsetNs: Float64Array;
  /** Bytes read (reads only): each access's `width` bytes, concatenated. */
  bytes?: Uint8Array;
  /** Set when the loop ended on SIGBUS (poisoned page, UFFD_FEATURE_SIGBUS, ...). */
  signal: AccessSignal | null;
}

/** forkAccess: tid is the child's pid too; termSignal is strsignal()'s text. */
export interface ForkAccessResult extends ThreadAccessResult {
  pid: number;
  exitCode: number | null;
  termSignal: string | null;
}

export interface ThreadAccessNative {
  /** data (writes, exactly the bytes written) or fill (a byte, default 0). */
  threadAccess(
    addr: U64, length: U64, stride: U64, width: U64, write: boolean,
    data?: NodeJS.TypedArray, fill?: number, startAtNs?: U64,
  ): Promise<ThreadAccessResult>;
  forkAccess(
    addr: U64, length: U64, stride: U64, width: U64, write: boolean,
    data?: NodeJS.TypedArray, fill?: number, startAtNs?: U64,
  ): Promise<ForkAccessResult>;
  gettid(): number;
  monotonicNs(): bigint;
}

// ---------------------------------------------------------------- fault_timing.cc

export interface FaultRunSpec {
  length: U64;
  stride?: U64;
  write?: boolean;
  repetitions?: U64;
  prot?: number;
  flags?: number;
  fd?: number;
  offset?: number;
  /** a power of two; 0 = no alignment */
  align?: U64;
  madvise?: number[];
  /** 0: one access per touch; 1: one MADV_POPULATE_WRITE */
  mode?: number;
  keepLast?: boolean;
  /** default true */
  perf?: boolean;
}

export type PerfStatus =
  | { available: true; excludeKernel: boolean }
  /** code 'disabled' (not asked for: no errno, no message) or the errno name */
  | { available: false; code: string; errno?: number; message?: string };

export interface FaultCounts {
  pageFaults: number;
  minor: number;
  major: number;
}

export interface FaultRepRaw {
  address: bigint;
  samples: Float64Array;
  totalNs: number;
  rusage: { minflt: number; majflt: number };
  perf: FaultCounts | null;
}

export interface FaultRunRaw {
  clock: 'CLOCK_MONOTONIC';
  processFirst: boolean;
  perf: PerfStatus;
  reps: FaultRepRaw[];
  keptAddress: bigint | null;
}

export interface FaultTimingNative {
  faultRun(spec: FaultRunSpec): FaultRunRaw;
  faultTouch(addr: U64, length: U64, stride: U64, write: boolean, perf?: boolean): FaultRunRaw;
  clockOverhead(n: U64): Float64Array;
  perfProbe(): PerfStatus;
  /** method 0: memset; 1: rep stosb (x86-64). chunk 0 or omitted: the whole range. */
  clearTiming(addr: U64, length: U64, passes: U64, method: I64): Float64Array;
  clearTiming(addr: U64, length: U64, passes: U64, method: I64, chunk: U64): Float64Array;
  timedMadvise(addr: U64, length: U64, advice: I64): number;
  /** ns of one munmap(addr, length), timed in C around the system call. */
  timedMunmap(addr: U64, length: U64): number;
}

// ---------------------------------------------------------------- drm.cc

export interface DrmVersion {
  name: string;
  date: string;
  desc: string;
  major: number;
  minor: number;
  patchlevel: number;
}

export interface DrmNative {
  drmVersion(path: string): DrmVersion;
}

// ---------------------------------------------------------------- kvm.cc

/** What kvmProbe reached; failedAt, code and errno name the step that failed. */
export interface KvmProbe {
  apiVersion?: number;
  vmCreated?: boolean;
  exits?: string;
  guestRan?: boolean;
  failedAt?: string;
  code?: string;
  errno?: number;
}

export interface KvmNative {
  kvmProbe(): KvmProbe;
}

// ---------------------------------------------------------------- mirrordrm.cc

export type MirrordrmConstantName =
  | 'MIRRORDRM_USERPTR_MODE_MASK' | 'MIRRORDRM_USERPTR_MODE_GUP'
  | 'MIRRORDRM_USERPTR_MODE_GUP_LONGTERM' | 'MIRRORDRM_USERPTR_MODE_GUP_GET'
  | 'MIRRORDRM_USERPTR_MODE_HMM' | 'MIRRORDRM_USERPTR_MODE_SVM' | 'MIRRORDRM_USERPTR_READ_ONLY'
  | 'MIRRORDRM_USERPTR_POPULATE' | 'MIRRORDRM_USERPTR_GUP_REPIN'
  | 'MIRRORDRM_USERPTR_FLAGS' | 'MIRRORDRM_USERPTR_MAX_SIZE'
  | 'MIRRORDRM_ACCESS_READ' | 'MIRRORDRM_ACCESS_WRITE'
  | 'MIRRORDRM_PAGE_VALID' | 'MIRRORDRM_PAGE_WRITE' | 'MIRRORDRM_PAGE_ZERO'
  | 'MIRRORDRM_PAGE_ERROR' | 'MIRRORDRM_PAGE_STALE' | 'MIRRORDRM_PAGE_SAME'
  | 'MIRRORDRM_PAGE_ORDER_SHIFT' | 'MIRRORDRM_PAGE_ORDER_MASK'
  | 'MIRRORDRM_RECORD_BLOCKABLE' | 'MIRRORDRM_RECORD_WOULD_BLOCK'
  | 'MIRRORDRM_RECORD_READ_ONLY' | 'MIRRORDRM_RECORD_DOWNGRADED'
  | 'MIRRORDRM_RECORD_KEPT_STALE' | 'MIRRORDRM_RECORD_FENCE_WAIT'
  | 'MIRRORDRM_USERPTR_TWO_PASS' | 'MIRRORDRM_RECORD_TWO_PASS'
  | 'MIRRORDRM_RECORD_FINISH_FALLBACK'
  | 'MIRRORDRM_OWNER_NONE' | 'MIRRORDRM_OWNER_FOREIGN'
  | 'MIRRORDRM_RECORD_OWN_MIGRATION'
  | 'MIRRORDRM_PAGE_DEVICE_PRIVATE' | 'MIRRORDRM_PAGE_EXCLUSIVE'
  | 'MIRRORDRM_PAGE_OWNER_SHIFT' | 'MIRRORDRM_PAGE_OWNER_MASK'
  | 'MIRRORDRM_MIGRATE_TO_DEVICE' | 'MIRRORDRM_MIGRATE_TO_RAM'
  | 'MIRRORDRM_MIGRATE_COMPOUND' | 'MIRRORDRM_MIGRATE_FLAGS'
  | 'MIRRORDRM_CAP_DEVICE_PRIVATE' | 'MIRRORDRM_CAP_MIGRATE_COMPOUND' | 'MIRRORDRM_CAP_EXCLUSIVE'
  | 'DRM_MIRRORDRM_MIGRATE' | 'DRM_MIRRORDRM_EXCLUSIVE' | 'DRM_MIRRORDRM_DEVICE_INFO'
  | 'DRM_IOCTL_MIRRORDRM_MIGRATE' | 'DRM_IOCTL_MIRRORDRM_EXCLUSIVE'
  | 'DRM_IOCTL_MIRRORDRM_DEVICE_INFO'
  | 'MIRRORDRM_BEHAVIOUR_RO_DOWNGRADE' | 'MIRRORDRM_FENCE_WAIT_MAX_NS'
  | 'MIRRORDRM_POPULATE_DELAY_MAX_NS'
  | 'MIRRORDRM_ACCESS_FLAGS' | 'MIRRORDRM_BEHAVIOUR_FLAGS'
  | 'MIRRORDRM_IOCTL_BASE' | 'MIRRORDRM_COMMAND_BASE'
  | 'DRM_MIRRORDRM_USERPTR' | 'DRM_MIRRORDRM_ACCESS' | 'DRM_MIRRORDRM_SNAPSHOT'
  | 'DRM_MIRRORDRM_INVAL_READ' | 'DRM_MIRRORDRM_STATS' | 'DRM_MIRRORDRM_SET_BEHAVIOUR'
  | 'MIRRORDRM_EVENT_UNMAP' | 'MIRRORDRM_EVENT_CLEAR' | 'MIRRORDRM_EVENT_PROTECTION_VMA'
  | 'MIRRORDRM_EVENT_PROTECTION_PAGE' | 'MIRRORDRM_EVENT_SOFT_DIRTY' | 'MIRRORDRM_EVENT_RELEASE'
  | 'MIRRORDRM_EVENT_MIGRATE' | 'MIRRORDRM_EVENT_EXCLUSIVE' | 'MIRRORDRM_EVENT_UNKNOWN'
  | 'MIRRORDRM_EVENT_SLOTS'
  | 'DRM_IOCTL_MIRRORDRM_USERPTR' | 'DRM_IOCTL_MIRRORDRM_ACCESS'
  | 'DRM_IOCTL_MIRRORDRM_SNAPSHOT' | 'DRM_IOCTL_MIRRORDRM_INVAL_READ'
  | 'DRM_IOCTL_MIRRORDRM_STATS' | 'DRM_IOCTL_MIRRORDRM_SET_BEHAVIOUR'
  | 'POLLIN'
  | 'sizeofPage' | 'sizeofRecord' | 'sizeofCounters';

/** sizeof (key `sizeof`) and offsetof of each field, by C names. */
export interface MirrordrmLayout {
  drm_mirrordrm_userptr: StructLayout<'address' | 'size' | 'flags' | 'handle'>;
  drm_mirrordrm_access: StructLayout<'handle' | 'flags' | 'offset' | 'length' | 'data' | 'populates' | 'retries'>;
  drm_mirrordrm_page: StructLayout<'dev_pfn' | 'cpu_pfn' | 'dev_flags' | 'cpu_flags'>;
  drm_mirrordrm_snapshot: StructLayout<'handle' | 'flags' | 'first_page' | 'count' | 'pages'>;
  drm_mirrordrm_inval_record: StructLayout<
    'seq' | 'start' | 'end' | 'timestamp_ns' | 'duration_ns' | 'pages_dropped' | 'pages_downgraded'
    | 'handle' | 'event' | 'flags' | 'pid' | 'owner' | 'pad' | 'finish_ns'>;
  drm_mirrordrm_inval_read: StructLayout<'records' | 'count' | 'flags' | 'lost' | 'lost_total' | 'pending'>;
  drm_mirrordrm_counters: StructLayout<
    'objects' | 'pages' | 'pages_pinned' | 'pages_valid' | 'gup_calls' | 'gup_pages'
    | 'hmm_range_fault_calls' | 'hmm_range_fault_ebusy' | 'read_retry' | 'populates' | 'revalidations'
    | 'device_accesses' | 'device_bytes' | 'invalidations' | 'would_block' | 'pages_dropped'
    | 'pages_downgraded' | 'log_lost' | 'by_event' | 'pages_to_device' | 'pages_to_ram'
    | 'own_migrations'>;
  drm_mirrordrm_migrate: StructLayout<'handle' | 'flags' | 'offset' | 'length' | 'migrated' | 'compound' | 'skipped'>;
  drm_mirrordrm_exclusive: StructLayout<'handle' | 'flags' | 'offset' | 'length' | 'pages'>;
  drm_mirrordrm_device_info: StructLayout<
    'index' | 'owner' | 'caps' | 'pad' | 'devmem_pages' | 'devmem_free' | 'devmem_pfn'
    | 'to_device' | 'to_ram' | 'cpu_faults' | 'fault_pages' | 'folio_frees' | 'folio_splits'
    | 'thp_allocs' | 'alloc_failures' | 'evicted'>;
  drm_mirrordrm_stats: StructLayout<'handle' | 'flags' | 'counters' | 'size' | 'pad'>;
  drm_mirrordrm_behaviour: StructLayout<'handle' | 'flags' | 'fence_wait_ns' | 'populate_delay_ns'>;
}
export type StructLayout<F extends string> = Readonly<Record<F | 'sizeof', number>>;

export interface MirrordrmAccessResult {
  populates: number;
  retries: number;
}

export interface MirrordrmMigrateResult {
  migrated: number;
  compound: number;
  skipped: number;
}

/** One thread of accessStorm: its CPU, what it saw and what each handle's reads gave. */
export interface MirrordrmStormThread {
  /** the CPU the thread was pinned to */
  cpu: number;
  /** the CPUs sched_getcpu() reported around its accesses: [cpu] when the pinning held */
  cpusSeen: number[];
  accesses: number;
  /** stopped by maxPerThread, not by control[0] */
  capped: boolean;
  /** per handle, in the order given: reads with every byte as expected, reads with any other byte, failures by errno name */
  handles: { ok: number; wrong: number; errors: Record<string, number> }[];
  /** the first wrong read: "handle 3 byte 17: 0x00, expected 0x5a", or '' */
  firstWrong: string;
}

export interface MirrordrmInvalRead {
  /** count struct drm_mirrordrm_inval_record */
  records: Buffer;
  count: number;
  lost: bigint;
  lostTotal: bigint;
  pending: number;
}

/** The mirrordrm ioctls, in one namespace object: native.mirrordrm. */
export interface MirrordrmFunctions {
  version(fd: Fd): DrmVersion;
  gemClose(fd: Fd, handle: U64): void;
  /** Returns the new GEM handle. */
  userptr(fd: Fd, address: U64, size: U64, flags: U64): number;
  userptrAsync(fd: Fd, address: U64, size: U64, flags: U64): Promise<number>;
  access(fd: Fd, handle: U64, offset: U64, flags: U64, data: Uint8Array): MirrordrmAccessResult;
  accessAsync(fd: Fd, handle: U64, offset: U64, flags: U64, data: Uint8Array): Promise<MirrordrmAccessResult>;
  accessAddr(fd: Fd, handle: U64, offset: U64, length: U64, address: U64, flags: U64): MirrordrmAccessResult;
  accessAddrAsync(fd: Fd, handle: U64, offset: U64, length: U64, address: U64, flags: U64): Promise<MirrordrmAccessResult>;
  /** count struct drm_mirrordrm_page */
  snapshot(fd: Fd, handle: U64, firstPage: U64, count: U64): Buffer;
  invalRead(fd: Fd, max: U64): MirrordrmInvalRead;
  invalRead(fd: Fd, max: U64, flags: U64): MirrordrmInvalRead;
  /** struct drm_mirrordrm_counters */
  stats(fd: Fd, handle: U64): Buffer;
  setBehaviour(fd: Fd, handle: U64, flags: U64, fenceWaitNs: U64): void;
  setBehaviour(fd: Fd, handle: U64, flags: U64, fenceWaitNs: U64, populateDelayNs: U64): void;
  /** Any request with a caller-built argument (a buffer, an address or none); returns 0. */
  ioctl(fd: Fd, request: U64, arg?: Buffer | U64 | null): number;
  /** Resolves with poll's revents (0 on timeout). */
  pollAsync(fd: Fd, timeoutMs: I64): Promise<number>;
  timeUserptr(fd: Fd, address: U64, size: U64, flags: U64, reps: U64): BigUint64Array;
  /**
   * One thread per CPU of cpus, pinned there (sched_setaffinity), each
   * reading [0, length) of every handle in turn through ACCESS until
   * control[0] is non-zero or it made maxPerThread accesses; control[1]
   * counts the accesses of all threads. expect holds, per handle, the byte
   * every read must return.
   */
  accessStorm(fd: Fd, handles: number[], expect: Uint8Array, length: U64, cpus: number[], control: Int32Array, maxPerThread: U64): Promise<MirrordrmStormThread[]>;
  /** advice >= 0: madvise(adviseAddr, adviseLen, advice), untimed, before each access. */
  timeAccess(
    fd: Fd, handle: U64, offset: U64, length: U64, flags: U64, reps: U64,
    advice: I64, adviseAddr: U64, adviseLen: U64,
  ): BigUint64Array;
  /**
   * MIGRATE a range of an object to the device or back. A failure (ENOSPC
   * when device memory ran out part way) carries the same counts on the Error.
   */
  migrate(fd: Fd, handle: U64, offset: U64, length: U64, flags: U64): MirrordrmMigrateResult;
  /** make_device_exclusive() over the range; returns the pages made exclusive. */
  exclusive(fd: Fd, handle: U64, offset: U64, length: U64): number;
  /** struct drm_mirrordrm_device_info */
  deviceInfo(fd: Fd): Buffer;
  /** 2 * reps ns: [to device, back to RAM] per round; a partial migration throws. */
  timeMigrate(fd: Fd, handle: U64, offset: U64, length: U64, flags: U64, reps: U64): BigUint64Array;
  /** The uapi structures as the addon was compiled against them. */
  layout: Readonly<MirrordrmLayout>;
}

export interface MirrordrmNative {
  mirrordrm: MirrordrmFunctions;
  mirrordrmConstants: Readonly<Record<MirrordrmConstantName, number>>;
}

// ---------------------------------------------------------------- fakevram.cc

export type FakevramConstantName =
  | 'IOC_INFO' | 'IOC_SET_POLICY' | 'IOC_GET_POLICY' | 'IOC_COUNTERS' | 'IOC_EVICT' | 'IOC_ACCESS'
  | 'KIND_IOMEM' | 'KIND_PAGES'
  | 'ENTRY_PTE' | 'ENTRY_PMD' | 'ENTRY_PUD'
  | 'CAP_PMD' | 'CAP_PUD'
  | 'NR_ENTRY_SIZES'
  | 'POLICY_PREFAULT' | 'POLICY_NO_ALIGN' | 'POLICY_FLAGS'
  | 'COUNTERS_RESET' | 'COUNTERS_FLAGS' | 'ACCESS_WRITE' | 'ACCESS_FLAGS' | 'IOC_MAGIC'
  | 'SIZEOF_INFO' | 'SIZEOF_POLICY' | 'SIZEOF_COUNTERS' | 'SIZEOF_EVICT' | 'SIZEOF_ACCESS';

export interface FakevramInfoRaw {
  size: number;
  physBase: bigint;
  kind: number;
  caps: number;
  pageShift: number;
  pmdShift: number;
  pudShift: number;
  kernelVersion: number;
}

/** Per entry size where an array: [pte, pmd, pud]. */
export interface FakevramCountersRaw {
  faults: number[];
  hugeFaultCalls: number[];
  fallbacks: number[];
  prefaultEntries: number[];
  prefaultSkipped: number;
  sigbus: number;
  zaps: number;
  mmaps: number;
  vmaOpens: number;
  vmaCloses: number;
  splitZaps: number;
}

export interface FakevramNative {
  fakevramInfo(fd: Fd): FakevramInfoRaw;
  fakevramSetPolicy(fd: Fd, maxEntry: U64, flags: U64): void;
  fakevramGetPolicy(fd: Fd): { maxEntry: number; flags: number };
  fakevramCounters(fd: Fd, reset: boolean): FakevramCountersRaw;
  /** Returns the range actually zapped. */
  fakevramEvict(fd: Fd, offset: U64, length: U64): { offset: number; length: number };
  fakevramAccess(fd: Fd, offset: U64, buffer: Uint8Array, write: boolean): void;
  fakevramConstants: Readonly<Record<FakevramConstantName, number>>;
  /** One u64 per 4 KiB page: (base + offset) ^ seed. */
  patternFill(addr: U64, length: U64, seed: U64, base?: U64): void;
  /** Returns the number of 4 KiB pages that differ. */
  patternCheck(addr: U64, length: U64, seed: U64, base: U64): number;
  processVmReadv(pid: I64, local: U64, remote: U64, length: U64): number;
  processVmWritev(pid: I64, local: U64, remote: U64, length: U64): number;
  vmspliceFrom(addr: U64, length: U64): number;
  /** FUTEX_WAIT without a timeout: call with val != *addr. */
  futexWait(addr: U64, val: U64, isPrivate: boolean): number;
  preadInto(fd: Fd, addr: U64, length: U64, offset: I64): number;
  pipeRoundTrip(src: U64, dst: U64, length: U64): { written: number; read: number };
}

// ---------------------------------------------------------------- cuda.cc

/** cudaLoad's answer: the driver library opened and cuInit(0) passed, or why not. */
export interface CudaLoadRaw {
  ok: boolean;
  path: string;
  error: string | null;
}

export type CudaAttributeName =
  | 'multiprocessorCount' | 'unifiedAddressing' | 'computeCapabilityMajor' | 'computeCapabilityMinor'
  | 'managedMemory' | 'hostNativeAtomicSupported' | 'pageableMemoryAccess' | 'concurrentManagedAccess'
  | 'canUseHostPointerForRegisteredMem' | 'hostRegisterSupported' | 'pageableMemoryAccessUsesHostPageTables'
  | 'directManagedMemAccessFromHost' | 'readOnlyHostRegisterSupported' | 'gpuDirectRdmaSupported';

export interface CudaDeviceRaw {
  name: string;
  pciBusId: string;
  totalMem: bigint;
  /** null where the driver does not know the attribute. */
  attributes: Record<CudaAttributeName, number | null>;
}

export type CudaConstantName =
  | 'CU_MEMHOSTREGISTER_PORTABLE' | 'CU_MEMHOSTREGISTER_DEVICEMAP' | 'CU_MEMHOSTREGISTER_IOMEMORY' | 'CU_MEMHOSTREGISTER_READ_ONLY';

export interface CudaNative {
  /** dlopen + cuInit(0); never throws for a missing driver (ok false, error says why). */
  cudaLoad(path?: string): CudaLoadRaw;
  cudaDriverVersion(): number;
  cudaDeviceCount(): number;
  cudaDevice(ordinal: I64): CudaDeviceRaw;
  /** Retains the primary context, makes it current, JIT-compiles the kernels. */
  cudaOpen(ordinal: I64): void;
  cudaClose(): void;
  cudaMemInfo(): { free: bigint; total: bigint };
  /** cuMemHostRegister_v2; returns the ns the call took. */
  cudaHostRegister(addr: U64, length: U64, flags: U64): number;
  /** Returns the ns the call took. */
  cudaHostUnregister(addr: U64): number;
  cudaHostDevicePointer(addr: U64): bigint;
  /** cuMemAlloc_v2, or cuMemAllocManaged (CU_MEM_ATTACH_GLOBAL). */
  cudaMemAlloc(length: U64, managed: boolean): bigint;
  cudaMemFree(ptr: U64): void;
  /** Prefetch to the open device or to the host, waited for; ns. */
  cudaPrefetch(ptr: U64, length: U64, toDevice: boolean): number;
  cudaMemset(ptr: U64, value: U64, length: U64): void;
  /** The GPU copies the range into device memory; the bytes it read. */
  cudaGpuRead(ptr: U64, length: U64): { data: Uint8Array; gpuMs: number };
  /** The GPU writes word i = pattern + i; kernel time in ms. */
  cudaGpuWrite(ptr: U64, length: U64, pattern: U64): number;
  /** The GPU reads every word; their xor and the kernel time. */
  cudaGpuXor(ptr: U64, length: U64): { xor: bigint; gpuMs: number };
  /** One byte read per page by at most `threads` threads; the bytes' sum. */
  cudaGpuTouch(ptr: U64, pages: U64, stride: U64, threads: U64): { sum: bigint; gpuMs: number };
  cudaGpuCopy(dst: U64, src: U64, length: U64): number;
  /** The kernels' PTX source. */
  cudaPtx(): string;
  cudaConstants: Readonly<Record<CudaConstantName, number>>;
}

// ---------------------------------------------------------------- amdgpu.cc, i915.cc, xe.cc, nouveau.cc

/** One uapi struct as the addon defines it: sizeof, and offsetof/sizeof of each field (C names). */
export interface DrmUapiLayout<F extends string> {
  /** The kernel's struct name, e.g. drm_amdgpu_gem_userptr. */
  name: string;
  size: number;
  offsets: Readonly<Record<F, number>>;
  /** A flexible array member (drm_xe_query_config.info) has size 0. */
  sizes: Readonly<Record<F, number>>;
}

/** A registration's GEM handle (non-zero) and the ioctl's time in ns. */
export interface DrmUserptrRaw {
  handle: number;
  ns: number;
}

export type AmdgpuConstantName =
  | 'AMDGPU_GEM_USERPTR_READONLY' | 'AMDGPU_GEM_USERPTR_ANONONLY' | 'AMDGPU_GEM_USERPTR_VALIDATE'
  | 'AMDGPU_GEM_USERPTR_REGISTER' | 'AMDGPU_GEM_USERPTR_FLAGS' | 'DRM_AMDGPU_GEM_USERPTR'
  | 'DRM_IOCTL_AMDGPU_GEM_USERPTR' | 'DRM_IOCTL_GEM_CLOSE';

export interface AmdgpuLayout {
  drm_amdgpu_gem_userptr: DrmUapiLayout<'addr' | 'size' | 'flags' | 'handle'>;
}

/** DRM_IOCTL_AMDGPU_GEM_USERPTR; address and size page aligned (ERR_INVALID_ARG_VALUE, ERR_OUT_OF_RANGE before the ioctl). */
export interface AmdgpuNative {
  amdgpu: {
    gemUserptr(fd: Fd, addr: U64, size: U64, flags: U64): DrmUserptrRaw;
    gemClose(fd: Fd, handle: U64): void;
    layout: Readonly<AmdgpuLayout>;
  };
  amdgpuConstants: Readonly<Record<AmdgpuConstantName, number>>;
}

export type I915ConstantName =
  | 'I915_USERPTR_READ_ONLY' | 'I915_USERPTR_PROBE' | 'I915_USERPTR_UNSYNCHRONIZED' | 'I915_PARAM_HAS_USERPTR_PROBE'
  | 'DRM_I915_GETPARAM' | 'DRM_I915_GEM_USERPTR' | 'DRM_IOCTL_I915_GETPARAM' | 'DRM_IOCTL_I915_GEM_USERPTR';

export interface I915Layout {
  drm_i915_gem_userptr: DrmUapiLayout<'user_ptr' | 'user_size' | 'flags' | 'handle'>;
  drm_i915_getparam: DrmUapiLayout<'param' | 'value'>;
}

export interface I915Native {
  i915: {
    gemUserptr(fd: Fd, userPtr: U64, userSize: U64, flags: U64): DrmUserptrRaw;
    gemClose(fd: Fd, handle: U64): void;
    /** DRM_IOCTL_I915_GETPARAM: the value, or EINVAL for a parameter the kernel does not know. */
    getParam(fd: Fd, param: I64): number;
    layout: Readonly<I915Layout>;
  };
  i915Constants: Readonly<Record<I915ConstantName, number>>;
}

export type XeConstantName =
  | 'DRM_XE_VM_CREATE_FLAG_SCRATCH_PAGE' | 'DRM_XE_VM_CREATE_FLAG_LR_MODE' | 'DRM_XE_VM_CREATE_FLAG_FAULT_MODE'
  | 'DRM_XE_VM_BIND_OP_MAP' | 'DRM_XE_VM_BIND_OP_UNMAP' | 'DRM_XE_VM_BIND_OP_MAP_USERPTR'
  | 'DRM_XE_VM_BIND_FLAG_READONLY' | 'DRM_XE_VM_BIND_FLAG_IMMEDIATE' | 'DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR'
  | 'DRM_XE_DEVICE_QUERY_CONFIG' | 'DRM_XE_QUERY_CONFIG_REV_AND_DEVICE_ID' | 'DRM_XE_QUERY_CONFIG_FLAGS'
  | 'DRM_XE_QUERY_CONFIG_FLAG_HAS_VRAM' | 'DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR'
  | 'DRM_XE_QUERY_CONFIG_MIN_ALIGNMENT' | 'DRM_XE_QUERY_CONFIG_VA_BITS'
  | 'DRM_XE_DEVICE_QUERY' | 'DRM_XE_VM_CREATE' | 'DRM_XE_VM_DESTROY' | 'DRM_XE_VM_BIND'
  | 'DRM_IOCTL_XE_DEVICE_QUERY' | 'DRM_IOCTL_XE_VM_CREATE' | 'DRM_IOCTL_XE_VM_DESTROY' | 'DRM_IOCTL_XE_VM_BIND';

export interface XeLayout {
  drm_xe_vm_create: DrmUapiLayout<'extensions' | 'flags' | 'vm_id' | 'reserved'>;
  drm_xe_vm_destroy: DrmUapiLayout<'vm_id' | 'pad' | 'reserved'>;
  drm_xe_vm_bind_op: DrmUapiLayout<
    'extensions' | 'obj' | 'pat_index' | 'pad' | 'obj_offset' | 'userptr' | 'cpu_addr_mirror_offset' | 'range' | 'addr'
    | 'op' | 'flags' | 'prefetch_mem_region_instance' | 'pad2' | 'reserved'>;
  drm_xe_vm_bind: DrmUapiLayout<
    'extensions' | 'vm_id' | 'exec_queue_id' | 'pad' | 'num_binds' | 'bind' | 'vector_of_binds' | 'pad2' | 'num_syncs'
    | 'syncs' | 'reserved'>;
  drm_xe_device_query: DrmUapiLayout<'extensions' | 'query' | 'size' | 'data' | 'reserved'>;
  drm_xe_query_config: DrmUapiLayout<'num_params' | 'pad' | 'info'>;
}

/** DRM_XE_DEVICE_QUERY_CONFIG's values (null where the kernel reports fewer). */
export interface XeConfigRaw {
  revAndDeviceId: bigint | null;
  flags: bigint | null;
  minAlignment: bigint | null;
  vaBits: bigint | null;
}

/** The bind functions return the DRM_IOCTL_XE_VM_BIND ioctl's time in ns. */
export interface XeNative {
  xe: {
    vmCreate(fd: Fd, flags: U64): number;
    vmDestroy(fd: Fd, vmId: U64): void;
    bindUserptr(fd: Fd, vmId: U64, gpuAddr: U64, userptr: U64, range: U64, flags: U64, patIndex: U64): number;
    /** DRM_XE_VM_BIND_OP_MAP with DRM_XE_VM_BIND_FLAG_CPU_ADDR_MIRROR added to flags. */
    bindCpuAddrMirror(fd: Fd, vmId: U64, addr: U64, range: U64, flags: U64, patIndex: U64): number;
    unbind(fd: Fd, vmId: U64, gpuAddr: U64, range: U64): number;
    queryConfig(fd: Fd): XeConfigRaw;
    layout: Readonly<XeLayout>;
  };
  xeConstants: Readonly<Record<XeConstantName, number>>;
}

export type NouveauConstantName =
  | 'NOUVEAU_SVM_BIND_COMMAND_SHIFT' | 'NOUVEAU_SVM_BIND_PRIORITY_SHIFT' | 'NOUVEAU_SVM_BIND_TARGET_SHIFT'
  | 'NOUVEAU_SVM_BIND_COMMAND__MIGRATE' | 'NOUVEAU_SVM_BIND_TARGET__GPU_VRAM' | 'NOUVEAU_SVM_BIND_VALID_BITS'
  | 'DRM_NOUVEAU_SVM_INIT' | 'DRM_NOUVEAU_SVM_BIND' | 'DRM_IOCTL_NOUVEAU_SVM_INIT' | 'DRM_IOCTL_NOUVEAU_SVM_BIND';

export interface NouveauLayout {
  drm_nouveau_svm_init: DrmUapiLayout<'unmanaged_addr' | 'unmanaged_size'>;
  drm_nouveau_svm_bind: DrmUapiLayout<'header' | 'va_start' | 'va_end' | 'npages' | 'stride' | 'result' | 'reserved0' | 'reserved1'>;
}

export interface NouveauNative {
  nouveau: {
    /** DRM_IOCTL_NOUVEAU_SVM_INIT; ns. */
    svmInit(fd: Fd, unmanagedAddr: U64, unmanagedSize: U64): number;
    /** DRM_IOCTL_NOUVEAU_SVM_BIND MIGRATE to GPU_VRAM; result: the driver's status (0 or -errno). */
    svmMigrateToVram(fd: Fd, addr: U64, length: U64): { result: number; ns: number };
    layout: Readonly<NouveauLayout>;
  };
  nouveauConstants: Readonly<Record<NouveauConstantName, number>>;
}

// ---------------------------------------------------------------- addon.cc

export interface ClockNative {
  /** clock_settime(CLOCK_REALTIME): the guest agent's wall clock after a restore (needs CAP_SYS_TIME). */
  setRealtimeClock(sec: I64, nsec: I64): void;
}

/** Everything the addon exports. */
export type Native = MmNative & ForkChildNative & PagemapNative & UserfaultfdNative &
  ThreadAccessNative & FaultTimingNative & DrmNative & KvmNative & MirrordrmNative & FakevramNative & CudaNative &
  AmdgpuNative & I915Native & XeNative & NouveauNative & ClockNative;
