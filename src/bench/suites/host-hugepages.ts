// host-hugepages: what a fault costs at each page size on this machine's
// kernel, against the physical limit measured in the same run.
//
//   backings   anonymous 4 KiB (MADV_NOHUGEPAGE), anonymous THP (MADV_HUGEPAGE,
//              2 MiB aligned), shmem THP (a fresh memfd per run, shmem_enabled
//              'advise' for the run + MADV_HUGEPAGE), hugetlb 2 MiB and 1 GiB
//              (pool pages reserved for the case and given back after)
//   methods    touch: the native fault_timing loop, one write per page, one
//              latency sample per fault; populate: one MADV_POPULATE_WRITE per
//              region (latency reported per page). Fault-in rate: page size
//              over each fault's latency (touch), region over the call
//              (populate); for touch also the region over the loop's wall
//              time, which holds whatever ran between faults (preemption on a
//              loaded machine)
//   collapse   MADV_COLLAPSE of a 2 MiB-aligned region populated with 4 KiB pages
//   limit      memory-clearing bandwidth into memory that is already populated,
//              timed in native code: memset of the whole range per call (the
//              limit the targets compare with), memset per 2 MiB, and on
//              x86-64 rep stosb whole and per 4 KiB (as clear_page_erms)
//
// Every run maps a fresh region, and after every run the page state says
// what the kernel really did: PAGEMAP_SCAN PAGE_IS_HUGE and kpageflags per
// page, AnonHugePages / ShmemPmdMapped / Hugetlb from smaps. A "THP" run whose
// pages were not PMD-mapped is labelled so (observed.pmdMapped = false) and its
// comparison carries no target. Fault counts per run come from the fault
// loop (perf software counters for touch, getrusage for MADV_POPULATE_WRITE,
// which faults through GUP) and are checked against one fault per page.
import fs from 'node:fs';
import { native } from '../../addon.js';
import { shapeResult, type FaultSource } from '../../faults/index.js';
import { repeatUntilStable, roundRatio, toMeasurement } from '../../measure/repeat.js';
import { reserveHugePages, setShmemThp, thpSettings, type HugeReservation } from '../../memory/index.js';
import { pageSummary, type PageSummary } from '../../pagestate/index.js';
import type { Comparison, Measurement, ParamValue } from '../../report/results.js';
import { summarize } from '../../stats/summary.js';
import type { Suite, SuiteContext } from '../suite.js';
import { deriveResult, errorMessage, gibPerS, infoResult, repeatRecorded, sizeWanted, type SizeName } from './common.js';

const C = native.mmConstants;
const PAGE: number = C.PAGE_SIZE;
const M2 = 2 << 20;
const G1 = 1 << 30;
const MiB = 1 << 20;

type Kind = 'base' | 'thp' | 'shmem' | 'hugetlb';
export type HugepageCaseId = 'anon-4K' | 'thp' | 'shmem-thp' | 'hugetlb-2M' | 'hugetlb-1G';
export type HugepageMethod = 'touch' | 'populate';

interface FaultCase {
  id: HugepageCaseId;
  title: string;
  size: SizeName;
  kind: Kind;
  pageSize: number;
  quickLength: number;
  length: number;
  /** Target for (fault-in rate / clearing bandwidth), where issue 5 sets one. */
  target?: number;
}

export const HUGEPAGE_CASES: readonly FaultCase[] = [
  { id: 'anon-4K', title: 'anonymous 4 KiB (MADV_NOHUGEPAGE)', size: '4K', kind: 'base', pageSize: PAGE, quickLength: 2 * MiB, length: 16 * MiB },
  { id: 'thp', title: 'anonymous THP (MADV_HUGEPAGE, 2 MiB aligned)', size: '2M', kind: 'thp', pageSize: M2, quickLength: 8 * MiB, length: 64 * MiB, target: 0.7 },
  { id: 'shmem-thp', title: 'shmem THP (memfd, MADV_HUGEPAGE)', size: '2M', kind: 'shmem', pageSize: M2, quickLength: 8 * MiB, length: 64 * MiB },
  { id: 'hugetlb-2M', title: 'hugetlb 2 MiB', size: '2M', kind: 'hugetlb', pageSize: M2, quickLength: 8 * MiB, length: 64 * MiB },
  { id: 'hugetlb-1G', title: 'hugetlb 1 GiB', size: '1G', kind: 'hugetlb', pageSize: G1, quickLength: G1, length: G1, target: 0.7 },
];
export const HUGEPAGE_METHODS: readonly HugepageMethod[] = ['touch', 'populate'];

