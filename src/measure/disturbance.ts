// How disturbed the machine was while a suite ran: the state of the machine
// read just before and just after the suite, from the kernel's own counters.
//   load average          /proc/loadavg, before and after
//   CPU time split        /proc/stat "cpu" line, the delta over the suite as
//                         fractions of all CPU time (user ... steal)
//   CPU frequency         /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq
//                         ("unreadable" where there is no cpufreq, as in most VMs)
//   pressure (PSI)        /proc/pressure/{cpu,memory,io}: avg10 before and after,
//                         and the share of the suite's wall time from the
//                         `total` delta (exact over the interval, where avg10
//                         is a decaying average that lags a short suite)
//   this process          /proc/self/stat utime+stime (all threads) and
//                         cutime+cstime (children waited for, e.g. QEMU),
//                         against the busy CPU time of the whole machine
// A suite is flagged disturbed when a figure passes one of THRESHOLDS.
import { readdirSync, readFileSync } from 'node:fs';

/** CPU time of the aggregate "cpu" line of /proc/stat, in clock ticks (USER_HZ). guest and
 * guest_nice are already inside user and nice, so they are not kept (adding them would count twice). */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

const CPU_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** The aggregate "cpu " line of /proc/stat and how many "cpuN" lines follow it (online CPUs). */
export function parseProcStat(text: string): { cpu: CpuTimes; cpus: number } {
  const lines = text.split('\n');
  const total = lines.find((l) => /^cpu\s/.test(l));
  if (!total) throw new Error('/proc/stat: no aggregate "cpu" line');
  const values = total.trim().split(/\s+/).slice(1).map(Number);
  // Kernels before 2.6.11 had no steal column: a missing column is 0, a non-number is an error.
  if (values.length < 4 || values.some((v) => !Number.isFinite(v))) throw new Error(`/proc/stat: malformed cpu line: ${JSON.stringify(total)}`);
  const cpu = Object.fromEntries(CPU_FIELDS.map((f, i) => [f, values[i] ?? 0])) as unknown as CpuTimes;
  return { cpu, cpus: lines.filter((l) => /^cpu\d+\s/.test(l)).length };
}

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Stall time in microseconds since boot. */
  total: number;
}

/** One /proc/pressure file: "some" always, "full" where the kernel writes it (not for cpu before 5.13). */
export interface Pressure {
  some: PressureLine;
  full: PressureLine | null;
}

export function parsePressure(text: string): Pressure {
  const out: Partial<Record<'some' | 'full', PressureLine>> = {};
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const fields = Object.fromEntries(m[2].split(/\s+/).map((kv) => kv.split('=') as [string, string]));
    const num = (k: string) => {
      const v = Number(fields[k]);
      if (fields[k] === undefined || !Number.isFinite(v)) throw new Error(`pressure: no ${k} in ${JSON.stringify(line)}`);
      return v;
    };
    out[m[1] as 'some' | 'full'] = { avg10: num('avg10'), avg60: num('avg60'), avg300: num('avg300'), total: num('total') };
  }
  if (!out.some) throw new Error(`pressure: no "some" line in ${JSON.stringify(text)}`);
  return { some: out.some, full: out.full ?? null };
}

/** /proc/loadavg: the 1, 5 and 15 minute load averages. */
export function parseLoadavg(text: string): [number, number, number] {
  const v = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (v.length < 3 || v.some((x) => !Number.isFinite(x))) throw new Error(`/proc/loadavg: malformed: ${JSON.stringify(text)}`);
  return [v[0], v[1], v[2]];
}

/** /proc/<pid>/stat: this process's CPU ticks and those of its children it waited for.
 * The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'. */
export function parseProcessStat(text: string): { self: number; children: number } {
  const rest = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/).map(Number);
  // rest[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
  const [utime, stime, cutime, cstime] = rest.slice(11, 15);
  if (![utime, stime, cutime, cstime].every(Number.isFinite)) throw new Error(`/proc/self/stat: malformed: ${JSON.stringify(text)}`);
  return { self: utime + stime, children: cutime + cstime };
}

export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];

/** What one reading of the machine holds; null (or 'unreadable') for what this kernel does not offer. */
export interface MachineSnapshot {
  /** performance.now() at the reading. */
  atMs: number;
  load: [number, number, number] | null;
  cpu: CpuTimes | null;
  cpus: number;
  /** scaling_cur_freq of each CPU that has one, in kHz; 'unreadable' when none does. */
  freqKHz: number[] | 'unreadable';
  pressure: Partial<Record<PressureResource, Pressure>> | 'unreadable';
  process: { self: number; children: number } | null;
}

