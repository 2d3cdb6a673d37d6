// gpu/cuda: what a real NVIDIA GPU costs the kernel's memory paths behind
// cuMemHostRegister (pinned user pages) and HMM (pageable memory mirrored by
// nvidia-uvm), measured against device and managed memory in the same run.
//
//   registration   cuMemHostRegister + cuMemHostUnregister of populated
//                  4 KiB and THP memory, ns per 4 KiB of range, 64 KiB .. 1 GiB
//   bandwidth      GPU read (xor kernel, checked against the xor the CPU
//                  wrote) and write (fill kernel, spot-checked) in GiB/s by
//                  CUDA events: device, managed (prefetched), pinned and HMM on
//                  4 KiB / THP / hugetlb 2 MiB host pages
//   munmap, mprotect   the CPU's cost for a range the GPU has seen (pinned,
//                  HMM after a GPU read) against the same range never seen
//   cpu-after-gpu  one CPU write per page after a GPU access (HMM: pages
//                  the GPU read, which may have migrated; managed: after a GPU
//                  write) against a range the GPU never touched / prefetched back
//   first-touch    HMM GPU faults: one byte per page by 1 thread (the latency
//                  of one fault) and by many (the throughput), on
//                  CPU-populated and never-touched memory
//
// The machine this runs on has the GPU for minutes, so every part has a small
// budget, and the parts that can fault the GPU (HMM) run last: a GPU fault
// leaves the CUDA context unusable for the whole process. Every part catches
// its own errors and records them as failed checks; after an error the
// context is probed and, when it is gone, the rest is skipped with the reason.
import fs from 'node:fs';
import os from 'node:os';
import { native } from '../../addon.js';
import { CudaDevice, HOST_REGISTER, cudaAvailability, type CudaBuffer, type CudaDeviceInfo } from '../../gpu/cuda/device.js';
import { roundRatio, toMeasurement, type RepeatOptions } from '../../measure/repeat.js';
import { reserveHugePages, thpSettings, type HugeReservation } from '../../memory/index.js';
import { pageSummary } from '../../pagestate/index.js';
import type { Measurement, ParamValue, Plot } from '../../report/results.js';
import type { Suite, SuiteContext } from '../suite.js';
import { deriveResult, errorMessage, gibPerS, infoResult, repeatPaired, repeatRecorded, sizeWanted } from './common.js';

const C = native.mmConstants;
const PAGE: number = C.PAGE_SIZE;
const KiB = 1024;
const MiB = 1 << 20;
const GiB = 1 << 30;
const M2 = 2 * MiB;

export type HostPages = '4K' | 'thp' | 'hugetlb-2M';
const HOST_PAGES: readonly HostPages[] = ['4K', 'thp', 'hugetlb-2M'];
const PAGES_TITLE: Record<HostPages, string> = { '4K': '4 KiB pages (MADV_NOHUGEPAGE)', thp: 'THP (MADV_HUGEPAGE, 2 MiB aligned)', 'hugetlb-2M': 'hugetlb 2 MiB' };
const pagesWanted = (ctx: Pick<SuiteContext, 'sizes'>, p: HostPages) => sizeWanted(ctx, p === '4K' ? '4K' : '2M');

/** Registration sizes; --quick stops at 64 MiB. */
export const REGISTER_SIZES = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, GiB];
const registerSizes = (quick: boolean) => REGISTER_SIZES.filter((s) => !quick || s <= 64 * MiB);
const REGISTER_PAGES: readonly HostPages[] = ['4K', 'thp'];

const BANDWIDTH_LENGTH = { quick: 64 * MiB, full: 256 * MiB };
/** Kernel launches per round: each one sample. */
const BANDWIDTH_PASSES = 3;
const OP_LENGTH = { quick: 16 * MiB, full: 64 * MiB };
const CPU_TOUCH_LENGTH = { quick: 16 * MiB, full: 64 * MiB };
/** 1 thread: one GPU fault at a time, so a few thousand pages already take tens of ms. */
const FIRST_TOUCH_SERIAL = { quick: 2 * MiB, full: 8 * MiB };
const FIRST_TOUCH_PARALLEL = { quick: 16 * MiB, full: 64 * MiB };
/** "Many threads": one per page (the launcher caps the grid at 16 blocks per SM). */
const MANY_THREADS = 1 << 20;

/** Word i = PATTERN + i: low halves stay below 2^32 for 1 GiB, so the xor has a closed form. */
const CPU_PATTERN = 0x6d6c_0000_1000_0000n;
const GPU_PATTERN = 0x6770_0000_2000_0000n;

/** Each part's rounds fit a budget of seconds: the GPU machine is lent for minutes. */
function budget(ctx: SuiteContext): RepeatOptions {
  return {
    ...ctx.repeat,
    budgetMs: Math.min(ctx.repeat.budgetMs ?? 10_000, ctx.quick ? 500 : 1_500),
    maxRounds: Math.min(ctx.repeat.maxRounds ?? 50, ctx.quick ? 3 : 12),
  };
}

// ----------------------------------------------------------------- helpers

