// The machine-state record of a suite run (src/measure/disturbance.ts):
// parsing /proc/stat, /proc/pressure, /proc/loadavg and /proc/self/stat as
// this machine wrote them (test/fixtures/proc-this-machine, kernel 6.18, 2
// CPUs, no cpufreq), the edge cases (no pressure dir, no cpufreq, old stat
// lines, command names with parentheses), the record over an interval and
// the thresholds that flag it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  disturbance,
  disturbanceFlags,
  parseLoadavg,
  parsePressure,
  parseProcessStat,
  parseProcStat,
  snapshot,
  THRESHOLDS,
  type Disturbance,
  type MachineSnapshot,
  type SnapshotSource,
} from '../../src/measure/disturbance.js';
import { repoRoot } from '../../src/paths.js';

const fixture = (name: string) => readFileSync(path.join(repoRoot, 'test/fixtures/proc-this-machine', name), 'utf8');

/** A SnapshotSource from a map of file -> content; anything else is ENOENT, as on a kernel without it. */
function source(files: Record<string, string>): SnapshotSource {
  const missing = (f: string) => Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
  return {
    read: (f) => {
      if (!(f in files)) throw missing(f);
      return files[f];
    },
    list: (d) => {
      const names = Object.keys(files)
        .filter((f) => f.startsWith(`${d}/`))
        .map((f) => f.slice(d.length + 1).split('/')[0]);
      if (!names.length) throw missing(d);
      return [...new Set(names)];
    },
  };
}

const thisMachine = {
  '/proc/stat': fixture('stat'),
  '/proc/loadavg': fixture('loadavg'),
  '/proc/self/stat': fixture('self-stat'),
  '/proc/pressure/cpu': fixture('pressure-cpu'),
  '/proc/pressure/memory': fixture('pressure-memory'),
  '/proc/pressure/io': fixture('pressure-io'),
  // cpu0 and cpu1 exist, without cpufreq (this VM has none)
  '/sys/devices/system/cpu/cpu0/online': '1\n',
  '/sys/devices/system/cpu/cpu1/online': '1\n',
  '/sys/devices/system/cpu/possible': '0-1\n',
};

describe('parsers, on files from this machine', () => {
  it('/proc/stat: the aggregate cpu line in ticks, and the online CPUs', () => {
    expect(parseProcStat(fixture('stat'))).toEqual({
      cpu: { user: 969224, nice: 25022, system: 331511, idle: 1713003, iowait: 7499, irq: 0, softirq: 10776, steal: 0 },
      cpus: 2,
    });
  });

  it('/proc/pressure: some and full lines, avg10/60/300 and the total in microseconds', () => {
    expect(parsePressure(fixture('pressure-cpu'))).toEqual({
      some: { avg10: 75.7, avg60: 78.28, avg300: 41.33, total: 2660258433 },
      full: { avg10: 0, avg60: 0, avg300: 0, total: 0 },
    });
    expect(parsePressure(fixture('pressure-io'))).toEqual({ some: { avg10: 0.1, avg60: 0.17, avg300: 0.06, total: 104866340 }, full: { avg10: 0, avg60: 0, avg300: 0, total: 44085968 } });
  });

  it('/proc/loadavg and /proc/self/stat', () => {
    expect(parseLoadavg(fixture('loadavg'))).toEqual([6.39, 3.59, 1.6]);
    // cat's own stat line: utime 0, stime 0, cutime 0, cstime 0
    expect(parseProcessStat(fixture('self-stat'))).toEqual({ self: 0, children: 0 });
  });
});