/** Where the readings come from: the real files, or a fixture directory laid out the same way. */
export interface SnapshotSource {
  read(file: string): string;
  list(dir: string): string[];
}

const realSource: SnapshotSource = { read: (f) => readFileSync(f, 'utf8'), list: (d) => readdirSync(d) };

function attempt<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

export function snapshot(src: SnapshotSource = realSource): MachineSnapshot {
  const stat = attempt(() => parseProcStat(src.read('/proc/stat')));
  const cpuDirs = attempt(() => src.list('/sys/devices/system/cpu').filter((d) => /^cpu\d+$/.test(d))) ?? [];
  const freqKHz = cpuDirs
    .map((d) => attempt(() => Number(src.read(`/sys/devices/system/cpu/${d}/cpufreq/scaling_cur_freq`).trim())))
    .filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  // A kernel without CONFIG_PSI has no /proc/pressure; with psi=0 on the command line reads fail (EOPNOTSUPP).
  const pressure: Partial<Record<PressureResource, Pressure>> = {};
  for (const r of PRESSURE_RESOURCES) {
    const p = attempt(() => parsePressure(src.read(`/proc/pressure/${r}`)));
    if (p) pressure[r] = p;
  }
  return {
    atMs: performance.now(),
    load: attempt(() => parseLoadavg(src.read('/proc/loadavg'))),
    cpu: stat?.cpu ?? null,
    cpus: stat?.cpus || cpuDirs.length || 1,
    freqKHz: freqKHz.length ? freqKHz : 'unreadable',
    pressure: Object.keys(pressure).length ? pressure : 'unreadable',
    process: attempt(() => parseProcessStat(src.read('/proc/self/stat'))),
  };
}

/** One PSI resource over a suite. Shares are fractions of the suite's wall time (0..1). */
export interface PressureDelta {
  someAvg10Before: number;
  someAvg10After: number;
  /** Share of the interval in which at least one task stalled on the resource. */
  someShare: number;
  /** Share in which all non-idle tasks stalled at once; null where the kernel has no "full" line. */
  fullShare: number | null;
  someTotalUs: number;
  fullTotalUs: number | null;
}

/** The machine's state around one suite run, as results.json keeps it (per suite: `disturbance`). */
export interface Disturbance {
  /** Wall time between the two readings. */
  intervalMs: number;
  /** Online CPUs (cpuN lines of /proc/stat). */
  cpus: number;
  /** 1, 5, 15 minute load averages before and after; 'unreadable' without /proc/loadavg. */
  load: { before: [number, number, number]; after: [number, number, number] } | 'unreadable';
  /** Fractions of all CPU time in the interval (they sum to 1). */
  cpuTime: CpuTimes | 'unreadable';
  /** Share of all CPU time used by this process (all threads), by its children it waited for
   * (QEMU of guest suites, once reaped), and by everything else that ran. */
  processes: { self: number; children: number; others: number } | 'unreadable';
  /** scaling_cur_freq over the CPUs that have it, MHz. */
  cpuFreqMHz: { before: { min: number; max: number }; after: { min: number; max: number } } | 'unreadable';
  pressure: Partial<Record<PressureResource, PressureDelta>> | 'unreadable';
  /** Which thresholds were passed (empty: not disturbed), e.g. "steal 7.3% of CPU time > 5%". */
  flags: string[];
}

/** The thresholds over which a suite is flagged disturbed (docs/benchmarks.md states them). */
export const THRESHOLDS = {
  /** CPU time the hypervisor gave to others while we were runnable. */
  stealShare: 0.05,
  /** 1-minute load average per online CPU, before or after the suite. */
  loadPerCpu: 1,
  /** Share of the suite's wall time some task waited for a CPU (PSI cpu some). */
  cpuPressureShare: 0.1,
  /** Share of the suite's wall time some task stalled on memory (reclaim, swap-in, compaction). */
  memoryPressureShare: 0.1,
} as const;

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