const METHOD_TITLE: Record<HugepageMethod, string> = { touch: 'touch faults (one write per page)', populate: 'MADV_POPULATE_WRITE' };
/** Fresh regions faulted in per round (each is one run with its own page-state check). */
const RUNS_PER_ROUND = { quick: 1, full: 3 };
const CLEAR_LENGTH = { quick: 128 * MiB, full: 256 * MiB };

/**
 * The clearing variants, all into the same populated 2 MiB-aligned region:
 * the whole range per call (the C library and the CPU pick their fastest
 * streaming stores: the physical limit the targets use), and chunks of the
 * sizes the fault path clears at (a 2 MiB huge page; 4 KiB, as
 * clear_page_erms clears each subpage), one sample per chunk.
 */
interface ClearVariant {
  id: string;
  method: 0 | 1;
  chunk: number;
  passes: number;
  title: string;
}
const CLEAR_VARIANTS: readonly ClearVariant[] = [
  { id: 'clear/memset', method: 0, chunk: 0, passes: 4, title: 'memory-clearing bandwidth: memset(0) of the whole populated range per call (the limit)' },
  { id: 'clear/memset-2M', method: 0, chunk: 2 * MiB, passes: 1, title: 'memory-clearing bandwidth: memset(0) per 2 MiB chunk of the populated range' },
  { id: 'clear/rep-stosb', method: 1, chunk: 0, passes: 4, title: 'memory-clearing bandwidth: rep stosb of the whole populated range per call' },
  { id: 'clear/rep-stosb-4K', method: 1, chunk: 4096, passes: 1, title: 'memory-clearing bandwidth: rep stosb per 4 KiB (as clear_page_erms)' },
];
const COLLAPSE_LENGTH = { quick: 4 * MiB, full: 32 * MiB };
const HAVE_STOSB = process.arch === 'x64';
const clearVariants = (): ClearVariant[] => CLEAR_VARIANTS.filter((v) => v.method === 0 || HAVE_STOSB);

/** What the page state said after one run. */
interface PageVerdict {
  /** The pages were what the case claims (huge-mapped for THP and hugetlb, 4 KiB only for the base case). */
  ok: boolean;
  /** Bytes mapped by huge entries, by PAGEMAP_SCAN (undefined without it). */
  scanHugeBytes?: number;
  /** The smaps figure for the kind (AnonHugePages, ShmemPmdMapped, Hugetlb), bytes; undefined when the VMA is shared with neighbours. */
  smapsHugeBytes?: number;
  presentBytes: number;
  detail: string;
}

function verdict(c: FaultCase, length: number, s: PageSummary): PageVerdict {
  const smapsExact = s.smaps.exact && s.smaps.vmas === 1;
  const presentBytes = s.present * PAGE;
  let scan: number | undefined;
  let sm: number | undefined;
  let name: string;
  switch (c.kind) {
    case 'base':
    case 'thp':
      scan = s.pmdMappedBytes;
      sm = smapsExact ? s.smaps.anonHugePagesKb * 1024 : undefined;
      name = 'AnonHugePages';
      break;
    case 'shmem':
      scan = s.pmdMappedBytes;
      sm = smapsExact ? s.smaps.shmemPmdMappedKb * 1024 : undefined;
      name = 'ShmemPmdMapped';
      break;
    case 'hugetlb':
      scan = s.scanHuge === undefined ? undefined : s.scanHuge * PAGE;
      sm = smapsExact ? s.smaps.hugetlbKb * 1024 : undefined;
      name = 'Private_Hugetlb + Shared_Hugetlb';
      break;
  }
  const kpf = c.kind === 'hugetlb' && s.hugetlb !== undefined ? s.hugetlb * PAGE : undefined;
  const want = c.kind === 'base' ? 0 : length;
  const sources = [scan, sm, kpf].filter((v): v is number => v !== undefined);
  const ok = presentBytes === length && sources.length > 0 && sources.every((v) => v === want);
  const parts = [`present ${presentBytes / 1024} of ${length / 1024} kB`];
  if (scan !== undefined) parts.push(`PAGEMAP_SCAN huge ${scan / 1024} kB`);
  else parts.push(`no PAGEMAP_SCAN (errno ${s.pagemapScanErrno})`);
  if (kpf !== undefined) parts.push(`kpageflags HUGE ${kpf / 1024} kB`);
  parts.push(sm !== undefined ? `smaps ${name} ${sm / 1024} kB` : `smaps not exact (${s.smaps.vmas} VMAs)`);
  return { ok, scanHugeBytes: scan, smapsHugeBytes: sm, presentBytes, detail: parts.join(', ') };
}

