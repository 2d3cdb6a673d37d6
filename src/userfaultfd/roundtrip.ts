// The userfaultfd round trip, native against JavaScript, in one run:
//
//   native:    fault -> fault-server thread reads the message -> UFFDIO_COPY -> resume
//   js:        fault -> the main thread's event loop wakes on the uffd, reads the
//              message ('poll' delivery) -> event in JavaScript -> UFFDIO_COPY
//              from JavaScript -> resume
//   js-thread: fault -> delivery thread reads it -> thread-safe function -> event
//              in JavaScript -> UFFDIO_COPY from JavaScript -> resume ('thread')
//
// Each sample is the time an accessor thread spends on one load from a missing
// page (CLOCK_MONOTONIC around the access: the whole round trip as the
// faulting thread sees it). Every run touches `pages` fresh pages, one byte
// each; the first run of each side (new mapping, new page tables, cold
// caches) is reported apart from the warm repetitions, which reuse the
// mapping after MADV_DONTNEED. The three sides take turns going first so
// drift on a shared host hits them alike.
//
// The breakdown splits each warm round trip at the moments both sides can
// stamp with the same clock: the access starts (accessor thread), the reader
// has the message (fault server, event loop or delivery thread), JavaScript runs
// the handler, the COPY returns, the access returns. The native breakdown
// comes from the measured runs themselves (the server stamps cost nothing
// visible); the JavaScript ones from extra runs whose handler reads the clock
// twice, kept out of the figures above.
import os from 'node:os';
import { native } from '../addon.js';
import { invalidArg } from '../errors.js';
import { ratio, summarize, type Summary } from '../stats/summary.js';
import { monotonicNs, threadRead, type ThreadAccessResult, type MemoryRange } from './access.js';
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

/**
 * Where a round trip's time goes, per fault, in ns (each a Summary over warm
 * faults). toReader + toJs + toResume is the round trip. The COPY ioctl wakes
 * the faulting thread before it returns, so `copy` overlaps `toResume`: the
 * thread often finishes its access before the resolver sees COPY return.
 */
export interface RoundTripBreakdown {
  /** Access start -> the reader has the message (fault entry, reader wakeup, read()). */
  toReader: Summary;
  /** JavaScript only: reader has it -> the handler runs (decoding, event object; 'thread': the thread-safe function hop). */
  toJs?: Summary;
  /** Resolver starts (server: right after the read; JS: handler entry) -> the access returns. */
  toResume: Summary;
  /** Duration of the resolving call as its caller sees it (UFFDIO_COPY; from JS: the copy() call). */
  copy: Summary;
}

export interface RoundTripResult {
  kernel: string;
  pageSize: number;
  pages: number;
  warmRuns: number;
  native: RoundTripSide;
  /** JavaScript handler, 'poll' delivery (the default). */
  js: RoundTripSide;
  /** JavaScript handler, 'thread' delivery. */
  jsThread: RoundTripSide;
  /** js / native on the warm medians (lo..hi from the extremes). */
  warmRatio: { median: number; lo: number; hi: number };
  /** js / native on the per-run medians: median of per-run ratios, with min and max. */
  warmRunRatio: Summary;
  /** jsThread / native, the same two ways. */
  threadWarmRatio: { median: number; lo: number; hi: number };
  threadWarmRunRatio: Summary;
  breakdown: { native: RoundTripBreakdown; js: RoundTripBreakdown; jsThread: RoundTripBreakdown };
}

interface Side {
  m: MemoryRange;
  runs: Float64Array[];
  service: Float64Array[];
}

interface Parts {
  toReader: number[];
  toJs: number[];
  toResume: number[];
  copy: number[];
}

const newParts = (): Parts => ({ toReader: [], toJs: [], toResume: [], copy: [] });

/** A fault's stamps in CLOCK_MONOTONIC ns: its address, message read, resolver start, resolving call returned. */
type Stamp = [address: number, read: number, start: number, done: number];

/** Line faults up with the accesses that raised them: access k touched page k of `base`. */
function split(parts: Parts, r: ThreadAccessResult, base: bigint, page: number, stamps: Stamp[], withJs: boolean): void {
  const t = Number(r.startNs);
  const b = Number(base);
  for (const [addr, read, start, done] of stamps) {
    const k = Math.floor((addr - b) / page);
    if (k < 0 || k >= r.completed) continue;
    const a0 = t + r.offsetNs[k];
    const a1 = a0 + r.latencyNs[k];
    parts.toReader.push(read - a0);
    if (withJs) parts.toJs.push(start - read);
    parts.toResume.push(a1 - start);
    parts.copy.push(done - start);
  }
}