/** xor of 0 .. m (m >= -1). */
function xorUpTo(m: bigint): bigint {
  if (m < 0n) return 0n;
  switch (m % 4n) {
    case 0n:
      return m;
    case 1n:
      return 1n;
    case 2n:
      return m + 1n;
    default:
      return 0n;
  }
}

/** xor of the words pattern + i, i < words (no carry out of the low 32 bits). */
export function expectedXor(pattern: bigint, words: number): bigint {
  const lo = pattern & 0xffff_ffffn;
  const hi = pattern >> 32n;
  const n = BigInt(words);
  if (lo + n > 2n ** 32n) throw new RangeError('pattern + words carries out of the low 32 bits');
  const low = xorUpTo(lo + n - 1n) ^ xorUpTo(lo - 1n);
  return ((n % 2n === 1n ? hi : 0n) << 32n) | low;
}

/** The CPU writes word i = pattern + i over [address, address + length) (32-bit halves: no BigInt per word). */
function cpuWrite(address: bigint, length: number, pattern: bigint): void {
  const v = native.newView(address, length, false);
  try {
    const u = new Uint32Array(v.buffer);
    const lo = Number(pattern & 0xffff_ffffn);
    const hi = Number(pattern >> 32n);
    for (let i = 0, w = 0; i < u.length; i += 2, w++) {
      u[i] = lo + w;
      u[i + 1] = hi;
    }
  } finally {
    native.releaseView(v.buffer, v.record);
  }
}

/** Indices of 64 words spread over the range, first and last included. */
function spotWords(words: number): number[] {
  const out = new Set<number>([0, words - 1]);
  for (let k = 1; k < 63; k++) out.add(Math.floor((k * words) / 63));
  return [...out];
}

/** Words among the spots that are not pattern + i, read by the CPU. */
function cpuSpotCheck(address: bigint, length: number, pattern: bigint): number {
  const v = native.newView(address, length, false);
  try {
    const w = new BigUint64Array(v.buffer);
    return spotWords(w.length).filter((i) => w[i] !== BigInt.asUintN(64, pattern + BigInt(i))).length;
  } finally {
    native.releaseView(v.buffer, v.record);
  }
}

interface HostRegion {
  address: bigint;
  length: number;
  release(): void;
}