/** The thresholds a record passes, in words. */
export function disturbanceFlags(d: Omit<Disturbance, 'flags'>): string[] {
  const flags: string[] = [];
  if (d.cpuTime !== 'unreadable' && d.cpuTime.steal > THRESHOLDS.stealShare)
    flags.push(`steal ${pct(d.cpuTime.steal)} of CPU time > ${pct(THRESHOLDS.stealShare)}`);
  if (d.load !== 'unreadable') {
    const load1 = Math.max(d.load.before[0], d.load.after[0]);
    if (load1 > THRESHOLDS.loadPerCpu * d.cpus) flags.push(`1-min load ${load1.toFixed(2)} > ${THRESHOLDS.loadPerCpu * d.cpus} (CPUs)`);
  }
  if (d.pressure !== 'unreadable') {
    const cpu = d.pressure.cpu;
    if (cpu) {
      const share = Math.max(cpu.someShare, cpu.someAvg10After / 100);
      if (share > THRESHOLDS.cpuPressureShare)
        flags.push(`cpu pressure: tasks waited for a CPU ${pct(cpu.someShare)} of the suite (avg10 ${cpu.someAvg10After.toFixed(1)}%) > ${pct(THRESHOLDS.cpuPressureShare)}`);
    }
    const mem = d.pressure.memory;
    if (mem && mem.someShare > THRESHOLDS.memoryPressureShare)
      flags.push(`memory pressure: tasks stalled on memory ${pct(mem.someShare)} of the suite > ${pct(THRESHOLDS.memoryPressureShare)}`);
  }
  return flags;
}

const range = (v: number[]) => ({ min: Math.min(...v) / 1000, max: Math.max(...v) / 1000 });

/** The record of one suite run from the readings before and after it. */
export function disturbance(before: MachineSnapshot, after: MachineSnapshot): Disturbance {
  const intervalMs = Math.max(0, after.atMs - before.atMs);
  let cpuTime: Disturbance['cpuTime'] = 'unreadable';
  let processes: Disturbance['processes'] = 'unreadable';
  if (before.cpu && after.cpu) {
    const delta = Object.fromEntries(CPU_FIELDS.map((f) => [f, Math.max(0, after.cpu![f] - before.cpu![f])])) as unknown as CpuTimes;
    const all = CPU_FIELDS.reduce((n, f) => n + delta[f], 0);
    // An interval shorter than one tick has no split to give.
    if (all > 0) {
      cpuTime = Object.fromEntries(CPU_FIELDS.map((f) => [f, delta[f] / all])) as unknown as CpuTimes;
      if (before.process && after.process) {
        const busy = all - delta.idle - delta.iowait;
        const self = Math.max(0, after.process.self - before.process.self);
        const children = Math.max(0, after.process.children - before.process.children);
        // Ticks are sampled separately per process and per CPU: clamp the rest at 0.
        const share = (t: number) => Math.min(1, t / all);
        processes = { self: share(self), children: share(children), others: share(Math.max(0, busy - self - children)) };
      }
    }
  }
  let pressure: Disturbance['pressure'] = 'unreadable';
  if (before.pressure !== 'unreadable' && after.pressure !== 'unreadable') {
    pressure = {};
    const us = intervalMs * 1000;
    for (const r of PRESSURE_RESOURCES) {
      const a = before.pressure[r];
      const b = after.pressure[r];
      if (!a || !b) continue;
      const some = Math.max(0, b.some.total - a.some.total);
      const full = a.full && b.full ? Math.max(0, b.full.total - a.full.total) : null;
      const share = (t: number) => (us > 0 ? Math.min(1, t / us) : 0);
      pressure[r] = {
        someAvg10Before: a.some.avg10,
        someAvg10After: b.some.avg10,
        someShare: share(some),
        fullShare: full === null ? null : share(full),
        someTotalUs: some,
        fullTotalUs: full,
      };
    }
  }
  const record: Omit<Disturbance, 'flags'> = {
    intervalMs,
    cpus: after.cpus,
    load: before.load && after.load ? { before: before.load, after: after.load } : 'unreadable',
    cpuTime,
    processes,
    cpuFreqMHz: before.freqKHz !== 'unreadable' && after.freqKHz !== 'unreadable' ? { before: range(before.freqKHz), after: range(after.freqKHz) } : 'unreadable',
    pressure,
  };
  return { ...record, flags: disturbanceFlags(record) };
}

/** Reads the machine now; call `end()` when the suite is over for its record. */
export function watchDisturbance(src: SnapshotSource = realSource): { end(): Disturbance } {
  const before = snapshot(src);
  return { end: () => disturbance(before, snapshot(src)) };
}