function breakdown(p: Parts, withJs: boolean): RoundTripBreakdown {
  const b: RoundTripBreakdown = { toReader: summarize(p.toReader), toResume: summarize(p.toResume), copy: summarize(p.copy) };
  if (withJs) b.toJs = summarize(p.toJs);
  return b;
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
    const address = native.mmap(0n, length, M.PROT_READ | M.PROT_WRITE, M.MAP_PRIVATE | M.MAP_ANONYMOUS, -1, 0);
    native.madvise(address, length, M.MADV_NOHUGEPAGE);
    return { address, length };
  };

  const nat: Side = { m: mapAnon(), runs: [], service: [] };
  const natParts = newParts();
  const un = Userfaultfd.open();
  // One uffd per JavaScript delivery, each with its own mapping and handler.
  const jsSides = (['poll', 'thread'] as const).map((delivery) => ({
    delivery,
    side: { m: mapAnon(), runs: [], service: [] } as Side,
    parts: newParts(),
    uffd: Userfaultfd.open({ delivery }),
    stamps: null as Stamp[] | null,
  }));
  try {
    un.register(nat.m, 'missing');
    for (const j of jsSides) {
      j.uffd.register(j.side.m, 'missing');
      j.uffd.on('pagefault', (f: PageFault) => {
        if (j.stamps) {
          const start = monotonicNs();
          f.copy(pattern);
          const done = monotonicNs();
          j.stamps.push([Number(f.address), Number(f.readNs), Number(start), Number(done)]);
        } else {
          f.copy(pattern);
        }
      });
    }

    const check = (bytes: Uint8Array | undefined, side: string) => {
      for (let i = 0; i < pages; i++)
        if (bytes![i] !== pattern[0]) throw new Error(`${side} round trip: page ${i} read ${bytes![i]}, expected ${pattern[0]}`);
    };

    const runNative = async (run: number) => {
      const server = un.serve({ pattern, pageSize: page });
      let r;
      try {
        r = await threadRead(nat.m, { stride: page, width: 1 });
      } finally {
        const s = server.stop();
        nat.service.push(s.serviceNs);
        if (run > 0 && r) {
          const st: Stamp[] = [];
          for (let i = 0; i < s.serviceNs.length; i++) st.push([s.address[i], s.readAtNs[i], s.readAtNs[i], s.readAtNs[i] + s.serviceNs[i]]);
          split(natParts, r, nat.m.address, page, st, false);
        }
      }
      check(r.bytes, 'native');
      nat.runs.push(r.latencyNs);
    };
    const runJs = async (j: (typeof jsSides)[number]) => {
      const r = await threadRead(j.side.m, { stride: page, width: 1 });
      check(r.bytes, `js (${j.delivery})`);
      j.side.runs.push(r.latencyNs);
    };

    // Rotate which side goes first: native, poll, thread; then poll, thread, native; ...
    const turns = [() => runNative, () => runJs.bind(null, jsSides[0]), () => runJs.bind(null, jsSides[1])];
    for (let run = 0; run <= warmRuns; run++) {
      if (run > 0) {
        native.madvise(nat.m.address, length, M.MADV_DONTNEED);
        for (const j of jsSides) native.madvise(j.side.m.address, length, M.MADV_DONTNEED);
      }
      for (let k = 0; k < turns.length; k++) await turns[(run + k) % turns.length]()(run);
    }
    // Extra JavaScript runs with the handler stamping, for the breakdown only.
    for (let run = 0; run < Math.min(warmRuns, 5); run++) {
      for (const j of jsSides) {
        native.madvise(j.side.m.address, length, M.MADV_DONTNEED);
        j.stamps = [];
        const r = await threadRead(j.side.m, { stride: page, width: 1 });
        check(r.bytes, `js (${j.delivery})`);
        split(j.parts, r, j.side.m.address, page, j.stamps, true);
        j.stamps = null;
      }
    }
  } finally {
    un.close();
    native.munmap(nat.m.address, length);
    for (const j of jsSides) {
      j.uffd.close();
      native.munmap(j.side.m.address, length);
    }
  }

  const n = sideResult(nat, true);
  const [poll, thread] = jsSides;
  const jp = sideResult(poll.side, false);
  const jt = sideResult(thread.side, false);
  const perRun = (s: Side): Summary => {
    const r: number[] = [];
    for (let i = 1; i <= warmRuns; i++) r.push(summarize(s.runs[i]).median / summarize(nat.runs[i]).median);
    return summarize(r);
  };
  return {
    kernel: os.release(),
    pageSize: page,
    pages,
    warmRuns,
    native: n,
    js: jp,
    jsThread: jt,
    warmRatio: ratio(jp.warm, n.warm),
    warmRunRatio: perRun(poll.side),
    threadWarmRatio: ratio(jt.warm, n.warm),
    threadWarmRunRatio: perRun(thread.side),
    breakdown: { native: breakdown(natParts, false), js: breakdown(poll.parts, true), jsThread: breakdown(thread.parts, true) },
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
    line('js (poll) cold', r.js.cold),
    line('js (poll) warm', r.js.warm),
    line('  warm run medians', r.js.warmRunMedians),
    line('js (thread) cold', r.jsThread.cold),
    line('js (thread) warm', r.jsThread.warm),
    line('  warm run medians', r.jsThread.warmRunMedians),
    'breakdown of warm round trips (us; parts add up to the round trip, the COPY call overlaps the resume):',
    line('native to server', r.breakdown.native.toReader),
    line('  server to resume', r.breakdown.native.toResume),
    line('  (UFFDIO_COPY call)', r.breakdown.native.copy),
    line('js (poll) to read', r.breakdown.js.toReader),
    line('  read to handler', r.breakdown.js.toJs!),
    line('  handler to resume', r.breakdown.js.toResume),
    line('  (copy() call)', r.breakdown.js.copy),
    line('js (thread) to reader', r.breakdown.jsThread.toReader),
    line('  reader to handler', r.breakdown.jsThread.toJs!),
    line('  handler to resume', r.breakdown.jsThread.toResume),
    line('  (copy() call)', r.breakdown.jsThread.copy),
    `js (poll)/native warm median ratio ${r.warmRatio.median.toFixed(2)} (per-run ratios: min ${r.warmRunRatio.min.toFixed(2)}, median ${r.warmRunRatio.median.toFixed(2)}, max ${r.warmRunRatio.max.toFixed(2)})`,
    `js (thread)/native warm median ratio ${r.threadWarmRatio.median.toFixed(2)} (per-run ratios: min ${r.threadWarmRunRatio.min.toFixed(2)}, median ${r.threadWarmRunRatio.median.toFixed(2)}, max ${r.threadWarmRunRatio.max.toFixed(2)})`,
  ];
  return out.join('\n');
}