describe('parsers, edge cases', () => {
  it('a stat line of an old kernel without steal reads steal 0; a malformed one is an error', () => {
    expect(parseProcStat('cpu  10 0 5 100 1 0 0\n').cpu).toEqual({ user: 10, nice: 0, system: 5, idle: 100, iowait: 1, irq: 0, softirq: 0, steal: 0 });
    expect(() => parseProcStat('intr 1 2 3\n')).toThrow('no aggregate "cpu" line');
    expect(() => parseProcStat('cpu  10 x 5 100\n')).toThrow('malformed cpu line');
  });

  it('cpu pressure of kernels before 5.13 has no full line', () => {
    expect(parsePressure('some avg10=1.50 avg60=0.20 avg300=0.05 total=12345\n')).toEqual({ some: { avg10: 1.5, avg60: 0.2, avg300: 0.05, total: 12345 }, full: null });
    expect(() => parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n')).toThrow('no "some" line');
    expect(() => parsePressure('some avg10=1.0 avg60=0.2 total=5\n')).toThrow('no avg300');
  });

  it('a command name with spaces and parentheses does not shift the fields', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3)); // field 3 onwards: 3, 4, ... 52
    fields[0] = 'S';
    // utime, stime, cutime, cstime are fields 14..17
    expect(parseProcessStat(`123 (node (x) y) ${fields.join(' ')}`)).toEqual({ self: 14 + 15, children: 16 + 17 });
  });

  it('no /proc/pressure (CONFIG_PSI=n) and no cpufreq: both unreadable, the rest read', () => {
    const { '/proc/pressure/cpu': _c, '/proc/pressure/memory': _m, '/proc/pressure/io': _i, ...rest } = thisMachine;
    const s = snapshot(source(rest));
    expect(s.pressure).toBe('unreadable');
    expect(s.freqKHz).toBe('unreadable');
    expect(s.load).toEqual([6.39, 3.59, 1.6]);
    expect(s.cpus).toBe(2);
  });

  it('cpufreq where the CPUs have it, in kHz; a CPU without it is left out', () => {
    const s = snapshot(
      source({
        ...thisMachine,
        '/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq': '2400000\n',
        '/sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq': '800000\n',
        '/sys/devices/system/cpu/cpu2/online': '0\n',
      }),
    );
    expect(s.freqKHz).toEqual([2400000, 800000]);
  });

  it('nothing readable at all: every part unreadable, one CPU assumed', () => {
    const s = snapshot(source({}));
    expect({ ...s, atMs: 0 }).toEqual({ atMs: 0, load: null, cpu: null, cpus: 1, freqKHz: 'unreadable', pressure: 'unreadable', process: null });
    const d = disturbance(s, { ...s, atMs: s.atMs + 1000 });
    expect(d).toMatchObject({ load: 'unreadable', cpuTime: 'unreadable', processes: 'unreadable', cpuFreqMHz: 'unreadable', pressure: 'unreadable', flags: [] });
  });
});

/** A reading of this machine (the fixtures), moved on by `after` where given. */
function reading(atMs: number, change: Partial<MachineSnapshot> = {}): MachineSnapshot {
  return { ...snapshot(source(thisMachine)), atMs, ...change };
}

describe('the record over a suite', () => {
  const before = reading(1000);
  const cpu = before.cpu!;
  const pressure = before.pressure as Exclude<MachineSnapshot['pressure'], 'unreadable'>;
  // 2 s on 2 CPUs at USER_HZ 100: 400 ticks. user 150, system 50, idle 190, steal 10.
  const after = reading(3000, {
    cpu: { ...cpu, user: cpu.user + 150, system: cpu.system + 50, idle: cpu.idle + 190, steal: cpu.steal + 10 },
    load: [1.5, 1.0, 0.5],
    process: { self: 120, children: 30 },
    pressure: {
      ...pressure,
      cpu: { some: { ...pressure.cpu!.some, avg10: 4, total: pressure.cpu!.some.total + 100_000 }, full: pressure.cpu!.full },
      memory: { some: { ...pressure.memory!.some, total: pressure.memory!.some.total + 500_000 }, full: { ...pressure.memory!.full!, total: pressure.memory!.full!.total + 20_000 } },
    },
  });
  const d = disturbance({ ...before, load: [0.5, 0.4, 0.3], process: { self: 0, children: 0 } }, after);

  it('CPU time as fractions of the interval, and who used it', () => {
    expect(d.intervalMs).toBe(2000);
    expect(d.cpus).toBe(2);
    expect(d.cpuTime).toEqual({ user: 150 / 400, nice: 0, system: 50 / 400, idle: 190 / 400, iowait: 0, irq: 0, softirq: 0, steal: 10 / 400 });
    // busy = 400 - 190 idle = 210; this process 120, its children 30, others 60
    expect(d.processes).toEqual({ self: 120 / 400, children: 30 / 400, others: 60 / 400 });
  });

  it('pressure as shares of the wall time from the total deltas, avg10 before and after', () => {
    const p = d.pressure as Exclude<Disturbance['pressure'], 'unreadable'>;
    expect(p.cpu).toEqual({ someAvg10Before: 75.7, someAvg10After: 4, someShare: 0.05, fullShare: 0, someTotalUs: 100_000, fullTotalUs: 0 });
    expect(p.memory).toEqual({ someAvg10Before: 0, someAvg10After: 0, someShare: 0.25, fullShare: 0.01, someTotalUs: 500_000, fullTotalUs: 20_000 });
    expect(p.io).toMatchObject({ someShare: 0, someTotalUs: 0 });
    expect(d.load).toEqual({ before: [0.5, 0.4, 0.3], after: [1.5, 1.0, 0.5] });
    expect(d.cpuFreqMHz).toBe('unreadable');
  });

  it('is flagged for memory pressure only (25% > 10%); steal 2.5%, load 1.5 on 2 CPUs and cpu pressure 5% pass', () => {
    expect(d.flags).toEqual(['memory pressure: tasks stalled on memory 25.0% of the suite > 10.0%']);
  });
});

