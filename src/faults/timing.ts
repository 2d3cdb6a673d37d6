// Native fault timing: per-touch latency samples and fault counts from a C++
// loop (native/fault_timing.cc). JavaScript only describes the run; the
// mapping, the madvise calls and the timed loop happen natively, a fresh
// mapping per repetition, so every repetition is a real first touch.
import { native } from '../addon.js';
import type { FaultCounts, FaultRunRaw, PerfStatus } from '../native.js';
import { invalidArg, invalidType, outOfRange } from '../errors.js';
import { summarize, type Summary } from '../stats/index.js';
import { Mapping, PAGE_SIZE } from '../memory/index.js';
import { checkAccessible } from '../memory/address-space.js';

// touchRange keeps one sample per touch: bound the count before allocating.
const MAX_TOUCHES = 1 << 26;

export type Access = 'read' | 'write';

/** Backings with a preset mapping spec (see backingSpec). */
export type FaultBacking = '4K' | 'thp' | 'hugetlb-2M' | 'hugetlb-1G' | 'shared';

/** How a fresh region is created natively before each repetition. */
export interface MappingSpec {
  /** Region length in bytes (a multiple of the base page size, or of the huge page size for hugetlb). */
  length: number;
  /** PROT_* bits; default PROT_READ | PROT_WRITE. */
  prot?: number;
  /** MAP_* bits; default MAP_PRIVATE | MAP_ANONYMOUS. */
  flags?: number;
  /** madvise advices applied to the whole region, in order, before the loop. */
  madvise?: number[];
  /** Alignment of the region start (power of two; 0 = none). Done by over-allocating and trimming. */
  align?: number;
}

export interface FaultRunOptions extends MappingSpec {
  /** Bytes between touches; default: the base page size. */
  stride?: number;
  /** Default 'write'. */
  access?: Access;
  /** Fresh mappings to touch, one after the other; default 5. Repetition 0 is the cold one. */
  repetitions?: number;
  /** 'touch' (one access per stride, one sample each) or 'populate-write' (one
   * madvise(MADV_POPULATE_WRITE) per region, one sample per repetition). */
  method?: 'touch' | 'populate-write';
  /** Open perf_event page-fault counters (default true; falls back to getrusage). */
  perf?: boolean;
  /** Leave the last repetition's region mapped and return its address (the caller unmaps). */
  keepLast?: boolean;
}

export type { FaultCounts };

export interface FaultRep {
  address: bigint;
  /** One latency sample per touch, in ns (or one per region for populate-write). */
  samples: Float64Array;
  /** Wall time of the whole loop, ns. */
  totalNs: number;
  rusage: { minflt: number; majflt: number };
  perf: FaultCounts | null;
  /** Faults taken by the loop, from `faultSource.used`. */
  faults: number;
}

export type { PerfStatus };

export interface FaultSource {
  used: 'perf' | 'getrusage';
  /** Why this source and not the other one. */
  why: string;
}

export interface FaultRunResult {
  clock: 'CLOCK_MONOTONIC';
  access: Access;
  method: 'touch' | 'populate-write';
  length: number;
  stride: number;
  /** Samples per repetition. */
  touches: number;
  /** True when repetition 0 was the first timing loop of this process. */
  processFirst: boolean;
  perf: PerfStatus;
  faultSource: FaultSource;
  reps: FaultRep[];
  /** Repetition 0's samples: the cold first touch of this run. */
  cold: Summary;
  /** Repetitions 1..n-1 pooled (n = 0 when there was one repetition). */
  warm: Summary;
  /** The median of each warm repetition (median of medians = warmMedians.median). */
  warmMedians: Summary;
  /** Faults per repetition. */
  faults: Summary;
  keptAddress: bigint | null;
}

const c = native.mmConstants;
const HUGE_2M = 2 << 20;
const HUGE_1G = 1 << 30;

/** The mapping spec for a named backing. */
// '4k' is the spelling before sizes were written 4K/2M/1G everywhere; still accepted.
export function backingSpec(backing: FaultBacking | '4k', length: number): Required<MappingSpec> {
  const anon = c.MAP_PRIVATE | c.MAP_ANONYMOUS;
  const rw = c.PROT_READ | c.PROT_WRITE;
  switch (backing) {
    case '4K':
    case '4k':
      return { length, prot: rw, flags: anon, madvise: [c.MADV_NOHUGEPAGE], align: 0 };
    case 'shared':
      return { length, prot: rw, flags: c.MAP_SHARED | c.MAP_ANONYMOUS, madvise: [], align: 0 };
    case 'thp':
      return { length, prot: rw, flags: anon, madvise: [c.MADV_HUGEPAGE], align: HUGE_2M };
    case 'hugetlb-2M':
      return { length, prot: rw, flags: anon | c.MAP_HUGETLB | (21 << c.MAP_HUGE_SHIFT), madvise: [], align: 0 };
    case 'hugetlb-1G':
      return { length, prot: rw, flags: anon | c.MAP_HUGETLB | (30 << c.MAP_HUGE_SHIFT), madvise: [], align: 0 };
    default:
      throw invalidArg('backing', backing, "must be one of '4K', 'thp', 'hugetlb-2M', 'hugetlb-1G', 'shared'");
  }
}

