// The userfaultfd round trip, native against JavaScript, in one run:
//
//   native: fault -> fault-server thread reads the message -> UFFDIO_COPY -> resume
//   js:     fault -> delivery thread reads it -> thread-safe function -> event in
//           JavaScript -> UFFDIO_COPY from JavaScript -> resume
//
// Each sample is the time an accessor thread spends on one load from a missing
// page (CLOCK_MONOTONIC around the access: the whole round trip as the
// faulting thread sees it). Every run touches `pages` fresh pages, one byte
// each; the first run of each side (new mapping, new page tables, cold
// caches) is reported apart from the warm repetitions, which reuse the
// mapping after MADV_DONTNEED. Native and JavaScript runs alternate so drift
// on a shared host hits both alike.
import os from 'node:os';
import { native } from '../addon.js';
import { invalidArg } from '../errors.js';
import { ratio, summarize, type Summary } from '../stats/summary.js';
import { threadRead, type MemoryRange } from './access.js';
import { Userfaultfd, type PageFault } from './userfaultfd.js';

const M = native.mmConstants;

export interface RoundTripOptions {
  /** Pages faulted per run (default 256). */
  pages?: number;
  /** Warm repetitions per side after the cold run (default 10). */
  warmRuns?: number;
  /** Bytes copied into each page (default a page of 0x5a). */
  pattern?: Uint8Array;
}

export interface RoundTripSide {
  /** The first run: per-fault round trip in ns. */
  cold: Summary;
  /** All warm runs pooled: per-fault round trip in ns. */
  warm: Summary;
  /** The spread of the warm runs' medians (run-to-run drift). */
  warmRunMedians: Summary;
  /** Native only: fault-server time per fault (message read to COPY returned), warm runs pooled. */
  service?: Summary;
  coldSamples: Float64Array;
  warmSamples: Float64Array;
}

export interface RoundTripResult {
  kernel: string;
  pageSize: number;
  pages: number;
  warmRuns: number;
  native: RoundTripSide;
  js: RoundTripSide;
  /** js / native on the warm medians (lo..hi from the extremes). */
  warmRatio: { median: number; lo: number; hi: number };
  /** js / native on the per-run medians: median of per-run ratios, with min and max. */
  warmRunRatio: Summary;
}

interface Side {
  m: MemoryRange;
  runs: Float64Array[];
  service: Float64Array[];
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function sideResult(s: Side, withService: boolean): RoundTripSide {
  const [cold, ...warm] = s.runs;
  const warmSamples = concat(warm);
  const r: RoundTripSide = {
    cold: summarize(cold),
    warm: summarize(warmSamples),
    warmRunMedians: summarize(warm.map((w) => summarize(w).median)),
    coldSamples: cold,
    warmSamples,
  };
  if (withService) r.service = summarize(concat(s.service.slice(1)));
  return r;
}

/** Measure both round trips in this process. Needs a kernel with userfaultfd (root, or /dev/userfaultfd). */
export async function measureUffdRoundTrip(opts: RoundTripOptions = {}): Promise<RoundTripResult> {
  const page: number = M.PAGE_SIZE;
  const pages = opts.pages ?? 256;
  const warmRuns = opts.warmRuns ?? 10;
  if (!Number.isSafeInteger(pages) || pages < 1) throw invalidArg('pages', pages, 'must be a positive integer');
  if (!Number.isSafeInteger(warmRuns) || warmRuns < 1) throw invalidArg('warmRuns', warmRuns, 'must be a positive integer');
  const pattern = opts.pattern ?? new Uint8Array(page).fill(0x5a);
  if (!(pattern instanceof Uint8Array) || pattern.length !== page) throw invalidArg('pattern', pattern?.length, `must be a Uint8Array of ${page} bytes`);
  const length = pages * page;

  const mapAnon = (): MemoryRange => {
    const address: bigint = native.mmap(0n, length, M.PROT_READ | M.PROT_WRITE, M.MAP_PRIVATE | M.MAP_ANONYMOUS, -1, 0);
    native.madvise(address, length, M.MADV_NOHUGEPAGE);
    return { address, length };
  };

  const nat: Side = { m: mapAnon(), runs: [], service: [] };
  const js: Side = { m: mapAnon(), runs: [], service: [] };
  const un = Userfaultfd.open();
  const uj = Userfaultfd.open();
  try {
    un.register(nat.m, 'missing');
    uj.register(js.m, 'missing');
    const onFault = (f: PageFault) => {
      f.copy(pattern);
    };
    uj.on('pagefault', onFault);

    const check = (bytes: Uint8Array | undefined, side: string) => {
      for (let i = 0; i < pages; i++)
        if (bytes![i] !== pattern[0]) throw new Error(`${side} round trip: page ${i} read ${bytes![i]}, expected ${pattern[0]}`);
    };

    for (let run = 0; run <= warmRuns; run++) {
      if (run > 0) {
        native.madvise(nat.m.address, length, M.MADV_DONTNEED);
        native.madvise(js.m.address, length, M.MADV_DONTNEED);
      }
      const order = run % 2 === 0 ? ['native', 'js'] : ['js', 'native'];
      for (const which of order) {
        if (which === 'native') {
          const server = un.serve({ pattern, pageSize: page });
          let r;
          try {
            r = await threadRead(nat.m, { stride: page, width: 1 });
          } finally {
            const s = server.stop();
            nat.service.push(s.serviceNs);
          }
          check(r.bytes, 'native');
          nat.runs.push(r.latencyNs);
        } else {
          const r = await threadRead(js.m, { stride: page, width: 1 });
          check(r.bytes, 'js');
          js.runs.push(r.latencyNs);
        }
      }
    }
  } finally {
    un.close();
    uj.close();
    native.munmap(nat.m.address, length);
    native.munmap(js.m.address, length);
  }

  const n = sideResult(nat, true);
  const j = sideResult(js, false);
  const perRun: number[] = [];
  for (let i = 1; i <= warmRuns; i++) perRun.push(summarize(js.runs[i]).median / summarize(nat.runs[i]).median);
  return {
    kernel: os.release(),
    pageSize: page,
    pages,
    warmRuns,
    native: n,
    js: j,
    warmRatio: ratio(j.warm, n.warm),
    warmRunRatio: summarize(perRun),
  };
}

function us(ns: number): string {
  return (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
}

function line(name: string, s: Summary): string {
  return `${name.padEnd(22)} ${us(s.min).padStart(9)} ${us(s.median).padStart(9)} ${us(s.p90).padStart(9)} ${us(s.p99).padStart(9)} ${us(s.max).padStart(9)} ${String(s.n).padStart(7)}`;
}

/** A plain-text table of the result (microseconds). */
export function formatUffdRoundTrip(r: RoundTripResult): string {
  const out = [
    `userfaultfd round trip, kernel ${r.kernel}, ${r.pages} pages x (1 cold + ${r.warmRuns} warm) runs, per-fault us`,
    `${''.padEnd(22)} ${'min'.padStart(9)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(9)} ${'n'.padStart(7)}`,
    line('native cold', r.native.cold),
    line('native warm', r.native.warm),
    line('  server service', r.native.service!),
    line('  warm run medians', r.native.warmRunMedians),
    line('js cold', r.js.cold),
    line('js warm', r.js.warm),
    line('  warm run medians', r.js.warmRunMedians),
    `js/native warm median ratio ${r.warmRatio.median.toFixed(2)} (per-run ratios: min ${r.warmRunRatio.min.toFixed(2)}, median ${r.warmRunRatio.median.toFixed(2)}, max ${r.warmRunRatio.max.toFixed(2)})`,
  ];
  return out.join('\n');
}
