// The fuzz campaign's judge, as pure functions of what the guest printed:
// kernel reports in the log, the fuzzer's own output, pins and free memory
// before and after. src/fuzz/run.ts collects the text; the unit tests feed
// these functions recorded and made-up text.
import { matchCrash } from '../vm/crash.js';

/** A kernel report line: WARNING, BUG, Oops, KASAN, lockdep, general protection fault... */
export interface KernelReport {
  kind: string;
  line: string;
}

/** Every line of a kernel log (dmesg, console) that is a kernel report, with its kind. */
export function scanKernelLog(text: string): KernelReport[] {
  const out: KernelReport[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\[\s*[\d.]+\]\s*/, '').trim();
    const hit = matchCrash(line);
    if (hit) out.push({ kind: hit.kind, line });
  }
  return out;
}

/** The part of a dmesg after the line holding `marker` (all of it when the marker is missing). */
export function logSince(dmesg: string, marker: string): string {
  const lines = dmesg.split('\n');
  const at = lines.findIndex((l) => l.includes(marker));
  return lines.slice(at + 1).join('\n');
}

/** Errno counts per operation: { MIRRORDRM_USERPTR: { ok: 12, EINVAL: 40 } }. */
export type ErrnoHistogram = Record<string, Record<string, number>>;

/** What mlfuzz printed (kernel-patches/fuzz/mlfuzz.c, "Output"). */
export interface FuzzerOutput {
  calls: number;
  seconds: number;
  errnos: ErrnoHistogram;
  /** "report thread=T call=I seed=S <line>" lines: the kernel reports it saw, where. */
  reports: { thread: number; call: number; seed: string; line: string }[];
  /** Whether the closing "done" line was printed (the fuzzer ran to its end). */
  finished: boolean;
  /** The calls printed after a report (the reading thread's last ones), as --corpus reads them. */
  recent: string[];
  /** --corpus: entries loaded for this target, and those for other targets skipped. */
  loaded: { entries: number; otherTarget: number } | null;
  /** --coverage: the calls kept for reaching a new edge (as --corpus reads them), and the totals. */
  kept: { call: string; newEdges: number }[];
  coverage: FuzzCoverage | null;
}

/** mlfuzz's "coverage" line: distinct edges and PCs KCOV saw, corpus sizes, calls that filled the buffer. */
export interface FuzzCoverage {
  edges: number;
  pcs: number;
  kept: number;
  corpus: number;
  loaded: number;
  full: number;
}

export function parseFuzzerOutput(stdout: string): FuzzerOutput {
  const out: FuzzerOutput = { calls: 0, seconds: NaN, errnos: {}, reports: [], finished: false, recent: [], loaded: null, kept: [], coverage: null };
  for (const line of stdout.split('\n')) {
    let m = /^errno (\S+) (\S+) (\d+)$/.exec(line);
    if (m) {
      (out.errnos[m[1]] ??= {})[m[2]] = Number(m[3]);
      continue;
    }
    m = /^report thread=(\d+) call=(\d+) seed=(\d+) (.*)$/.exec(line);
    if (m) {
      out.reports.push({ thread: Number(m[1]), call: Number(m[2]), seed: m[3], line: m[4] });
      continue;
    }
    m = /^keep new=(\d+) (call t.*)$/.exec(line);
    if (m) {
      out.kept.push({ newEdges: Number(m[1]), call: m[2] });
      continue;
    }
    m = /^recent (call t.*)$/.exec(line);
    if (m) {
      out.recent.push(m[1]);
      continue;
    }
    m = /^corpus loaded=(\d+) other-target=(\d+) /.exec(line);
    if (m) {
      out.loaded = { entries: Number(m[1]), otherTarget: Number(m[2]) };
      continue;
    }
    m = /^coverage edges=(\d+) pcs=(\d+) kept=(\d+) corpus=(\d+) loaded=(\d+) full=(\d+)$/.exec(line);
    if (m) {
      const [edges, pcs, kept, corpus, loaded, full] = m.slice(1).map(Number);
      out.coverage = { edges, pcs, kept, corpus, loaded, full };
      continue;
    }
    m = /^done calls=(\d+) seconds=([\d.]+) /.exec(line);
    if (m) {
      out.calls = Number(m[1]);
      out.seconds = Number(m[2]);
      out.finished = true;
    }
  }
  return out;
}