/** The page size a backing maps with (the stride that makes every touch a fault). */
export function backingPageSize(backing: FaultBacking): number {
  return backing === 'thp' || backing === 'hugetlb-2M' ? HUGE_2M : backing === 'hugetlb-1G' ? HUGE_1G : PAGE_SIZE;
}

const knownRunKeys = new Set(['length', 'prot', 'flags', 'madvise', 'align', 'stride', 'access', 'repetitions', 'method', 'perf', 'keepLast']);

function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number') throw invalidType(name, v, 'of type number');
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, v, `an integer >= ${min} and <= ${max}`);
  return v;
}

function hugePageOf(flags: number): number {
  if (!(flags & c.MAP_HUGETLB)) return 0;
  const shift = (flags >>> c.MAP_HUGE_SHIFT) & 0x3f;
  return shift ? 2 ** shift : HUGE_2M;
}

/** Run the native fault loop on fresh mappings. */
export function runFaults(opts: FaultRunOptions): FaultRunResult {
  if (typeof opts !== 'object' || opts === null) throw invalidType('options', opts, 'an object');
  for (const k of Object.keys(opts)) if (!knownRunKeys.has(k)) throw invalidArg(`options.${k}`, (opts as any)[k], 'is not a known option');
  const length = checkInt('options.length', opts.length, 1);
  const flags = opts.flags === undefined ? c.MAP_PRIVATE | c.MAP_ANONYMOUS : checkInt('options.flags', opts.flags, 0, 0x7fffffff);
  const prot = opts.prot === undefined ? c.PROT_READ | c.PROT_WRITE : checkInt('options.prot', opts.prot, 0, 0xf);
  const huge = hugePageOf(flags);
  const unit = huge || PAGE_SIZE;
  if (length % unit) throw invalidArg('options.length', length, `must be a multiple of the page size (${unit})`);
  const stride = opts.stride === undefined ? PAGE_SIZE : checkInt('options.stride', opts.stride, 1);
  const repetitions = opts.repetitions === undefined ? 5 : checkInt('options.repetitions', opts.repetitions, 1, 1_000_000);
  const align = opts.align === undefined ? 0 : checkInt('options.align', opts.align, 0);
  if (align & (align - 1) || (align && align < PAGE_SIZE)) throw invalidArg('options.align', align, 'must be 0 or a power of two >= the page size');
  const access = opts.access ?? 'write';
  if (access !== 'read' && access !== 'write') throw invalidArg('options.access', access, "must be 'read' or 'write'");
  const method = opts.method ?? 'touch';
  if (method !== 'touch' && method !== 'populate-write') throw invalidArg('options.method', method, "must be 'touch' or 'populate-write'");
  const madvise = opts.madvise ?? [];
  if (!Array.isArray(madvise)) throw invalidType('options.madvise', madvise, 'an array of MADV_* numbers');
  madvise.forEach((a, i) => checkInt(`options.madvise[${i}]`, a, 0, 1000));
  if (method === 'populate-write' && !(prot & c.PROT_WRITE)) throw invalidArg('options.prot', prot, 'must include PROT_WRITE for populate-write');
  if (access === 'write' && !(prot & c.PROT_WRITE)) throw invalidArg('options.prot', prot, "must include PROT_WRITE for access 'write'");
  if (!(prot & (c.PROT_READ | c.PROT_WRITE))) throw invalidArg('options.prot', prot, 'must allow access');

  const raw = native.faultRun({
    length, stride, write: access === 'write', repetitions, prot, flags, align, madvise,
    mode: method === 'populate-write' ? 1 : 0, keepLast: !!opts.keepLast, perf: opts.perf ?? true,
  });
  return shapeResult(raw, { access, method, length, stride });
}

/** One timed pass over an existing range mapped by the caller: a Mapping (or
 * any { address, length }), or an address and a length. */
