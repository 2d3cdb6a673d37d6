// The guest clock (--guest-clock icount|wall): the QEMU arguments each clock
// gives and the combinations refused, the option on every command that boots
// guests, what results files, the report and compare make of it, and the
// study's summary of run medians.
import { describe, expect, it } from 'vitest';
import { benchSpec } from '../../src/bench/cli.js';
import { formatStudy, runClock, summarizeStudy, type StudyRun } from '../../src/bench/clock-study.js';
import { kernelComparisons } from '../../src/bench/runner.js';
import { guestClockProblem } from '../../src/cli/checks.js';
import { parseCommand, UsageError, usageText } from '../../src/cli/options.js';
import { compareResults, formatCompare } from '../../src/report/compare.js';
import { renderHtml } from '../../src/report/html.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { selftestsSpec } from '../../src/selftests/cli.js';
import { vmSpec } from '../../src/vm/cli.js';
import { GuestClockError, icountArgs, TCG_CPU_MODEL } from '../../src/vm/vm.js';
import { results, type FixtureMeasurement } from '../results-fixture.js';

describe('icountArgs: the QEMU arguments of a guest clock', () => {
  it('wall adds nothing; icount counts one instruction per ns and never waits for host time when idle', () => {
    expect(icountArgs('wall', 'tcg', undefined)).toEqual([]);
    expect(icountArgs('wall', 'kvm', 'multi')).toEqual([]);
    expect(icountArgs('icount', 'tcg', undefined)).toEqual(['-icount', 'shift=0,sleep=off']);
    expect(icountArgs('icount', 'tcg', 'single')).toEqual(['-icount', 'shift=0,sleep=off']);
  });

  it('icount under KVM or multi-threaded TCG is refused with the reason', () => {
    expect(() => icountArgs('icount', 'kvm', undefined)).toThrow(GuestClockError);
    expect(() => icountArgs('icount', 'kvm', undefined)).toThrow(/icount needs TCG: KVM runs guest instructions on the host CPU/);
    expect(() => icountArgs('icount', 'tcg', 'multi')).toThrow(/icount needs single-threaded TCG: unset MIRRORLAB_TCG_THREAD=multi/);
    expect(() => icountArgs('cycles' as never, 'tcg', undefined)).toThrow('unknown guest clock "cycles" (one of: wall, icount)');
  });

  it('guestClockProblem: what the commands refuse before anything boots', () => {
    expect(guestClockProblem('wall', 'kvm', { MIRRORLAB_TCG_THREAD: 'multi' })).toBeUndefined();
    expect(guestClockProblem(undefined, 'kvm', {})).toBeUndefined();
    expect(guestClockProblem('icount', undefined, {})).toBeUndefined();
    expect(guestClockProblem('icount', 'auto', {})).toBeUndefined();
    expect(guestClockProblem('icount', 'kvm', {})).toMatch(/^--guest-clock icount needs TCG/);
    expect(guestClockProblem('icount', 'tcg', { MIRRORLAB_TCG_THREAD: 'multi' })).toBe('--guest-clock icount needs single-threaded TCG (MIRRORLAB_TCG_THREAD=multi is set)');
  });
});