describe('thresholds', () => {
  const calm: Omit<Disturbance, 'flags'> = {
    intervalMs: 1000,
    cpus: 2,
    load: { before: [0.5, 0.5, 0.5], after: [0.5, 0.5, 0.5] },
    cpuTime: { user: 0.5, nice: 0, system: 0, idle: 0.5, iowait: 0, irq: 0, softirq: 0, steal: 0 },
    processes: { self: 0.5, children: 0, others: 0 },
    cpuFreqMHz: 'unreadable',
    pressure: {
      cpu: { someAvg10Before: 0, someAvg10After: 0, someShare: 0, fullShare: 0, someTotalUs: 0, fullTotalUs: 0 },
      memory: { someAvg10Before: 0, someAvg10After: 0, someShare: 0, fullShare: 0, someTotalUs: 0, fullTotalUs: 0 },
    },
  };
  const cpuTime = (steal: number) => ({ ...(calm.cpuTime as object), idle: 0.5 - steal, steal }) as Disturbance['cpuTime'];
  const psi = (r: 'cpu' | 'memory', someShare: number, someAvg10After = 0) => ({
    ...(calm.pressure as object),
    [r]: { someAvg10Before: 0, someAvg10After, someShare, fullShare: 0, someTotalUs: someShare * 1e6, fullTotalUs: 0 },
  });

  it('states them', () => {
    expect(THRESHOLDS).toEqual({ stealShare: 0.05, loadPerCpu: 1, cpuPressureShare: 0.1, memoryPressureShare: 0.1 });
  });

  it('a calm run, and runs at each threshold exactly, are not flagged', () => {
    expect(disturbanceFlags(calm)).toEqual([]);
    expect(disturbanceFlags({ ...calm, cpuTime: cpuTime(0.05) })).toEqual([]);
    expect(disturbanceFlags({ ...calm, load: { before: [2, 1, 1], after: [2, 1, 1] } })).toEqual([]);
    expect(disturbanceFlags({ ...calm, pressure: psi('cpu', 0.1, 10) })).toEqual([]);
    expect(disturbanceFlags({ ...calm, pressure: psi('memory', 0.1) })).toEqual([]);
  });

  it('each threshold passed is one flag, in words', () => {
    expect(disturbanceFlags({ ...calm, cpuTime: cpuTime(0.073) })).toEqual(['steal 7.3% of CPU time > 5.0%']);
    // before or after the suite: the higher 1-minute load counts
    expect(disturbanceFlags({ ...calm, load: { before: [2.01, 1, 1], after: [0.2, 1, 1] } })).toEqual(['1-min load 2.01 > 2 (CPUs)']);
    expect(disturbanceFlags({ ...calm, pressure: psi('cpu', 0.5) })).toEqual(['cpu pressure: tasks waited for a CPU 50.0% of the suite (avg10 0.0%) > 10.0%']);
    // little waiting inside a short suite, but a busy last 10 s (avg10 at its end) still flags it
    expect(disturbanceFlags({ ...calm, pressure: psi('cpu', 0, 12.5) })).toEqual(['cpu pressure: tasks waited for a CPU 0.0% of the suite (avg10 12.5%) > 10.0%']);
    expect(disturbanceFlags({ ...calm, pressure: psi('memory', 0.3) })).toEqual(['memory pressure: tasks stalled on memory 30.0% of the suite > 10.0%']);
    expect(disturbanceFlags({ ...calm, cpuTime: cpuTime(0.2), load: { before: [3, 1, 1], after: [3, 1, 1] } })).toHaveLength(2);
  });

  it('unreadable parts flag nothing', () => {
    expect(disturbanceFlags({ ...calm, load: 'unreadable', cpuTime: 'unreadable', pressure: 'unreadable' })).toEqual([]);
  });
});