export function touchRange(range: { address: bigint; length: number }, opts?: TouchOptions): FaultRunResult;
export function touchRange(address: bigint, length: number, opts?: TouchOptions): FaultRunResult;
export function touchRange(a: bigint | { address: bigint; length: number }, b?: number | TouchOptions, c?: TouchOptions): FaultRunResult {
  let address: unknown, length: unknown, opts: TouchOptions;
  if (typeof a === 'object' && a !== null) {
    // An unmapped (or replaced) Mapping says so (ERR_INVALID_STATE) rather than being read as a hole.
    ({ address, length } = a instanceof Mapping ? a.range() : a);
    opts = (b as TouchOptions | undefined) ?? {};
  } else {
    address = a;
    length = b;
    opts = c ?? {};
  }
  if (typeof address !== 'bigint') throw invalidType('address', address, 'of type bigint');
  if (address % BigInt(PAGE_SIZE)) throw invalidArg('address', address, 'must be page aligned');
  checkInt('length', length, 1);
  const len = length as number;
  if (address + BigInt(len) > 2n ** 64n) throw outOfRange('length', len, 'such that address + length does not overflow');
  const stride = opts.stride === undefined ? PAGE_SIZE : checkInt('options.stride', opts.stride, 1);
  const access = opts.access ?? 'write';
  if (access !== 'read' && access !== 'write') throw invalidArg('options.access', access, "must be 'read' or 'write'");
  if (Math.ceil(len / stride) > MAX_TOUCHES)
    throw outOfRange('length', len, `at most ${MAX_TOUCHES} touches (length / stride); raise the stride or split the range`);
  // The loop loads or stores on this thread: a hole, or a page it may not
  // read (or write), would end the process with SIGSEGV.
  checkAccessible('address', address, len, access);
  const raw = native.faultTouch(address, len, stride, access === 'write', opts.perf ?? true);
  return shapeResult(raw, { access, method: 'touch', length: len, stride });
}

export interface TouchOptions {
  stride?: number;
  access?: Access;
  perf?: boolean;
}

export function faultSourceFor(perf: PerfStatus, method: 'touch' | 'populate-write'): FaultSource {
  if (method === 'populate-write')
    return {
      used: 'getrusage',
      why: 'MADV_POPULATE_WRITE faults pages in through GUP without a CPU fault: the kernel counts them in the task min_flt/maj_flt (getrusage) but raises no perf page-fault event',
    };
  if (perf.available)
    return {
      used: 'perf',
      why: `perf_event_open software counters (page-faults, minor, major${perf.excludeKernel ? ', exclude_kernel' : ''}) enabled around the loop only; getrusage(RUSAGE_THREAD) is reported beside them`,
    };
  if (perf.code === 'disabled')
    return { used: 'getrusage', why: 'perf counters not requested (perf: false); getrusage(RUSAGE_THREAD) deltas around the loop' };
  return {
    used: 'getrusage',
    why: `perf_event_open refused (${perf.code}${perf.message ? `: ${perf.message}` : ''}); getrusage(RUSAGE_THREAD) deltas around the loop`,
  };
}


/** Shape a native (or touch_ref) run: fault source, cold/warm split and summaries. */
export function shapeResult(raw: FaultRunRaw, how: { access: Access; method: 'touch' | 'populate-write'; length: number; stride: number }): FaultRunResult {
  const faultSource = faultSourceFor(raw.perf, how.method);
  const reps: FaultRep[] = raw.reps.map((r) => ({
    ...r,
    faults: faultSource.used === 'perf' && r.perf ? r.perf.pageFaults : r.rusage.minflt + r.rusage.majflt,
  }));
  const warmReps = reps.slice(1);
  let warmN = 0;
  for (const r of warmReps) warmN += r.samples.length;
  const warm = new Float64Array(warmN);
  let o = 0;
  for (const r of warmReps) {
    warm.set(r.samples, o);
    o += r.samples.length;
  }
  return {
    clock: raw.clock,
    access: how.access,
    method: how.method,
    length: how.length,
    stride: how.stride,
    touches: reps[0]?.samples.length ?? 0,
    processFirst: raw.processFirst,
    perf: raw.perf,
    faultSource,
    reps,
    cold: summarize(reps[0]?.samples ?? []),
    warm: summarize(warm),
    warmMedians: summarize(warmReps.map((r) => summarize(r.samples).median)),
    faults: summarize(reps.map((r) => r.faults)),
    keptAddress: raw.keptAddress,
  };
}

/** The floor under every sample: n back-to-back clock_gettime(CLOCK_MONOTONIC) pairs, ns. */
export function clockOverhead(n = 10_000): Summary {
  checkInt('n', n, 1, 10_000_000);
  return summarize(native.clockOverhead(n));
}