function mapAligned(length: number, align: number): bigint {
  const raw = native.mmap(0n, length + align, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
  const a = (raw + BigInt(align - 1)) & ~BigInt(align - 1);
  const head = Number(a - raw);
  if (head) native.munmap(raw, head);
  if (align - head) native.munmap(a + BigInt(length), align - head);
  return a;
}

/** Anonymous private memory of `length` bytes on host pages of `pages`, populated by the CPU unless told not to. */
function mapHost(pages: HostPages, length: number, populate = true): HostRegion {
  const mapLength = pages === '4K' ? length : Math.ceil(length / M2) * M2;
  let address: bigint;
  if (pages === 'hugetlb-2M') {
    address = native.mmap(0n, mapLength, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_HUGETLB | (21 << C.MAP_HUGE_SHIFT), -1, 0);
  } else if (pages === 'thp') {
    address = mapAligned(mapLength, M2);
    native.madvise(address, mapLength, C.MADV_HUGEPAGE);
  } else {
    address = native.mmap(0n, mapLength, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
    native.madvise(address, mapLength, C.MADV_NOHUGEPAGE);
  }
  let mapped = true;
  const release = () => {
    if (mapped) native.munmap(address, mapLength);
    mapped = false;
  };
  try {
    if (populate) native.madvise(address, mapLength, C.MADV_POPULATE_WRITE);
  } catch (e) {
    release();
    throw e;
  }
  return { address, length, release };
}

/** What the host pages really were (THP may fall back to 4 KiB): reported, never asserted. */
function pageObserved(pages: HostPages, r: HostRegion): Record<string, ParamValue> {
  if (pages !== 'thp') return {};
  try {
    const s = pageSummary({ address: r.address, length: r.length });
    return { pmdMappedBytes: s.pmdMappedBytes ?? -1 };
  } catch (e) {
    return { pageState: errorMessage(e) };
  }
}

/** The pool pages a hugetlb case needs, or why it cannot run. */
function reserve(pages: HostPages, length: number): { reservation?: HugeReservation; skip?: string } {
  if (pages === '4K') return {};
  if (pages === 'thp') {
    const thp = thpSettings().enabled;
    return !thp || thp === 'never' ? { skip: `transparent_hugepage/enabled is ${thp ?? 'absent'}: MADV_HUGEPAGE cannot give THPs` } : {};
  }
  const count = Math.ceil(length / M2);
  try {
    return { reservation: reserveHugePages('2M', count) };
  } catch (e) {
    return { skip: `cannot reserve ${count} hugetlb 2 MiB pages: ${errorMessage(e)}` };
  }
}

function hmmModuleParam(): string {
  try {
    return fs.readFileSync('/sys/module/nvidia_uvm/parameters/uvm_disable_hmm', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

function deviceObserved(info: CudaDeviceInfo, driver: number | null): Record<string, ParamValue> {
  return { device: info.name, driverVersion: driver ?? -1, hmm: info.attributes.pageableMemoryAccess === 1 };
}

/** One timed CPU pass, one write per page (native fault_timing loop): per-page ns and the faults it took. */
function cpuTouch(address: bigint, length: number): { samples: number[]; faults: number } {
  const raw = native.faultTouch(address, length, PAGE, true, true);
  const rep = raw.reps[0];
  return { samples: Array.from(rep.samples), faults: rep.perf?.pageFaults ?? rep.rusage.minflt };
}

const distinct = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b).join(', ');
const sizeName = (n: number) => (n >= GiB ? `${n / GiB}G` : n >= MiB ? `${n / MiB}M` : `${n / KiB}K`);

// ------------------------------------------------------------------- parts

interface Run {
  ctx: SuiteContext;
  dev: CudaDevice;
  rep: RepeatOptions;
  observed: Record<string, ParamValue>;
  /** Registration measurements made, for the curve. */
  registered: string[];
}

async function registration(r: Run, pages: HostPages): Promise<void> {
  const { ctx } = r;
  const sizes = registerSizes(ctx.quick);
  const prep = reserve(pages, 0);
  if (prep.skip) {
    ctx.check({ name: `register ${pages}`, status: 'skip', reason: prep.skip });
    for (const s of sizes) ctx.step(`register ${pages} ${sizeName(s)} skipped`);
    return;
  }
  const flags = HOST_REGISTER.DEVICEMAP | HOST_REGISTER.PORTABLE;
  const regs: Measurement[] = [];
  for (const size of sizes) {
    if (ctx.signal.aborted) return;
    try {
      const region = mapHost(pages, size);
      try {
        const per = size / PAGE;
        // Small ranges take microseconds: several pairs per round for a spread.
        const pairs = Math.max(1, Math.min(16, Math.floor((64 * MiB) / size)));
        const rec = await repeatRecorded(() => {
          const reg: number[] = [];
          const unreg: number[] = [];
          for (let i = 0; i < pairs; i++) {
            reg.push(native.cudaHostRegister(region.address, size, flags) / per);
            unreg.push(native.cudaHostUnregister(region.address) / per);
          }
          return { samples: reg, info: unreg };
        }, r.rep);
        const params = { hostPages: pages, size, pages4K: per, pairsPerRound: pairs };
        const observed = { ...r.observed, ...pageObserved(pages, region) };
        const m = toMeasurement({ id: `register/${pages}/${sizeName(size)}`, title: `cuMemHostRegister of ${sizeName(size)} populated ${PAGES_TITLE[pages]}: ns per 4 KiB`, unit: 'ns', params, observed }, rec.result);
        ctx.measurement(m);
        regs.push(m);
        r.registered.push(m.id);
        ctx.measurement(toMeasurement({ id: `unregister/${pages}/${sizeName(size)}`, title: `cuMemHostUnregister of ${sizeName(size)} ${PAGES_TITLE[pages]}: ns per 4 KiB`, unit: 'ns', params, observed }, infoResult(rec, (u) => u)));
      } finally {
        region.release();
      }
    } catch (e) {
      ctx.check({ name: `register ${pages} ${sizeName(size)}: measured`, status: 'fail', reason: errorMessage(e) });
      await lostCheck(r, `register ${pages} ${sizeName(size)}`);
      if (lost) return;
    }
    ctx.step(`register ${pages} ${sizeName(size)}`);
  }
  if (regs.length >= 2) {
    const small = regs[0];
    const large = regs[regs.length - 1];
    ctx.comparison({ id: `register-small-over-large/${pages}`, title: `cuMemHostRegister per 4 KiB, ${PAGES_TITLE[pages]}: ${small.params.size as number / KiB} KiB over ${sizeName(large.params.size as number)} (fixed cost per call)`, a: small.id, b: large.id, ratio: roundRatio(small, large) });
  }
}

interface BandwidthCase {
  id: string;
  mode: 'cuda-device' | 'cuda-managed' | 'cuda-pinned' | 'cuda-hmm';
  pages?: HostPages;
}

const caseLabel = (c: BandwidthCase) => (c.pages ? `${c.mode}/${c.pages}` : c.mode);

/** GPU read then write bandwidth of one buffer; read.id and write.id, or null when it failed. */
async function bandwidth(r: Run, c: BandwidthCase): Promise<{ read: Measurement; write: Measurement } | null> {
  const { ctx, dev } = r;
  const length = ctx.quick ? BANDWIDTH_LENGTH.quick : BANDWIDTH_LENGTH.full;
  const label = caseLabel(c);
  const prep = c.pages ? reserve(c.pages, length) : {};
  if (prep.skip) {
    ctx.check({ name: `bandwidth ${label}`, status: 'skip', reason: prep.skip });
    return null;
  }
  let region: HostRegion | null = null;
  let buf: CudaBuffer | null = null;
  try {
    // The data the read kernel xors: written by the CPU where it can reach the memory.
    let observed: Record<string, ParamValue> = { ...r.observed };
    if (c.mode === 'cuda-device') {
      buf = dev.allocate('cuda-device', length);
      buf.fill(CPU_PATTERN);
    } else if (c.mode === 'cuda-managed') {
      buf = dev.allocate('cuda-managed', length);
      cpuWrite(buf.address, length, CPU_PATTERN);
      observed.prefetchNs = buf.prefetch(true);
    } else {
      region = mapHost(c.pages!, length);
      cpuWrite(region.address, length, CPU_PATTERN);
      observed = { ...observed, ...pageObserved(c.pages!, region) };
      buf = c.mode === 'cuda-pinned' ? dev.pin(region) : dev.mirror(region);
      if (c.mode === 'cuda-pinned') observed.registerNs = buf.registerNs;
    }
    const b = buf;
    const want = expectedXor(CPU_PATTERN, length / 8);
    const params = { mode: c.mode, hostPages: c.pages ?? 'none', length, passesPerRound: BANDWIDTH_PASSES };
    // Round 0 is one pass alone: the cold figure is the very first GPU read
    // (for HMM: the first touch, faults and any migration included).
    const readRec = await repeatRecorded((round) => {
      const res = Array.from({ length: round === 0 ? 1 : BANDWIDTH_PASSES }, () => b.xor());
      return { samples: res.map((x) => gibPerS(length, x.gpuMs * 1e6)), info: res.filter((x) => x.xor !== want).length };
    }, r.rep);
    const badReads = readRec.rounds.reduce((n, x) => n + x.info, 0);
    const passes = readRec.rounds.reduce((n, x) => n + x.samples.length, 0);
    ctx.check({ name: `bandwidth ${label}: every GPU xor equals the xor of what was written`, status: badReads ? 'fail' : 'pass', reason: `${passes - badReads} of ${passes} passes matched ${want.toString(16)}` });
    const read = toMeasurement({ id: `read/${label}`, title: `GPU read bandwidth (xor kernel), ${label}${c.pages ? ` on ${PAGES_TITLE[c.pages]}` : ''}`, unit: 'GiB/s', better: 'higher', params, observed: { ...observed, verifiedPasses: `${passes - badReads}/${passes}` } }, readRec.result);
    ctx.measurement(read);

    const writeRec = await repeatRecorded(() => ({ samples: Array.from({ length: BANDWIDTH_PASSES }, () => gibPerS(length, b.fill(GPU_PATTERN) * 1e6)), info: null }), r.rep);
    // Spot-check after the timed rounds: a CPU read of HMM or managed memory moves pages back.
    let bad: number;
    if (c.mode === 'cuda-device') {
      bad = spotWords(length / 8).filter((i) => {
        const d = b.readSync(i * 8, 8);
        return new BigUint64Array(d.buffer, d.byteOffset, 1)[0] !== BigInt.asUintN(64, GPU_PATTERN + BigInt(i));
      }).length;
    } else {
      bad = cpuSpotCheck(b.address, length, GPU_PATTERN);
    }
    ctx.check({ name: `bandwidth ${label}: GPU writes seen at 64 spots`, status: bad ? 'fail' : 'pass', reason: `${64 - bad} of 64 words as written (${c.mode === 'cuda-device' ? 'read back by the GPU' : 'read by the CPU'})` });
    const write = toMeasurement({ id: `write/${label}`, title: `GPU write bandwidth (fill kernel), ${label}${c.pages ? ` on ${PAGES_TITLE[c.pages]}` : ''}`, unit: 'GiB/s', better: 'higher', params, observed }, deriveResult(writeRec, (x) => x));
    ctx.measurement(write);
    return { read, write };
  } finally {
    buf?.close();
    region?.release();
    prep.reservation?.release();
  }
}

type Op = 'munmap' | 'mprotect';

/** One fresh 4 KiB region, populated, seen by the GPU (or not), then the timed CPU call: ns, and the unregister error after a munmap, if any. */
function opRun(dev: CudaDevice, op: Op, gpu: 'pinned' | 'hmm' | 'none', length: number): { ns: number; unregisterError?: string } {
  const region = mapHost('4K', length);
  let pinned: CudaBuffer | null = null;
  let mapped = true;
  try {
    if (gpu === 'pinned') {
      pinned = dev.pin(region);
      pinned.xor();
    } else if (gpu === 'hmm') {
      dev.mirror(region).xor();
    }
    if (op === 'munmap') {
      mapped = false;
      const ns = native.timedMunmap(region.address, length);
      if (!pinned) return { ns };
      // The driver keeps the pinned pages until unregister, mapped or not; a
      // driver that refuses to unregister an unmapped range is reported, not fatal.
      try {
        pinned.close();
      } catch (e) {
        return { ns, unregisterError: errorMessage(e) };
      }
      return { ns };
    }
    // No native timed mprotect: both sides pay the same call overhead from here.
    const t0 = process.hrtime.bigint();
    native.mprotect(region.address, length, C.PROT_READ);
    return { ns: Number(process.hrtime.bigint() - t0) };
  } finally {
    if (pinned && !pinned.closed) pinned.close();
    if (mapped) region.release();
  }
}

async function cpuOp(r: Run, op: Op, gpu: 'pinned' | 'hmm'): Promise<void> {
  const { ctx, dev } = r;
  const length = ctx.quick ? OP_LENGTH.quick : OP_LENGTH.full;
  const regions = ctx.quick ? 1 : 2;
  const unregisterErrors: string[] = [];
  const side = (which: 'pinned' | 'hmm' | 'none') =>
    Array.from({ length: regions }, () => {
      const o = opRun(dev, op, which, length);
      if (o.unregisterError) unregisterErrors.push(o.unregisterError);
      return o.ns / (length / PAGE);
    });
  const paired = await repeatPaired(async (i) => {
    let a: number[];
    let b: number[];
    if (i % 2 === 0) {
      a = side(gpu);
      b = side('none');
    } else {
      b = side('none');
      a = side(gpu);
    }
    return { a: { cold: a, warm: a }, b: { cold: b, warm: b }, info: undefined };
  }, r.rep);
  const what = op === 'munmap' ? 'munmap' : 'mprotect(PROT_READ)';
  const seen = gpu === 'pinned' ? 'registered (cuMemHostRegister) and read by the GPU' : 'read by the GPU through HMM';
  const params = { op, gpu, length, regionsPerRound: regions };
  const a = toMeasurement({ id: `${op}/${gpu}/gpu-seen`, title: `CPU ${what} of ${sizeName(length)} of 4 KiB pages ${seen}: ns per page`, unit: 'ns', params, observed: r.observed }, paired.a);
  const b = toMeasurement({ id: `${op}/${gpu}/never-seen`, title: `CPU ${what} of ${sizeName(length)} of 4 KiB pages the GPU never saw (paired with ${gpu}): ns per page`, unit: 'ns', params, observed: r.observed }, paired.b);
  ctx.measurement(a);
  ctx.measurement(b);
  if (op === 'munmap' && gpu === 'pinned')
    ctx.check({ name: 'cuMemHostUnregister after munmap of the registered range', status: unregisterErrors.length ? 'fail' : 'pass', reason: unregisterErrors.length ? `${unregisterErrors.length} refused: ${unregisterErrors[0]}` : 'every range unregistered' });
  ctx.comparison({ id: `${op}/${gpu}/seen-over-never`, title: `CPU ${what}: range ${seen} over the same range never seen by the GPU`, a: a.id, b: b.id, ratio: roundRatio(a, b) });
}

/** HMM: CPU writes after a GPU read against a range the GPU never touched. */
async function cpuAfterHmm(r: Run): Promise<void> {
  const { ctx, dev } = r;
  const length = ctx.quick ? CPU_TOUCH_LENGTH.quick : CPU_TOUCH_LENGTH.full;
  const gpuRegion = mapHost('4K', length);
  const cpuRegion = mapHost('4K', length);
  try {
    const buf = dev.mirror(gpuRegion);
    const paired = await repeatPaired<{ gpuFaults: number; cpuFaults: number }>(async (i) => {
      const gpuSide = () => {
        buf.xor();
        return cpuTouch(gpuRegion.address, length);
      };
      const cpuSide = () => cpuTouch(cpuRegion.address, length);
      const [a, b] = i % 2 === 0 ? [gpuSide(), cpuSide()] : (([y, x]) => [x, y])([cpuSide(), gpuSide()]);
      return { a: { cold: a.samples, warm: a.samples }, b: { cold: b.samples, warm: b.samples }, info: { gpuFaults: a.faults, cpuFaults: b.faults } };
    }, r.rep);
    const observed = { ...r.observed, faultsPerPassAfterGpu: distinct(paired.infos.map((x) => x.gpuFaults)), faultsPerPassNever: distinct(paired.infos.map((x) => x.cpuFaults)) };
    const params = { length, pages: length / PAGE };
    const a = toMeasurement({ id: 'cpu-after-gpu/hmm/after-gpu-read', title: 'CPU write per 4 KiB page after the GPU read the range through HMM (pages fault back if they migrated): ns per page', unit: 'ns', params, observed }, paired.a);
    const b = toMeasurement({ id: 'cpu-after-gpu/hmm/never', title: 'CPU write per 4 KiB page of a populated range the GPU never touched: ns per page', unit: 'ns', params, observed }, paired.b);
    ctx.measurement(a);
    ctx.measurement(b);
    ctx.plot({ kind: 'histogram', title: 'CPU write per page after a GPU read through HMM', measurement: a.id });
    ctx.comparison({ id: 'cpu-after-gpu/hmm', title: 'CPU write per page: after a GPU read (HMM) over never touched by the GPU', a: a.id, b: b.id, ratio: roundRatio(a, b) });
  } finally {
    gpuRegion.release();
    cpuRegion.release();
  }
}

/** Managed: CPU writes after a GPU write (pages on the GPU) against after a prefetch back to the host. */
async function cpuAfterManaged(r: Run): Promise<void> {
  const { ctx, dev } = r;
  const length = ctx.quick ? CPU_TOUCH_LENGTH.quick : CPU_TOUCH_LENGTH.full;
  const buf = dev.allocate('cuda-managed', length);
  try {
    const paired = await repeatPaired<{ afterGpu: number; afterPrefetch: number }>(async (i) => {
      const gpuSide = () => {
        buf.fill(GPU_PATTERN);
        return cpuTouch(buf.address, length);
      };
      const hostSide = () => {
        buf.fill(GPU_PATTERN);
        buf.prefetch(false);
        return cpuTouch(buf.address, length);
      };
      const [a, b] = i % 2 === 0 ? [gpuSide(), hostSide()] : (([y, x]) => [x, y])([hostSide(), gpuSide()]);
      return { a: { cold: a.samples, warm: a.samples }, b: { cold: b.samples, warm: b.samples }, info: { afterGpu: a.faults, afterPrefetch: b.faults } };
    }, r.rep);
    const observed = { ...r.observed, faultsPerPassAfterGpu: distinct(paired.infos.map((x) => x.afterGpu)), faultsPerPassAfterPrefetch: distinct(paired.infos.map((x) => x.afterPrefetch)) };
    const params = { length, pages: length / PAGE };
    const a = toMeasurement({ id: 'cpu-after-gpu/managed/after-gpu-write', title: 'CPU write per 4 KiB of managed memory right after a GPU write (migration back on fault): ns per page', unit: 'ns', params, observed }, paired.a);
    const b = toMeasurement({ id: 'cpu-after-gpu/managed/after-prefetch', title: 'CPU write per 4 KiB of managed memory after the GPU write and a prefetch to the host: ns per page', unit: 'ns', params, observed }, paired.b);
    ctx.measurement(a);
    ctx.measurement(b);
    ctx.comparison({ id: 'cpu-after-gpu/managed', title: 'CPU write per page of managed memory: after a GPU write over after a prefetch to the host', a: a.id, b: b.id, ratio: roundRatio(a, b) });
  } finally {
    buf.close();
  }
}

type Touch = 'populated' | 'untouched';
type Threads = 'serial' | 'parallel';

/** HMM first touch: a fresh 4 KiB region, one byte per page read by the GPU; ns per page by CUDA events. */
async function firstTouch(r: Run, memory: Touch, threads: Threads): Promise<Measurement> {
  const { ctx, dev } = r;
  const length = threads === 'serial' ? (ctx.quick ? FIRST_TOUCH_SERIAL.quick : FIRST_TOUCH_SERIAL.full) : ctx.quick ? FIRST_TOUCH_PARALLEL.quick : FIRST_TOUCH_PARALLEL.full;
  const pages = length / PAGE;
  const rec = await repeatRecorded(() => {
    const region = mapHost('4K', length, false);
    try {
      // faultTouch writes 1 to the first byte of each page: the GPU's sum says it read them.
      if (memory === 'populated') native.faultTouch(region.address, length, PAGE, true, false);
      const t = dev.mirror(region).touch(PAGE, threads === 'serial' ? 1 : MANY_THREADS);
      return { samples: [(t.gpuMs * 1e6) / pages], info: t.sum === BigInt(memory === 'populated' ? pages : 0) };
    } finally {
      region.release();
    }
  }, r.rep);
  const good = rec.rounds.filter((x) => x.info).length;
  ctx.check({ name: `first-touch ${memory} ${threads}: the GPU read the bytes the CPU left`, status: good === rec.rounds.length ? 'pass' : 'fail', reason: `${good} of ${rec.rounds.length} regions summed to ${memory === 'populated' ? pages : 0}` });
  const m = toMeasurement(
    {
      id: `first-touch/hmm/${memory}/${threads}`,
      title: `HMM GPU first touch of ${memory === 'populated' ? 'CPU-populated' : 'never-touched'} 4 KiB pages, ${threads === 'serial' ? '1 thread (per-fault latency)' : 'one thread per page (throughput)'}: ns per page`,
      unit: 'ns',
      params: { memory, threads: threads === 'serial' ? 1 : Math.min(pages, MANY_THREADS), length, pages },
      observed: r.observed,
    },
    rec.result,
  );
  ctx.measurement(m);
  return m;
}

// ------------------------------------------------------------ the suite

/** Set when the CUDA context is gone (a GPU fault): the parts after it are skipped with this. */
let lost: string | null = null;

/** After an error: whether the context still works (a sticky error fails every later call). */
async function lostCheck(r: Run, part: string): Promise<void> {
  if (lost) return;
  try {
    r.dev.memInfo();
    const probe = r.dev.allocate('cuda-device', 4096);
    try {
      probe.fill(1n);
    } finally {
      probe.close();
    }
  } catch (e) {
    lost = `the CUDA context is unusable after ${part}: ${errorMessage(e)}`;
    r.ctx.check({ name: 'CUDA context survived', status: 'fail', reason: lost });
  }
}

interface Part {
  name: string;
  steps: number;
  hmm: boolean;
  run(r: Run): Promise<void>;
}

function bandwidthCases(ctx: Pick<SuiteContext, 'sizes'>, hmm: boolean): BandwidthCase[] {
  const host = HOST_PAGES.filter((p) => pagesWanted(ctx, p));
  if (hmm) return host.map((pages) => ({ id: `cuda-hmm/${pages}`, mode: 'cuda-hmm', pages }));
  return [
    { id: 'cuda-device', mode: 'cuda-device' },
    { id: 'cuda-managed', mode: 'cuda-managed' },
    ...host.map((pages): BandwidthCase => ({ id: `cuda-pinned/${pages}`, mode: 'cuda-pinned', pages })),
  ];
}

/** The parts in run order, HMM last. */
function parts(ctx: Pick<SuiteContext, 'quick' | 'sizes'>, results: Map<string, { read: Measurement; write: Measurement }>): Part[] {
  const out: Part[] = [];
  for (const pages of REGISTER_PAGES.filter((p) => pagesWanted(ctx, p)))
    out.push({ name: `register ${pages}`, steps: registerSizes(ctx.quick).length, hmm: false, run: (r) => registration(r, pages) });
  const bw = (c: BandwidthCase): Part => ({
    name: `bandwidth ${c.id}`,
    steps: 1,
    hmm: c.mode === 'cuda-hmm',
    run: async (r) => {
      const m = await bandwidth(r, c);
      if (m) results.set(c.id, m);
    },
  });
  out.push(...bandwidthCases(ctx, false).map(bw));
  const fourK = pagesWanted(ctx, '4K');
  if (fourK) {
    out.push({ name: 'munmap pinned', steps: 1, hmm: false, run: (r) => cpuOp(r, 'munmap', 'pinned') });
    out.push({ name: 'mprotect pinned', steps: 1, hmm: false, run: (r) => cpuOp(r, 'mprotect', 'pinned') });
    out.push({ name: 'cpu-after-gpu managed', steps: 1, hmm: false, run: cpuAfterManaged });
  }
  // HMM: the GPU faults on pageable memory; the parts most likely to break the
  // context. 4 KiB pages first; HMM over THP and hugetlb (which nvidia-uvm may
  // not handle at all) at the very end.
  const hmmCases = bandwidthCases(ctx, true);
  out.push(...hmmCases.filter((c) => c.pages === '4K').map(bw));
  if (fourK) {
    out.push({ name: 'munmap hmm', steps: 1, hmm: true, run: (r) => cpuOp(r, 'munmap', 'hmm') });
    out.push({ name: 'mprotect hmm', steps: 1, hmm: true, run: (r) => cpuOp(r, 'mprotect', 'hmm') });
    out.push({ name: 'cpu-after-gpu hmm', steps: 1, hmm: true, run: cpuAfterHmm });
    const touches: Part[] = [];
    for (const memory of ['populated', 'untouched'] as const)
      for (const threads of ['serial', 'parallel'] as const)
        touches.push({ name: `first-touch ${memory} ${threads}`, steps: 1, hmm: true, run: (r) => firstTouch(r, memory, threads).then(() => undefined) });
    out.push(...touches);
  }
  out.push(...hmmCases.filter((c) => c.pages !== '4K').map(bw));
  return out;
}

/** pinned/device and hmm/pinned per host page size, from the bandwidths measured. */
function bandwidthComparisons(ctx: SuiteContext, results: Map<string, { read: Measurement; write: Measurement }>): void {
  const device = results.get('cuda-device');
  for (const pages of HOST_PAGES) {
    const pinned = results.get(`cuda-pinned/${pages}`);
    const hmm = results.get(`cuda-hmm/${pages}`);
    for (const dir of ['read', 'write'] as const) {
      if (pinned && device)
        ctx.comparison({ id: `${dir}/pinned-over-device/${pages}`, title: `GPU ${dir} bandwidth: pinned ${PAGES_TITLE[pages]} over device memory`, a: pinned[dir].id, b: device[dir].id, ratio: roundRatio(pinned[dir], device[dir]) });
      if (hmm && pinned)
        ctx.comparison({ id: `${dir}/hmm-over-pinned/${pages}`, title: `GPU ${dir} bandwidth: HMM over pinned, both on ${PAGES_TITLE[pages]}`, a: hmm[dir].id, b: pinned[dir].id, ratio: roundRatio(hmm[dir], pinned[dir]) });
    }
  }
  const managed = results.get('cuda-managed');
  if (managed && device)
    for (const dir of ['read', 'write'] as const)
      ctx.comparison({ id: `${dir}/managed-over-device`, title: `GPU ${dir} bandwidth: managed (prefetched to the device) over device memory`, a: managed[dir].id, b: device[dir].id, ratio: roundRatio(managed[dir], device[dir]) });
  const bars = [...results.values()].map((m) => m.read.id);
  if (bars.length) ctx.plot({ kind: 'bars', title: 'GPU read bandwidth by memory kind and host page size (GiB/s)', label: 'mode / host pages', measurements: bars });
  const writes = [...results.values()].map((m) => m.write.id);
  if (writes.length) ctx.plot({ kind: 'bars', title: 'GPU write bandwidth by memory kind and host page size (GiB/s)', label: 'mode / host pages', measurements: writes });
}

/** THP over 4 KiB registration at the largest size; HMM first touch serial over parallel, never-touched over populated. */
function laterComparisons(ctx: SuiteContext, m: Map<string, Measurement>, sizes: number[]): void {
  const pair = (id: string, title: string, a: string, b: string) => {
    const ma = m.get(a);
    const mb = m.get(b);
    if (ma && mb) ctx.comparison({ id, title, a, b, ratio: roundRatio(ma, mb) });
  };
  const largest = sizeName(sizes[sizes.length - 1]);
  pair(`register/thp-over-4K/${largest}`, `cuMemHostRegister per 4 KiB of ${largest}: THP over 4 KiB pages`, `register/thp/${largest}`, `register/4K/${largest}`);
  for (const memory of ['populated', 'untouched'])
    pair(`first-touch/hmm/${memory}/serial-over-parallel`, `HMM GPU first touch per page, ${memory}: 1 thread over one thread per page (what concurrent faults save)`, `first-touch/hmm/${memory}/serial`, `first-touch/hmm/${memory}/parallel`);
  for (const threads of ['serial', 'parallel'])
    pair(`first-touch/hmm/untouched-over-populated/${threads}`, `HMM GPU first touch per page, ${threads}: never-touched over CPU-populated memory`, `first-touch/hmm/untouched/${threads}`, `first-touch/hmm/populated/${threads}`);
}

/** Why CUDA cannot run here (no libcuda, no device), or null. */
function cudaUnsupported(): string | null {
  if (process.platform !== 'linux') return `Linux only (this is ${process.platform})`;
  try {
    const a = cudaAvailability();
    return a.ok ? null : `no CUDA: ${a.reason}`;
  } catch (e) {
    return `no CUDA: ${errorMessage(e)}`;
  }
}

export const gpuCudaSuite: Suite = {
  id: 'gpu/cuda',
  title: 'NVIDIA GPU through CUDA: registration cost, GPU bandwidth per memory kind and host page size, HMM faults, CPU costs of GPU-seen ranges',
  environment: 'host',
  async unsupported() {
    return cudaUnsupported();
  },
  steps(ctx) {
    return parts(ctx, new Map()).reduce((n, p) => n + p.steps, 0);
  },
  async run(ctx) {
    lost = null;
    const avail = cudaAvailability();
    const dev = CudaDevice.open(0);
    try {
      const info = dev.info;
      const a = info.attributes;
      const hmm = dev.unsupported('cuda-hmm');
      const observed = deviceObserved(info, avail.driverVersion);
      ctx.check({
        name: 'CUDA device',
        status: 'pass',
        reason:
          `${info.name} (${info.pciBusId}, sm ${info.computeCapability}, ${Number(info.totalMem / BigInt(MiB))} MiB), driver API ${avail.driverVersion}, kernel ${os.release()}; ` +
          `HMM ${hmm ? 'off' : 'on'} (pageableMemoryAccess ${a.pageableMemoryAccess}, usesHostPageTables ${a.pageableMemoryAccessUsesHostPageTables}, nvidia_uvm uvm_disable_hmm ${hmmModuleParam()}); ` +
          `attributes ${Object.entries(a).map(([k, v]) => `${k}=${v}`).join(' ')}`,
      });
      const measured = new Map<string, Measurement>();
      const rctx: SuiteContext = { ...ctx, measurement: (m) => (measured.set(m.id, m), ctx.measurement(m)) };
      const run: Run = { ctx: rctx, dev, rep: budget(ctx), observed, registered: [] };
      const results = new Map<string, { read: Measurement; write: Measurement }>();
      const plan = parts(ctx, results);
      for (const part of plan) {
        if (ctx.signal.aborted) break;
        const skip = lost ?? (part.hmm ? hmm : null);
        if (skip) {
          ctx.check({ name: part.name, status: 'skip', reason: skip });
          for (let i = 0; i < part.steps; i++) ctx.step(`${part.name} skipped`);
          continue;
        }
        try {
          await part.run(run);
        } catch (e) {
          ctx.check({ name: `${part.name}: measured`, status: 'fail', reason: errorMessage(e) });
          await lostCheck(run, part.name);
        }
        // registration steps per size itself
        if (!part.name.startsWith('register')) ctx.step(part.name);
      }
      if (run.registered.length) {
        const plot: Plot = { kind: 'curve', title: 'cuMemHostRegister cost per 4 KiB against range size', x: 'size', series: 'hostPages', measurements: run.registered, logX: true };
        ctx.plot(plot);
      }
      bandwidthComparisons(ctx, results);
      laterComparisons(ctx, measured, registerSizes(ctx.quick));
    } finally {
      try {
        dev.close();
      } catch {
        // a lost context may refuse even its release; the process exits soon after
      }
    }
  },
};
