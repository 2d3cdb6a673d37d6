// mirrorlab fuzz on the host: its arguments (exit 2 before anything boots),
// the fuzzer's call sequence as a function of the seed alone (--dry-run of
// the real binary, built from kernel-patches/fuzz/mlfuzz.c), the fuzzer run
// against /dev/null (every ioctl refused with ENOTTY, every memory operation
// made), and the detector's judgement of logs, pins and memory.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands.js';
import { ensureFuzzer } from '../../src/fuzz/build.js';
import { freeWithPerCpuKiB, leaks, logSince, parseFuzzerOutput, perCpuFreeKiB, procField, scanKernelLog, type Snapshot } from '../../src/fuzz/detect.js';
import { repoRoot } from '../../src/paths.js';
import { runPassed, type FuzzRun, type TargetResult } from '../../src/fuzz/run.js';
import { corpusFile, readCorpus, writeCorpus } from '../../src/fuzz/cli.js';

describe('mirrorlab fuzz arguments', () => {
  afterEach(() => vi.restoreAllMocks());
  const stderr = (): string[] => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    return lines;
  };

  it('refuses an unknown target, naming the known ones', async () => {
    const err = stderr();
    expect(await run(['fuzz', '--target', 'i915'])).toBe(2);
    expect(err.join('\n')).toContain('mirrorlab fuzz: unknown --target "i915" (one of: mirrordrm, fakevram, test_hmm, all)');
  });

  it('refuses zero calls, a negative seed, 0 or 65 threads, an unknown kernel and option', async () => {
    const err = stderr();
    expect(await run(['fuzz', '--calls', '0'])).toBe(2);
    expect(await run(['fuzz', '--seed', '-1'])).toBe(2);
    expect(await run(['fuzz', '--seed', '1.5'])).toBe(2);
    expect(await run(['fuzz', '--threads', '0'])).toBe(2);
    expect(await run(['fuzz', '--threads', '65'])).toBe(2);
    expect(await run(['fuzz', '--kernel', '9.9'])).toBe(2);
    expect(await run(['fuzz', '--corpora', 'x'])).toBe(2);
    expect(await run(['fuzz', '--coverage', 'sometimes'])).toBe(2);
    expect(await run(['fuzz', '--kernel', '7.2', '--corpus', '/dev/null'])).toBe(2);
    const text = err.join('\n');
    expect(text).toContain('--calls must be an integer >= 1, got "0"');
    expect(text).toContain('--threads must be an integer from 1 to 64, got 65');
    expect(text).toMatch(/unknown kernel "9\.9"/);
    expect(text).toContain('unknown option --corpora');
    expect(text).toMatch(/--coverage.*sometimes/);
    expect(text).toContain('--corpus /dev/null: not a writable directory');
  });
});