interface RunInfo {
  /** Wall time of the whole run: the touch loop, or the one madvise call. */
  totalNs: number;
  faults: number;
  faultSource: FaultSource['used'];
  page: PageVerdict;
}

function mappingFor(c: FaultCase): { flags: number; madvise: number[]; align: number } {
  const anon = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
  switch (c.kind) {
    case 'base':
      return { flags: anon, madvise: [C.MADV_NOHUGEPAGE], align: 0 };
    case 'thp':
      return { flags: anon, madvise: [C.MADV_HUGEPAGE], align: M2 };
    case 'shmem':
      // The kernel aligns a shmem mapping to the PMD size itself when shmem may use huge pages.
      return { flags: C.MAP_SHARED, madvise: [C.MADV_HUGEPAGE], align: 0 };
    case 'hugetlb':
      return { flags: anon | C.MAP_HUGETLB | (Math.log2(c.pageSize) << C.MAP_HUGE_SHIFT), madvise: [], align: 0 };
  }
}

/** One run: a fresh region faulted in natively, its page state read, unmapped. */
export function faultRun(c: FaultCase, method: HugepageMethod, length: number): { samples: number[]; info: RunInfo } {
  const m = mappingFor(c);
  let fd = -1;
  if (c.kind === 'shmem') {
    fd = native.memfdCreate('mirrorlab-bench-shmem', C.MFD_CLOEXEC);
  }
  try {
    if (fd >= 0) fs.ftruncateSync(fd, length);
    const mode = method === 'touch' ? 0 : 1;
    const raw = native.faultRun({
      length, stride: c.pageSize, write: true, repetitions: 1, prot: C.PROT_READ | C.PROT_WRITE,
      flags: m.flags, fd, offset: 0, align: m.align, madvise: m.madvise, mode, keepLast: true, perf: true,
    });
    const run = shapeResult(raw, { access: 'write', method: method === 'touch' ? 'touch' : 'populate-write', length, stride: c.pageSize });
    const address = raw.keptAddress!; // keepLast: the mapping outlives the run
    let state: PageSummary;
    try {
      state = pageSummary({ address, length });
    } finally {
      native.munmap(address, length);
    }
    const rep = run.reps[0];
    const pages = length / c.pageSize;
    // populate: one madvise call per region, reported per page
    const samples = method === 'touch' ? Array.from(rep.samples) : [rep.samples[0] / pages];
    return { samples, info: { totalNs: method === 'touch' ? rep.totalNs : rep.samples[0], faults: rep.faults, faultSource: run.faultSource.used, page: verdict(c, length, state) } };
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

function mapAligned(length: number, align: number): bigint {
  const raw = native.mmap(0n, length + align, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
  const a = (raw + BigInt(align - 1)) & ~BigInt(align - 1);
  const head = Number(a - raw);
  if (head) native.munmap(raw, head);
  if (align - head) native.munmap(a + BigInt(length), align - head);
  return a;
}

const distinct = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(', ');
const distinctText = (xs: string[]) => [...new Set(xs)].join(', ');

/** The per-case skip conditions and machine-wide settings a case needs for its runs. */
interface Prepared {
  skip?: string;
  /** The settings found or made for the case (THP modes, pool sizes): observations, not parameters. */
  observed: Record<string, ParamValue>;
  release(): void;
}

function prepare(c: FaultCase, length: number): Prepared {
  const none = () => {};
  const thp = thpSettings();
  switch (c.kind) {
    case 'base':
      return { observed: {}, release: none };
    case 'thp':
      if (!thp.enabled) return { skip: 'no /sys/kernel/mm/transparent_hugepage/enabled: THP not built in', observed: {}, release: none };
      if (thp.enabled === 'never') return { skip: 'transparent_hugepage/enabled is never: MADV_HUGEPAGE cannot give THPs', observed: {}, release: none };
      return { observed: { thpEnabled: thp.enabled, thpDefrag: thp.defrag ?? 'unknown' }, release: none };
    case 'shmem': {
      if (!thp.shmemEnabled) return { skip: 'no transparent_hugepage/shmem_enabled: shmem THP not built in', observed: {}, release: none };
      const usable = ['always', 'within_size', 'advise', 'force'].includes(thp.shmemEnabled);
      if (usable) return { observed: { shmemEnabled: thp.shmemEnabled, shmemEnabledSetByRun: false }, release: none };
      try {
        const setting = setShmemThp('advise');
        return { observed: { shmemEnabled: 'advise', shmemEnabledBefore: thp.shmemEnabled, shmemEnabledSetByRun: true }, release: () => setting[Symbol.dispose]() };
      } catch (e) {
        return { skip: `shmem_enabled is ${thp.shmemEnabled} and cannot be set to advise: ${errorMessage(e)}`, observed: {}, release: none };
      }
    }
    case 'hugetlb': {
      const size = c.pageSize === G1 ? '1G' : '2M';
      const count = length / c.pageSize;
      let r: HugeReservation;
      try {
        r = reserveHugePages(size, count);
      } catch (e) {
        return { skip: `cannot reserve ${count} hugetlb ${size} page${count > 1 ? 's' : ''}: ${errorMessage(e)}`, observed: {}, release: none };
      }
      return { observed: { poolPagesAdded: r.added, poolBefore: r.previous }, release: () => r.release() };
    }
  }
}

function faultCountName(c: FaultCase, method: HugepageMethod, expected: number): string {
  return `${c.id} ${method}: ${expected} fault${expected > 1 ? 's' : ''} per run (one per ${c.pageSize >= G1 ? '1 GiB' : c.pageSize >= M2 ? '2 MiB' : '4 KiB'} page)`;
}

function pageClaim(c: FaultCase): string {
  switch (c.kind) {
    case 'base':
      return 'all 4 KiB pages, none PMD-mapped';
    case 'thp':
      return 'every 2 MiB PMD-mapped (PAGEMAP_SCAN huge, AnonHugePages)';
    case 'shmem':
      return 'every 2 MiB PMD-mapped (PAGEMAP_SCAN huge, ShmemPmdMapped)';
    case 'hugetlb':
      return `every page hugetlb ${c.pageSize >= G1 ? '1 GiB' : '2 MiB'} (PAGEMAP_SCAN huge, kpageflags HUGE, smaps Hugetlb)`;
  }
}

async function measureCase(ctx: SuiteContext, c: FaultCase, method: HugepageMethod, length: number, settings: Record<string, ParamValue>): Promise<{ latency: Measurement; rate: Measurement; wall: Measurement | null; verified: boolean }> {
  const runs = ctx.quick ? RUNS_PER_ROUND.quick : RUNS_PER_ROUND.full;
  const rec = await repeatRecorded(() => {
    const out = Array.from({ length: runs }, () => faultRun(c, method, length));
    return { samples: out.flatMap((r) => r.samples), info: out.map((r) => r.info) };
  }, ctx.repeat);
  const infos = rec.rounds.flatMap((r) => r.info);
  const pages = length / c.pageSize;
  const faults = infos.map((i) => i.faults);
  const countsOk = faults.every((f) => f === pages);
  ctx.check({
    name: faultCountName(c, method, pages),
    status: countsOk ? 'pass' : 'fail',
    reason: `faults per run over ${faults.length} runs: ${distinct(faults)} (${distinctText(infos.map((i) => i.faultSource))})`,
  });
  const okRuns = infos.filter((i) => i.page.ok).length;
  const verified = okRuns === infos.length;
  ctx.check({
    name: `${c.id} ${method}: page state: ${pageClaim(c)}`,
    status: verified ? 'pass' : 'fail',
    reason: `${okRuns} of ${infos.length} runs as claimed; last run: ${infos[infos.length - 1].page.detail}`,
  });
  const fs_ = summarize(faults);
  const params: Record<string, ParamValue> = {
    backing: c.id,
    method,
    pageSize: c.pageSize,
    length,
    pages,
    expectedFaults: pages,
    runsPerRound: runs,
  };
  // What the runs saw: reported beside the figures, not part of their identity
  // (compare still matches a run where one repetition did not verify).
  const observed: Record<string, ParamValue> = {
    ...settings,
    faultsMedian: fs_.median,
    faultsMin: fs_.min,
    faultsMax: fs_.max,
    faultSource: infos[0].faultSource,
    verifiedRuns: `${okRuns}/${infos.length}`,
  };
  if (c.kind === 'thp' || c.kind === 'shmem') observed.pmdMapped = verified;
  if (c.kind === 'hugetlb') observed.hugetlbMapped = verified;
  if (c.kind === 'base') observed.pmdMapped = infos.some((i) => (i.page.scanHugeBytes ?? 0) > 0);
  const last = infos[infos.length - 1].page;
  if (last.scanHugeBytes !== undefined) observed.hugeBytesLastRun = last.scanHugeBytes;
  if (last.smapsHugeBytes !== undefined) observed.smapsHugeBytesLastRun = last.smapsHugeBytes;
  const label = verified || c.kind === 'base' ? '' : ' [pages NOT huge-mapped]';
  const perWhat = method === 'touch' ? 'per fault' : 'per page (one call per region)';
  const latency = toMeasurement(
    { id: `fault/${c.id}/${method}`, title: `${c.title}, ${METHOD_TITLE[method]}: ns ${perWhat}${label}`, unit: 'ns', better: 'lower', params, observed },
    rec.result,
  );
  const rate = toMeasurement(
    {
      id: `rate/${c.id}/${method}`,
      title: `${c.title}, ${METHOD_TITLE[method]}: fault-in rate, ${method === 'touch' ? 'page size / fault latency' : 'region / madvise call'}${label}`,
      unit: 'GiB/s',
      better: 'higher',
      params,
      observed,
    },
    deriveResult(rec, (ns) => gibPerS(c.pageSize, ns)),
  );
  // The touch loop's wall time also holds what happens between faults
  // (preemption on a loaded machine, the loop itself): the end-to-end figure.
  // With one page per region it is the fault itself, already reported.
  const wall =
    method === 'touch' && pages > 1
      ? toMeasurement(
          { id: `rate-wall/${c.id}/${method}`, title: `${c.title}, ${METHOD_TITLE[method]}: region / wall time of the whole loop${label}`, unit: 'GiB/s', better: 'higher', params, observed },
          infoResult(rec, (round) => round.map((i) => gibPerS(length, i.totalNs))),
        )
      : null;
  return { latency, rate, wall, verified };
}

async function measureClear(ctx: SuiteContext, v: ClearVariant): Promise<Measurement> {
  const length = ctx.quick ? CLEAR_LENGTH.quick : CLEAR_LENGTH.full;
  const address = mapAligned(length, M2);
  try {
    const thp = thpSettings().enabled;
    if (thp && thp !== 'never') native.madvise(address, length, C.MADV_HUGEPAGE);
    native.madvise(address, length, C.MADV_POPULATE_WRITE);
    const state = pageSummary({ address, length });
    const bytes = v.chunk || length;
    const r = await repeatUntilStable(
      () => Array.from(native.clearTiming(address, length, v.passes, v.method, v.chunk), (ns) => gibPerS(bytes, ns)),
      ctx.repeat,
    );
    return toMeasurement(
      {
        id: v.id,
        title: v.title,
        unit: 'GiB/s',
        better: 'higher',
        params: {
          method: v.method === 0 ? 'memset' : 'rep stosb', length, bytesPerSample: bytes, passesPerRound: v.passes,
        },
        observed: { pmdMappedBytes: state.pmdMappedBytes ?? -1, present: state.present * PAGE },
      },
      r,
    );
  } finally {
    native.munmap(address, length);
  }
}

interface CollapseInfo {
  before: PageSummary;
  after: PageSummary;
}

async function measureCollapse(ctx: SuiteContext): Promise<Measurement | null> {
  const length = ctx.quick ? COLLAPSE_LENGTH.quick : COLLAPSE_LENGTH.full;
  const regions = length / M2;
  const round = () => {
    const address = mapAligned(length, M2);
    try {
      native.madvise(address, length, C.MADV_NOHUGEPAGE);
      native.madvise(address, length, C.MADV_POPULATE_WRITE);
      const before = pageSummary({ address, length });
      // MADV_COLLAPSE refuses VM_NOHUGEPAGE; MADV_HUGEPAGE clears it without touching the pages.
      native.madvise(address, length, C.MADV_HUGEPAGE);
      const ns = native.timedMadvise(address, length, C.MADV_COLLAPSE);
      const after = pageSummary({ address, length });
      return { samples: [ns / regions], info: { before, after } as CollapseInfo };
    } finally {
      native.munmap(address, length);
    }
  };
  let rec;
  try {
    rec = await repeatRecorded(round, ctx.repeat);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'EINVAL') {
      ctx.check({ name: 'MADV_COLLAPSE', status: 'skip', reason: `this kernel refuses MADV_COLLAPSE: ${errorMessage(e)}` });
      return null;
    }
    throw e;
  }
  const infos = rec.rounds.map((r) => r.info);
  const good = infos.filter((i) => i.before.present === length / PAGE && (i.before.pmdMapped ?? 0) === 0 && i.after.pmdMappedBytes === length).length;
  const last = infos[infos.length - 1];
  ctx.check({
    name: 'MADV_COLLAPSE: 4 KiB pages before, every 2 MiB PMD-mapped after',
    status: good === infos.length ? 'pass' : 'fail',
    reason: `${good} of ${infos.length} runs; last run: before present ${last.before.present * 4} kB, PMD-mapped ${(last.before.pmdMappedBytes ?? 0) / 1024} kB; after PMD-mapped ${(last.after.pmdMappedBytes ?? 0) / 1024} kB, AnonHugePages ${last.after.smaps.anonHugePagesKb} kB`,
  });
  return toMeasurement(
    {
      id: 'collapse/thp',
      title: 'MADV_COLLAPSE of a 4 KiB-populated 2 MiB-aligned region: ns per 2 MiB',
      unit: 'ns',
      better: 'lower',
      params: { length, regions },
      observed: { pmdMapped: good === infos.length, verifiedRuns: `${good}/${infos.length}` },
    },
    rec.result,
  );
}

function wantedCases(ctx: Pick<SuiteContext, 'sizes'>): FaultCase[] {
  return HUGEPAGE_CASES.filter((c) => sizeWanted(ctx, c.size));
}

export const hostHugepagesSuite: Suite = {
  id: 'host/hugepages',
  title: 'Host huge pages: fault cost at 4 KiB, THP, shmem THP, hugetlb 2 MiB / 1 GiB against the clearing bandwidth',
  environment: 'host',
  async unsupported() {
    if (process.platform !== 'linux') return `Linux only (this is ${process.platform})`;
    return null;
  },
  steps(ctx) {
    const cases = wantedCases(ctx);
    if (!cases.length) return 0;
    return clearVariants().length + cases.length * HUGEPAGE_METHODS.length + (sizeWanted(ctx, '2M') ? 1 : 0);
  },
  async run(ctx) {
    const cases = wantedCases(ctx);
    if (!cases.length) {
      ctx.check({ name: 'host/hugepages', status: 'skip', reason: `no case for --size ${ctx.sizes.join(',')} (cases: 4K, 2M, 1G)` });
      return;
    }
    // The physical limit first, in the same run as the faults it bounds.
    const clears: Measurement[] = [];
    for (const v of clearVariants()) {
      if (ctx.signal.aborted) return;
      const m = await measureClear(ctx, v);
      ctx.measurement(m);
      clears.push(m);
      ctx.step(v.id);
    }
    const clear = clears[0];
    const clear2M = clears.find((m) => m.id === 'clear/memset-2M')!;
    ctx.check({
      name: 'memory-clearing bandwidth measured',
      status: clears.every((m) => m.warm.median > 0) ? 'pass' : 'fail',
      reason: clears.map((m) => `${m.id} median ${m.warm.median.toFixed(2)} GiB/s`).join(', '),
    });
    const bars = clears.map((m) => m.id);

    for (const c of cases) {
      if (ctx.signal.aborted) return;
      const length = ctx.quick ? c.quickLength : c.length;
      const prep = prepare(c, length);
      if (prep.skip) {
        ctx.check({ name: `${c.id}: ${c.title}`, status: 'skip', reason: prep.skip });
        for (const m of HUGEPAGE_METHODS) ctx.step(`${c.id} ${m} skipped`);
        continue;
      }
      try {
        for (const method of HUGEPAGE_METHODS) {
          if (ctx.signal.aborted) return;
          let r;
          try {
            r = await measureCase(ctx, c, method, length, prep.observed);
          } catch (e) {
            ctx.check({ name: `${c.id} ${method}: measured`, status: 'fail', reason: errorMessage(e) });
            ctx.step(`${c.id} ${method} failed`);
            continue;
          }
          ctx.measurement(r.latency);
          ctx.measurement(r.rate);
          if (r.wall) ctx.measurement(r.wall);
          bars.push(r.rate.id);
          if (method === 'touch') ctx.plot({ kind: 'histogram', title: `${c.title}: touch fault latency`, measurement: r.latency.id });
          const ratio = roundRatio(r.rate, clear);
          const cmp: Comparison = {
            id: `fraction-of-clear/${c.id}/${method}`,
            title:
              c.kind === 'base' || r.verified
                ? `${c.title}, ${METHOD_TITLE[method]}: fault-in rate / memset clearing bandwidth`
                : `${c.title}, ${METHOD_TITLE[method]}: fault-in rate / memset clearing bandwidth (pages NOT huge-mapped: not a huge-page figure, no target)`,
            a: r.rate.id,
            b: clear.id,
            ratio,
          };
          if (c.target !== undefined && r.verified) cmp.target = { op: '>=', value: c.target, met: ratio.median >= c.target };
          ctx.comparison(cmp);
          if (r.wall)
            ctx.comparison({
              id: `wall-fraction-of-clear/${c.id}/${method}`,
              title: `${c.title}, ${METHOD_TITLE[method]}: region / loop wall time, over the memset clearing bandwidth${r.verified || c.kind === 'base' ? '' : ' (pages NOT huge-mapped)'}`,
              a: r.wall.id,
              b: clear.id,
              ratio: roundRatio(r.wall, clear),
            });
          if (c.kind !== 'base' && method === 'touch')
            ctx.comparison({
              id: `fraction-of-clear-2M/${c.id}/${method}`,
              title: `${c.title}, ${METHOD_TITLE[method]}: fault-in rate / memset per 2 MiB chunk${r.verified ? '' : ' (pages NOT huge-mapped)'}`,
              a: r.rate.id,
              b: clear2M.id,
              ratio: roundRatio(r.rate, clear2M),
            });
          ctx.step(`${c.id} ${method}`);
        }
      } finally {
        prep.release();
      }
    }

    if (sizeWanted(ctx, '2M') && !ctx.signal.aborted) {
      try {
        const m = await measureCollapse(ctx);
        if (m) ctx.measurement(m);
      } catch (e) {
        ctx.check({ name: 'MADV_COLLAPSE: measured', status: 'fail', reason: errorMessage(e) });
      }
      ctx.step('MADV_COLLAPSE');
    }
    ctx.plot({ kind: 'bars', title: 'Fault-in rate against the memory-clearing bandwidth (GiB/s)', label: 'backing / method', measurements: bars });
  },
};