/** A field of /proc/meminfo in KiB, or of /proc/vmstat as a count; null when the kernel has none. */
export function procField(text: string, name: string): number | null {
  const m = new RegExp(`^${name}:?\\s+(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Free memory may come back this much lower than it started (KiB): slab and
 * page-table caches the campaign grew (under 1 MiB in the 7.2 runs of
 * docs/fuzz.md, once the per-CPU free lists are counted).
 */
export const MEMORY_TOLERANCE_KIB = 32 * 1024;

export interface Snapshot {
  /** /proc/meminfo after dropping caches. */
  meminfo: string;
  /** /proc/zoneinfo, read with it: the free pages waiting on per-CPU lists. */
  zoneinfo: string;
  /** /proc/vmstat. */
  vmstat: string;
}

/**
 * Free pages on the per-CPU page lists (KiB): the "count:" of every
 * "pagesets" entry of /proc/zoneinfo, 4 KiB pages. MemFree does not count
 * them, and a kernel that tunes the lists' high mark by itself (6.7 on)
 * keeps tens of MiB there after a busy run: 7.2 went from 26 to 106 MiB over
 * two 100,000-call fakevram runs and back to 72 MiB after a third, MemFree
 * moving by the same amounts the other way. null without any count line.
 */
export function perCpuFreeKiB(zoneinfo: string): number | null {
  let pages: number | null = null;
  for (const m of zoneinfo.matchAll(/^\s+count:\s+(\d+)$/gm)) pages = (pages ?? 0) + Number(m[1]);
  return pages === null ? null : pages * 4;
}

/**
 * MemFree or MemAvailable with the per-CPU free lists added back (KiB):
 * free memory wherever the page allocator keeps it. null when the field is missing.
 */
export function freeWithPerCpuKiB(s: Snapshot, field: 'MemFree' | 'MemAvailable'): number | null {
  const v = procField(s.meminfo, field);
  return v === null ? null : v + (perCpuFreeKiB(s.zoneinfo) ?? 0);
}

/** The kernel's own allocations that /proc/meminfo names, for a leak message: where the memory went. */
const KERNEL_FIELDS = ['Slab', 'SUnreclaim', 'PageTables', 'VmallocUsed', 'Percpu', 'KernelStack', 'AnonPages', 'Shmem'];

/** "Slab +1234 kB, PageTables +56 kB": the named fields that grew by more than 1 MiB. */
function growth(before: Snapshot, after: Snapshot): string {
  const grew: string[] = [];
  for (const f of KERNEL_FIELDS) {
    const a = procField(before.meminfo, f);
    const b = procField(after.meminfo, f);
    if (a !== null && b !== null && b - a > 1024) grew.push(`${f} +${b - a} kB`);
  }
  return grew.length ? grew.join(', ') : 'no meminfo field grew by more than 1 MiB';
}

/**
 * What the campaign left behind, in words; empty when nothing. Pins must
 * balance; free memory (MemFree and MemAvailable, each with the per-CPU
 * free lists added back, after drop_caches) must be back within the
 * tolerance of where it started.
 */
export function leaks(before: Snapshot, after: Snapshot, toleranceKiB = MEMORY_TOLERANCE_KIB): string[] {
  const out: string[] = [];
  const acquired = procField(after.vmstat, 'nr_foll_pin_acquired');
  const released = procField(after.vmstat, 'nr_foll_pin_released');
  if (acquired !== null && released !== null && acquired !== released) {
    out.push(`pins: nr_foll_pin_acquired ${acquired} != nr_foll_pin_released ${released} (${acquired - released} held)`);
  }
  const perCpu = `per-CPU free lists ${perCpuFreeKiB(before.zoneinfo) ?? 0} -> ${perCpuFreeKiB(after.zoneinfo) ?? 0} kB`;
  for (const field of ['MemFree', 'MemAvailable'] as const) {
    const a = freeWithPerCpuKiB(before, field);
    const b = freeWithPerCpuKiB(after, field);
    if (a !== null && b !== null && a - b > toleranceKiB) {
      out.push(`memory: ${field} + per-CPU free lists ${b} kB after, ${a} kB before: ${a - b} kB not back (tolerance ${toleranceKiB} kB; ${perCpu}; ${growth(before, after)})`);
    }
  }
  return out;
}

/** Per-op lines "OP: ok 12, EINVAL 40" sorted by op, errnos by count. */
export function formatHistogram(h: ErrnoHistogram): string[] {
  return Object.keys(h)
    .sort()
    .map((op) => {
      const parts = Object.entries(h[op]).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
      return `${op}: ${parts.map(([e, n]) => `${e} ${n}`).join(', ')}`;
    });
}