describe('--guest-clock on bench, vm and selftests', () => {
  for (const spec of [benchSpec, vmSpec, selftestsSpec]) {
    it(`${spec.name}: icount and wall parsed, anything else a usage error naming both`, () => {
      expect(parseCommand(spec, ['--guest-clock', 'icount']).values['guest-clock']).toBe('icount');
      expect(parseCommand(spec, ['--guest-clock=wall']).values['guest-clock']).toBe('wall');
      expect(parseCommand(spec, []).values['guest-clock']).toBeUndefined();
      const bad = (): unknown => parseCommand(spec, ['--guest-clock', 'host']);
      expect(bad).toThrow(UsageError);
      expect(bad).toThrow('unknown --guest-clock "host" (one of: icount, wall)');
      expect(() => parseCommand(spec, ['--guest-clock'])).toThrow('--guest-clock needs a value (--guest-clock icount|wall)');
      expect(usageText(spec)).toMatch(/--guest-clock icount\|wall +the guests' clock: icount \(1 ns per guest instruction/);
    });
  }
});

/** A results file of one guest suite on `kernel` per entry, its guests on `clock`. */
function guestRun(suites: { id: string; kernel: string; clock?: 'wall' | 'icount'; cpu?: string; measurements: FixtureMeasurement[] }[]): Results {
  const r = results(suites.map(({ id, kernel, measurements }) => ({ id, kernel, measurements })));
  r.suites.forEach((s, i) => {
    const { clock, cpu } = suites[i];
    s.guest = { release: `${s.kernel}.0-fixture`, accel: 'tcg', ...(clock ? { clock } : {}), ...(cpu ? { cpu } : {}) };
  });
  return r;
}

describe('results, report and compare know the clock', () => {
  const m = (rounds: number[]): FixtureMeasurement => ({ id: 'fault-in/touch-all/per-fault/pte', unit: 'ms', rounds });

  it('results.json: clock wall or icount is valid, absent is valid (older files), anything else is not', () => {
    expect(validateResults(guestRun([{ id: 'guest/fakevram', kernel: '7.2', clock: 'icount', measurements: [m([1, 2, 3])] }]))).toEqual([]);
    expect(validateResults(guestRun([{ id: 'guest/fakevram', kernel: '7.2', measurements: [m([1, 2, 3])] }]))).toEqual([]);
    const bad = guestRun([{ id: 'guest/fakevram', kernel: '7.2', measurements: [m([1, 2, 3])] }]);
    (bad.suites[0].guest as { clock: string }).clock = 'cycles';
    expect(validateResults(bad).join('\n')).toMatch(/clock/);
  });

  it('the report names the clock beside the TCG badge of each guest figure', () => {
    const html = renderHtml(
      guestRun([
        { id: 'guest/fakevram', kernel: '6.12', clock: 'icount', measurements: [m([1, 2, 3])] },
        { id: 'guest/mirrordrm', kernel: '7.2', measurements: [m([1, 2, 3])] },
      ]),
    );
    expect(html).toContain('guest 6.12: 6.12.0-fixture, TCG, icount clock');
    expect(html).toContain('guest 7.2: 7.2.0-fixture, TCG, wall clock');
    expect(html).toMatch(/TCG \(emulated\)<\/span> <span class="badge clock icount" title="guest times count guest instructions[^"]*">icount clock<\/span>/);
    expect(html).toMatch(/TCG \(emulated\)<\/span> <span class="badge clock wall" title="guest times are host time[^"]*">wall clock<\/span>/);
    expect(html).toContain('Guest kernels: 6.12 (6.12.0-fixture, TCG, icount clock); 7.2 (7.2.0-fixture, TCG, wall clock).');
  });

  it('kernel versus kernel: no ratio between guests on different clocks, and the table says they are not comparable', () => {
    const same = guestRun([
      { id: 'guest/fakevram', kernel: '6.12', clock: 'icount', measurements: [m([4, 4, 4])] },
      { id: 'guest/fakevram', kernel: '7.2', clock: 'icount', measurements: [m([2, 2, 2])] },
    ]);
    expect(kernelComparisons(same.suites).map((k) => [k.a, k.b, k.ratio.median])).toEqual([['6.12', '7.2', 2]]);
    expect(renderHtml(same)).not.toContain('not comparable');
    const mixed = guestRun([
      { id: 'guest/fakevram', kernel: '6.12', clock: 'icount', measurements: [m([4, 4, 4])] },
      { id: 'guest/fakevram', kernel: '7.2', clock: 'wall', measurements: [m([2, 2, 2])] },
    ]);
    expect(kernelComparisons(mixed.suites)).toEqual([]);
    expect(renderHtml(mixed)).toMatch(/<h3>guest\/fakevram: ms \(warm median, rounds lo \.\. hi\) <span class="badge notcomparable"[^>]*>not comparable: guest clocks differ \(icount, wall\)<\/span><\/h3>/);
  });

  it('compare: a suite on different clocks is not judged, and the text says so; the same clock is compared as before', () => {
    const a = guestRun([
      { id: 'guest/fakevram', kernel: '7.2', clock: 'wall', measurements: [m([100, 101, 102])] },
      { id: 'guest/mirrordrm', kernel: '7.2', clock: 'icount', measurements: [m([100, 101, 102])] },
    ]);
    const b = guestRun([
      { id: 'guest/fakevram', kernel: '7.2', clock: 'icount', measurements: [m([300, 301, 302])] },
      { id: 'guest/mirrordrm', kernel: '7.2', clock: 'icount', measurements: [m([300, 301, 302])] },
    ]);
    const r = compareResults(a, b);
    expect(r.rows.map((x) => [x.suite, x.verdict])).toEqual([
      ['guest/fakevram', 'not-comparable'],
      ['guest/mirrordrm', 'slower'],
    ]);
    expect(r.regressions).toBe(1);
    expect(r.clockMismatches).toEqual([{ suite: 'guest/fakevram', kernel: '7.2', a: 'wall', b: 'icount' }]);
    expect(formatCompare(r, 'text').split('\n').slice(-2)).toEqual([
      'not comparable: guest/fakevram@7.2 ran on the wall clock in A and the icount clock in B (host time against instruction counts): its measurements are not judged',
      '1 slower, 0 faster beyond noise',
    ]);
    // a file from before the clock was recorded ran on the wall clock
    const old = guestRun([{ id: 'guest/fakevram', kernel: '7.2', measurements: [m([100, 101, 102])] }]);
    expect(compareResults(old, a).clockMismatches).toEqual([]);
    expect(compareResults(old, b).clockMismatches).toEqual([{ suite: 'guest/fakevram', kernel: '7.2', a: 'wall', b: 'icount' }]);
  });
});

describe('compare knows the guest CPU model', () => {
  const m = (rounds: number[]): FixtureMeasurement => ({ id: 'fault-in/touch-all/per-fault/pte', unit: 'ms', rounds });

  it('results.json: a cpu string is valid, as is none (older files)', () => {
    expect(validateResults(guestRun([{ id: 'guest/fakevram', kernel: '7.2', cpu: TCG_CPU_MODEL, measurements: [m([1, 2, 3])] }]))).toEqual([]);
    const bad = guestRun([{ id: 'guest/fakevram', kernel: '7.2', measurements: [m([1, 2, 3])] }]);
    (bad.suites[0].guest as { cpu: unknown }).cpu = 7;
    expect(validateResults(bad).join('\n')).toMatch(/cpu/);
  });

  it('a suite whose guests ran on another CPU model is not judged, with both models named; a file without one ran on max', () => {
    const old = guestRun([{ id: 'guest/fakevram', kernel: '7.2', measurements: [m([300, 301, 302])] }]);
    const now = guestRun([{ id: 'guest/fakevram', kernel: '7.2', cpu: TCG_CPU_MODEL, measurements: [m([30, 31, 32])] }]);
    const r = compareResults(old, now);
    expect(r.rows.map((x) => [x.verdict, x.reason])).toEqual([['not-comparable', `guest CPU models differ: -cpu max in A, -cpu ${TCG_CPU_MODEL} in B`]]);
    expect(r.improvements).toBe(0);
    expect(formatCompare(r, 'text')).toContain(`not comparable: guest/fakevram@7.2/fault-in/touch-all/per-fault/pte: guest CPU models differ: -cpu max in A, -cpu ${TCG_CPU_MODEL} in B`);
    // the same model on both sides is compared as before: 10x faster
    const again = guestRun([{ id: 'guest/fakevram', kernel: '7.2', cpu: TCG_CPU_MODEL, measurements: [m([300, 301, 302])] }]);
    expect(compareResults(again, now).rows.map((x) => x.verdict)).toEqual(['faster']);
    const plainMax = guestRun([{ id: 'guest/fakevram', kernel: '7.2', cpu: 'max', measurements: [m([300, 301, 302])] }]);
    expect(compareResults(old, plainMax).rows.map((x) => x.verdict)).toEqual(['same']);
  });
});

describe('the clock study summary', () => {
  const run = (name: string, clock: 'wall' | 'icount', pte: number, pmd: number): StudyRun => {
    const results = guestRun([
      {
        id: 'guest/fakevram',
        kernel: '7.2',
        clock,
        measurements: [
          { id: 'fault-in/touch-all/per-fault/pte', unit: 'ms', rounds: [pte] },
          { id: 'fault-in/touch-all/per-fault/pmd', unit: 'ms', rounds: [pmd] },
          { id: 'retouch/touch-all/per-fault/pte', unit: 'ms', rounds: [1] },
        ],
      },
    ]);
    results.suites[0].comparisons.push({ id: 'pte/pmd touch-all', title: 'pte over pmd', a: 'fault-in/touch-all/per-fault/pte', b: 'fault-in/touch-all/per-fault/pmd', ratio: { median: pte / pmd, lo: pte / pmd, hi: pte / pmd } });
    return { name, results };
  };

  it('per figure and clock: min, median and max of the run medians and max/min', () => {
    const runs = [run('wall-1', 'wall', 1000, 10), run('icount-1', 'icount', 500, 5), run('wall-2', 'wall', 1500, 10), run('icount-2', 'icount', 500, 5), run('wall-3', 'wall', 1200, 12)];
    expect(runClock(runs[1].results)).toBe('icount');
    const rows = summarizeStudy(runs);
    // the retouch measurement is not a study figure
    expect(rows.map((r) => r.figure)).toEqual([
      'guest/fakevram@7.2 fault-in/touch-all/per-fault/pte',
      'guest/fakevram@7.2 fault-in/touch-all/per-fault/pmd',
      'guest/fakevram@7.2 pte/pmd touch-all',
    ]);
    expect(rows[0].modes).toEqual([
      { clock: 'wall', n: 3, min: 1000, median: 1200, max: 1500, spread: 1.5 },
      { clock: 'icount', n: 2, min: 500, median: 500, max: 500, spread: 1 },
    ]);
    expect(rows[2].modes.map((x) => [x.clock, x.min, x.median, x.max])).toEqual([
      ['wall', 100, 100, 150],
      ['icount', 100, 100, 100],
    ]);
    expect(formatStudy(rows).split('\n').slice(0, 4)).toEqual([
      'figure                                                unit   clock  runs   min  median   max  max/min',
      '---------------------------------------------------  -----  ------  ----  ----  ------  ----  -------',
      'guest/fakevram@7.2 fault-in/touch-all/per-fault/pte     ms    wall     3  1000    1200  1500    1.500',
      'guest/fakevram@7.2 fault-in/touch-all/per-fault/pte     ms  icount     2   500     500   500    1.000',
    ]);
  });
});
