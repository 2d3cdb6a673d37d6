// mirrorlab fuzz on the host: its arguments (exit 2 before anything boots),
// the fuzzer's call sequence as a function of the seed alone (--dry-run of
// the real binary, built from kernel-patches/fuzz/mlfuzz.c), the fuzzer run
// against /dev/null (every ioctl refused with ENOTTY, every memory operation
// made), and the detector's judgement of logs, pins and memory.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands.js';
import { ensureFuzzer } from '../../src/fuzz/build.js';
import { freeWithPerCpuKiB, leaks, logSince, parseFuzzerOutput, perCpuFreeKiB, procField, scanKernelLog, type Snapshot } from '../../src/fuzz/detect.js';
import { repoRoot } from '../../src/paths.js';
import { runPassed, type FuzzRun, type TargetResult } from '../../src/fuzz/run.js';

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
    expect(await run(['fuzz', '--corpus', 'x'])).toBe(2);
    const text = err.join('\n');
    expect(text).toContain('--calls must be an integer >= 1, got "0"');
    expect(text).toContain('--threads must be an integer from 1 to 64, got 65');
    expect(text).toMatch(/unknown kernel "9\.9"/);
    expect(text).toContain('unknown option --corpus');
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
    expect(dry('--target', 'test_hmm', '--calls', '5', '--seed', '7', '--threads', '2').split('\n')[0]).toBe('mlfuzz: target test_hmm seed 7 threads 2 calls 5 device (dry run) device-backing none');
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
    expect(p).toEqual({ calls: 10, seconds: 0.125, finished: true, errnos: { MIRRORDRM_USERPTR: { ok: 3, EINVAL: 2 } }, reports: [{ thread: 1, call: 517, seed: '9', line: 'WARNING: at foo' }] });
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
    const target: TargetResult = { target: 'fakevram', calls: 10, seconds: 1, callsPerSecond: 10, errnos: {}, reports: [], leaks: [], exitStatus: 0, pins: { acquired: 0, released: 0 }, memAvailableKiB: one, freeKiB: one, perCpuFreeKiB: one };
    const clean: FuzzRun = { kernel: '7.2' as FuzzRun['kernel'], release: 'r', accel: 'tcg', cpus: 2, seed: 1, threads: 2, control: [{ kind: 'warning', line: 'WARNING: x' }], leakControl: ['memory: MemFree ...'], kcov: '', targets: [target] };
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