describe('mlfuzz on the host', () => {
  let bin = '';
  beforeAll(() => {
    bin = ensureFuzzer().binary;
  }, 120_000);
  const dry = (...args: string[]): string => execFileSync(bin, ['--dry-run', ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });

  it('gives the same call sequence for the same seed, another for another seed', () => {
    const a = dry('--target', 'mirrordrm', '--calls', '2000', '--seed', '42', '--threads', '3');
    const b = dry('--target', 'mirrordrm', '--calls', '2000', '--seed', '42', '--threads', '3');
    const c = dry('--target', 'mirrordrm', '--calls', '2000', '--seed', '43', '--threads', '3');
    const calls = a.split('\n').filter((l) => l.startsWith('call '));
    expect(calls).toHaveLength(2000);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    // Each thread's sequence depends on the seed and its number, not on how many threads run:
    // thread 0 of 3 threads draws what thread 0 of 1 thread draws, call for call.
    const t0of3 = calls.filter((l) => l.startsWith('call t0 ')).map((l) => l.replace(/^call t0 /, ''));
    const alone = dry('--target', 'mirrordrm', '--calls', String(t0of3.length), '--seed', '42', '--threads', '1').split('\n').filter((l) => l.startsWith('call t0 ')).map((l) => l.replace(/^call t0 /, ''));
    expect(alone).toEqual(t0of3);
    // --first-thread 2 alone replays thread 2's calls.
    const t2of3 = calls.filter((l) => l.startsWith('call t2 '));
    const t2alone = dry('--target', 'mirrordrm', '--calls', String(t2of3.length), '--seed', '42', '--threads', '1', '--first-thread', '2').split('\n').filter((l) => l.startsWith('call '));
    expect(t2alone).toEqual(t2of3);
    // Every ioctl of the target, and the memory operations, are drawn.
    for (const op of ['MIRRORDRM_USERPTR', 'MIRRORDRM_ACCESS', 'MIRRORDRM_SNAPSHOT', 'MIRRORDRM_INVAL_READ', 'MIRRORDRM_STATS', 'MIRRORDRM_SET_BEHAVIOUR', 'MIRRORDRM_MIGRATE', 'MIRRORDRM_EXCLUSIVE', 'MIRRORDRM_DEVICE_INFO', 'DRM_VERSION', 'DRM_GEM_CLOSE', 'DRM_GET_CAP', 'DRM_PRIME_HANDLE_TO_FD', 'DRM_PRIME_FD_TO_HANDLE', 'mmap', 'munmap', 'mprotect', 'madv_dontneed', 'mremap', 'fork', 'reopen']) {
      expect(calls.some((l) => l.includes(` ${op} `)), op).toBe(true);
    }
    for (const b of ['anon', 'thp', 'hugetlb', 'shmem', 'read-only', 'prot-none', 'device']) expect(a).toContain(`backing=${b} `);
    for (const m of ['zero', 'huge', 'overflow', 'misalign', 'stale', 'flags', 'hole', 'random']) expect(a).toContain(`mut=${m} `);
  });

  it('the first line of a dry run names target, seed, threads and calls', () => {
    expect(dry('--target', 'test_hmm', '--calls', '5', '--seed', '7', '--threads', '2').split('\n')[0]).toBe('mlfuzz: target test_hmm seed 7 threads 2 calls 5 device (dry run) device-backing none coverage off');
  });

  it('--corpus: its calls for the target come first, in order, then the seed\'s draws; other targets\' calls are skipped and counted', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlfuzz-corpus-'));
    try {
      const mine = dry('--target', 'mirrordrm', '--calls', '6', '--seed', '11').split('\n').filter((l) => l.startsWith('call '));
      const theirs = dry('--target', 'fakevram', '--calls', '40', '--seed', '11').split('\n').filter((l) => / FAKEVRAM_/.test(l)).slice(0, 2);
      expect(theirs).toHaveLength(2);
      // the forms the fuzzer prints them in: a dry run's, a kept call's, a report's recent calls; comments and blank lines
      const file = path.join(dir, 'c');
      fs.writeFileSync(file, ['# from a run', mine[4], `keep new=7 ${theirs[0]}`, '', `recent ${mine[2]}`, theirs[1]].join('\n') + '\n');
      const out = dry('--target', 'mirrordrm', '--calls', '5', '--seed', '11', '--corpus', file).split('\n');
      expect(out[0]).toBe(`corpus loaded=2 other-target=2 file=${file}`);
      const calls = out.filter((l) => l.startsWith('call ')).map((l) => l.replace(/^call t\d+ #\d+ /, ''));
      const strip = (l: string): string => l.replace(/^call t\d+ #\d+ /, '');
      // the two corpus calls, then the seed's first three: the budget counts both
      expect(calls).toEqual([strip(mine[4]), strip(mine[2]), ...mine.slice(0, 3).map(strip)]);
      fs.appendFileSync(file, 'call t0 #9 MIRRORDRM_ACCESS slot=99 backing=anon mut=none field=0 a=0 b=0 c=0 d=0\n');
      const bad = spawnSync(bin, ['--dry-run', '--target', 'mirrordrm', '--corpus', file], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain(`--corpus ${file} line 7 is not a call line`);
      const missing = spawnSync(bin, ['--dry-run', '--target', 'mirrordrm', '--corpus', path.join(dir, 'none')], { encoding: 'utf8' });
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain('No such file or directory');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--coverage where the kernel has no KCOV: exit 1 naming what is missing, before any call', (ctx) => {
    if (fs.existsSync('/sys/kernel/debug/kcov')) ctx.skip('this kernel has KCOV: the refusal cannot be seen here');
    const r = spawnSync(bin, ['--target', 'fakevram', '--calls', '10', '--coverage', '--device', '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('mlfuzz: --coverage needs KCOV (CONFIG_KCOV and debugfs): /sys/kernel/debug/kcov:');
    expect(r.stdout).not.toMatch(/^errno /m);
  });

  it('runs against /dev/null: every ioctl ENOTTY, the histogram adds up to the calls', () => {
    const out = execFileSync(bin, ['--target', 'fakevram', '--calls', '3000', '--seed', '5', '--threads', '2', '--device', '/dev/null'], { encoding: 'utf8' });
    const p = parseFuzzerOutput(out);
    expect(p.finished).toBe(true);
    expect(p.calls).toBe(3000);
    const total = Object.values(p.errnos).flatMap((e) => Object.values(e)).reduce((a, b) => a + b, 0);
    expect(total).toBe(3000);
    for (const op of ['FAKEVRAM_INFO', 'FAKEVRAM_SET_POLICY', 'FAKEVRAM_GET_POLICY', 'FAKEVRAM_COUNTERS', 'FAKEVRAM_EVICT', 'FAKEVRAM_ACCESS']) {
      expect(Object.keys(p.errnos[op]), op).toEqual(['ENOTTY']);
    }
    expect(p.errnos.mmap.ok).toBeGreaterThan(0);
    expect(p.errnos.fork.ok).toBeGreaterThan(0);
    expect(p.reports).toEqual([]);
  });

  it('refuses bad arguments with exit status 2', () => {
    for (const args of [['--target', 'nope'], ['--calls', 'x', '--target', 'fakevram'], ['--target', 'fakevram', '--threads', '0'], ['--target', 'fakevram', '--threads', '4294967297'], ['--target', 'fakevram', '--first-thread', '64'], []]) {
      const r = spawnSync(bin, args, { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^mlfuzz: /);
    }
  });
});

describe('the detector', () => {
  const WARN72 = '[   21.061732] WARNING: mltrigger.c:44 at mltrigger_write+0x10b/0x170 [mltrigger], CPU#0: sh/141';

  it('flags WARNING, Oops, BUG, lockdep and general protection lines, and nothing else', () => {
    const log = [
      '[    1.0] mirrordrm: loaded',
      WARN72,
      '[   28.356231] BUG: unable to handle page fault for address: ffff897cfff67000',
      '[   28.431627] Oops: Oops: 0000 [#1] SMP NOPTI',
      '[    5.0] WARNING: possible circular locking dependency detected',
      '[    6.0] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]',
      '[    7.0] mlfuzz: vmalloc error: size 17289296864917458944, exceeds total pages',
    ].join('\n');
    expect(scanKernelLog(log).map((r) => r.kind)).toEqual(['warning', 'bug', 'oops', 'lockdep', 'gpf']);
    expect(scanKernelLog(log)[0].line).toBe(WARN72.replace(/^\[[ \d.]+\] /, ''));
  });

  it('reads only the log after the marker', () => {
    const dmesg = `${WARN72}\n[ 30.0] mirrorlab-fuzz 1-2 mirrordrm\n[ 31.0] all quiet`;
    expect(scanKernelLog(logSince(dmesg, 'mirrorlab-fuzz 1-2 mirrordrm'))).toEqual([]);
  });

  it('parses the fuzzer output: histogram, reports with seed and call index, totals', () => {
    const p = parseFuzzerOutput(['mlfuzz: target mirrordrm seed 9 threads 2 calls 10', 'errno MIRRORDRM_USERPTR ok 3', 'errno MIRRORDRM_USERPTR EINVAL 2', 'report thread=1 call=517 seed=9 WARNING: at foo', 'done calls=10 seconds=0.125 threads=2 seed=9'].join('\n'));
    expect(p).toEqual({ calls: 10, seconds: 0.125, finished: true, errnos: { MIRRORDRM_USERPTR: { ok: 3, EINVAL: 2 } }, reports: [{ thread: 1, call: 517, seed: '9', line: 'WARNING: at foo' }], recent: [], loaded: null, kept: [], coverage: null });
  });

  it('parses a coverage-guided run: the corpus loaded, the calls kept, a report\'s recent calls, the coverage totals', () => {
    const c1 = 'call t0 #3 MIRRORDRM_ACCESS slot=1 backing=anon mut=none field=0 a=0000000000000001 b=0000000000000002 c=0000000000000003 d=0000000000000004';
    const c2 = 'call t1 #8 mmap slot=2 backing=thp mut=zero field=1 a=0000000000000001 b=0000000000000002 c=0000000000000003 d=0000000000000004';
    const p = parseFuzzerOutput(['corpus loaded=4 other-target=1 file=/tmp/x', 'mlfuzz: target mirrordrm seed 9 threads 2 calls 10 device /dev/dri/renderD128 device-backing /dev/fakevram0 coverage kcov', `keep new=120 ${c1}`, `keep new=3 ${c2}`, 'report thread=1 call=8 seed=9 BUG: KASAN: use-after-free', `recent ${c2}`, 'coverage edges=5123 pcs=2877 kept=2 corpus=6 loaded=4 full=0', 'done calls=10 seconds=1.5 threads=2 seed=9'].join('\n'));
    expect(p.loaded).toEqual({ entries: 4, otherTarget: 1 });
    expect(p.kept).toEqual([{ newEdges: 120, call: c1 }, { newEdges: 3, call: c2 }]);
    expect(p.recent).toEqual([c2]);
    expect(p.reports).toEqual([{ thread: 1, call: 8, seed: '9', line: 'BUG: KASAN: use-after-free' }]);
    expect(p.coverage).toEqual({ edges: 5123, pcs: 2877, kept: 2, corpus: 6, loaded: 4, full: 0 });
  });

  it('a corpus directory gains the kept and recent calls of a run, each call once whatever thread and index made it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-corpus-'));
    try {
      const call = (t: number, i: number, a: string): string => `call t${t} #${i} MIRRORDRM_ACCESS slot=1 backing=anon mut=none field=0 a=${a} b=0000000000000002 c=0000000000000003 d=0000000000000004`;
      const none = { before: null, after: null };
      const target = (kept: string[], recent: string[]): TargetResult => ({ target: 'mirrordrm', calls: 10, seconds: 1, callsPerSecond: 10, errnos: {}, reports: [], leaks: [], coverage: null, kept, loaded: 0, recent, exitStatus: 0, pins: { acquired: null, released: null }, memAvailableKiB: none, freeKiB: none, perCpuFreeKiB: none });
      const runOf = (t: TargetResult): FuzzRun => ({ kernel: '7.2-debug' as FuzzRun['kernel'], release: 'r', accel: 'tcg', cpus: 2, seed: 1, threads: 2, control: [], leakControl: [], kcov: '', coverage: true, targets: [t] });
      writeCorpus(dir, runOf(target([call(0, 1, '01'), call(1, 5, '02')], [])));
      writeCorpus(dir, runOf(target([call(0, 9, '03'), call(1, 2, '01')], [call(0, 8, '02'), call(0, 9, '04')])));
      const file = corpusFile(dir, '7.2-debug' as FuzzRun['kernel'], 'mirrordrm');
      expect(file).toBe(path.join(dir, '7.2-debug-mirrordrm.corpus'));
      expect(fs.readFileSync(file, 'utf8')).toBe([call(0, 1, '01'), call(1, 5, '02'), call(0, 9, '04'), call(0, 9, '03')].join('\n') + '\n');
      expect(readCorpus(dir, '7.2-debug' as FuzzRun['kernel'], ['mirrordrm', 'fakevram'])).toEqual({ mirrordrm: [call(0, 1, '01'), call(1, 5, '02'), call(0, 9, '04'), call(0, 9, '03')] });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('flags unbalanced pins and memory not back beyond the tolerance', () => {
    const mem = (free: number, avail: number) => `MemTotal: 4000000 kB\nMemFree: ${free} kB\nMemAvailable: ${avail} kB\n`;
    const vm = (a: number, r: number) => `nr_free_pages 1\nnr_foll_pin_acquired ${a}\nnr_foll_pin_released ${r}\n`;
    const zone = (...counts: number[]) => counts.map((c) => `  pagesets\n    cpu: 0\n              count:    ${c}\n              high:     500\n`).join('');
    expect(leaks({ meminfo: mem(3_000_000, 3_500_000), zoneinfo: zone(10), vmstat: vm(0, 0) }, { meminfo: mem(2_990_000, 3_480_000), zoneinfo: zone(10), vmstat: vm(918, 918) })).toEqual([]);
    expect(leaks({ meminfo: mem(3_000_000, 3_500_000), zoneinfo: zone(10, 20), vmstat: vm(0, 0) }, { meminfo: mem(2_900_000, 3_400_000), zoneinfo: zone(15, 25), vmstat: vm(920, 918) })).toEqual([
      'pins: nr_foll_pin_acquired 920 != nr_foll_pin_released 918 (2 held)',
      'memory: MemFree + per-CPU free lists 2900160 kB after, 3000120 kB before: 99960 kB not back (tolerance 32768 kB; per-CPU free lists 120 -> 160 kB; no meminfo field grew by more than 1 MiB)',
      'memory: MemAvailable + per-CPU free lists 3400160 kB after, 3500120 kB before: 99960 kB not back (tolerance 32768 kB; per-CPU free lists 120 -> 160 kB; no meminfo field grew by more than 1 MiB)',
    ]);
    // A kernel without the pin counters is not a leak.
    expect(leaks({ meminfo: mem(1, 1), zoneinfo: '', vmstat: '' }, { meminfo: mem(1, 1), zoneinfo: '', vmstat: '' })).toEqual([]);
  });

  // Recorded on 7.2.13 (TCG, 2 vCPUs): /proc/meminfo and /proc/zoneinfo after
  // drop_caches, before fakevram was loaded and after 100,000 fakevram calls
  // (seed 1, two threads) and its rmmod. MemFree fell by 59912 kB; the free
  // pages on the per-CPU lists rose by 15040 pages (60160 kB): nothing leaked.
  const recorded = (name: string): Snapshot => ({
    meminfo: fs.readFileSync(path.join(repoRoot, 'test/fixtures/fuzz-7.2-fakevram', `${name}.meminfo`), 'utf8'),
    zoneinfo: fs.readFileSync(path.join(repoRoot, 'test/fixtures/fuzz-7.2-fakevram', `${name}.zoneinfo`), 'utf8'),
    vmstat: '',
  });

  it('counts the free pages on the per-CPU lists: 100,000 fakevram calls on 7.2 left nothing behind', () => {
    const before = recorded('before');
    const after = recorded('after-100k');
    expect(procField(before.meminfo, 'MemFree')! - procField(after.meminfo, 'MemFree')!).toBe(59912);
    expect(perCpuFreeKiB(before.zoneinfo)).toBe(26080);
    expect(perCpuFreeKiB(after.zoneinfo)).toBe(86240);
    expect(freeWithPerCpuKiB(after, 'MemFree')! - freeWithPerCpuKiB(before, 'MemFree')!).toBe(248);
    expect(leaks(before, after)).toEqual([]);
    // MemFree alone (the check before it counted the lists) called this a leak.
    expect(leaks({ ...before, zoneinfo: '' }, { ...after, zoneinfo: '' })).toEqual([
      'memory: MemFree + per-CPU free lists 3648468 kB after, 3708380 kB before: 59912 kB not back (tolerance 32768 kB; per-CPU free lists 0 -> 0 kB; no meminfo field grew by more than 1 MiB)',
      'memory: MemAvailable + per-CPU free lists 3500160 kB after, 3560056 kB before: 59896 kB not back (tolerance 32768 kB; per-CPU free lists 0 -> 0 kB; no meminfo field grew by more than 1 MiB)',
    ]);
  });

  it('flags the same recorded figures with 64 MiB leaked (what mltrigger "leak" does), naming what grew', () => {
    const before = recorded('before');
    const after = recorded('after-100k');
    const lose = (text: string, field: string, kib: number) => text.replace(new RegExp(`^(${field}:\\s+)(\\d+)`, 'm'), (_, head: string, n: string) => `${head}${Number(n) + kib}`);
    let meminfo = lose(after.meminfo, 'MemFree', -65536);
    meminfo = lose(meminfo, 'MemAvailable', -65536);
    meminfo = lose(meminfo, 'SUnreclaim', 65536);
    expect(leaks(before, { ...after, meminfo })).toEqual([
      'memory: MemFree + per-CPU free lists 3669172 kB after, 3734460 kB before: 65288 kB not back (tolerance 32768 kB; per-CPU free lists 26080 -> 86240 kB; SUnreclaim +66100 kB)',
      'memory: MemAvailable + per-CPU free lists 3520864 kB after, 3586136 kB before: 65272 kB not back (tolerance 32768 kB; per-CPU free lists 26080 -> 86240 kB; SUnreclaim +66100 kB)',
    ]);
  });

  it('passes a run only with the control flagged and every target clean', () => {
    const one = { before: 1, after: 1 };
    const target: TargetResult = { target: 'fakevram', calls: 10, seconds: 1, callsPerSecond: 10, errnos: {}, reports: [], leaks: [], coverage: null, kept: [], loaded: 0, recent: [], exitStatus: 0, pins: { acquired: 0, released: 0 }, memAvailableKiB: one, freeKiB: one, perCpuFreeKiB: one };
    const clean: FuzzRun = { kernel: '7.2' as FuzzRun['kernel'], release: 'r', accel: 'tcg', cpus: 2, seed: 1, threads: 2, control: [{ kind: 'warning', line: 'WARNING: x' }], leakControl: ['memory: MemFree ...'], kcov: '', coverage: false, targets: [target] };
    expect(runPassed(clean)).toBe(true);
    expect(runPassed({ ...clean, control: [] })).toBe(false);
    expect(runPassed({ ...clean, leakControl: [] })).toBe(false);
    expect(runPassed({ ...clean, targets: [{ ...target, reports: ['dmesg: warning: WARNING: x'] }] })).toBe(false);
    expect(runPassed({ ...clean, targets: [{ ...target, leaks: ['module fakevram: rmmod failed'] }] })).toBe(false);
    expect(runPassed({ ...clean, targets: [{ ...target, exitStatus: 137 }] })).toBe(false);
    expect(runPassed({ ...clean, fatal: 'guest died' })).toBe(false);
    expect(runPassed({ ...clean, targets: [{ ...target, skipped: 'no test_hmm.ko' }] })).toBe(true);
  });
});
