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
}

export function parseFuzzerOutput(stdout: string): FuzzerOutput {
  const out: FuzzerOutput = { calls: 0, seconds: NaN, errnos: {}, reports: [], finished: false };
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

/** Free memory may come back this much lower than it started (KiB): slab and page-table caches the campaign grew. */
export const MEMORY_TOLERANCE_KIB = 32 * 1024;

export interface Snapshot {
  /** /proc/meminfo after dropping caches. */
  meminfo: string;
  /** /proc/vmstat. */
  vmstat: string;
}

/** What the campaign left behind, in words; empty when nothing. */
export function leaks(before: Snapshot, after: Snapshot, toleranceKiB = MEMORY_TOLERANCE_KIB): string[] {
  const out: string[] = [];
  const acquired = procField(after.vmstat, 'nr_foll_pin_acquired');
  const released = procField(after.vmstat, 'nr_foll_pin_released');
  if (acquired !== null && released !== null && acquired !== released) {
    out.push(`pins: nr_foll_pin_acquired ${acquired} != nr_foll_pin_released ${released} (${acquired - released} held)`);
  }
  for (const field of ['MemFree', 'MemAvailable']) {
    const a = procField(before.meminfo, field);
    const b = procField(after.meminfo, field);
    if (a !== null && b !== null && a - b > toleranceKiB) {
      out.push(`memory: ${field} ${b} kB after, ${a} kB before: ${a - b} kB not back (tolerance ${toleranceKiB} kB)`);
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
