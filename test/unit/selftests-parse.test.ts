// Parsing the kernel selftests' output: the shapes kselftest.h and
// kselftest_harness.h really print, the older uffd-unit-tests lines, exit
// statuses, and runs that went wrong.
import { describe, expect, it } from 'vitest';
import { countOutcomes, parseHarnessList, parseKhugepaged, parseKtap, parseSuiteOutput, parseThpMigration, parseUffdUnit, suiteCases } from '../../src/selftests/parse.js';

// kselftest_harness.h (hmm-tests): "#  RUN" / "#  OK" lines, SKIP with the
// reason from SKIP(), a failure with TH_LOG lines, the harness's summary.
const HARNESS = `TAP version 13
1..5
# Starting 5 tests from 3 test cases.
#  RUN           hmm.hmm_device_private.open_close ...
#            OK  hmm.hmm_device_private.open_close
ok 1 hmm.hmm_device_private.open_close
#  RUN           hmm.hmm_device_coherent.open_close ...
#      SKIP      DEVICE_COHERENT not available
#            OK  hmm.hmm_device_coherent.open_close
ok 2 hmm.hmm_device_coherent.open_close # SKIP DEVICE_COHERENT not available
#  RUN           hmm.hmm_device_private.anon_write ...
# hmm-tests.c:310:anon_write:Expected ret (-14) == 0 (0)
# anon_write: Test terminated by assertion
#          FAIL  hmm.hmm_device_private.anon_write
not ok 3 hmm.hmm_device_private.anon_write
#  RUN           hmm2.hmm2_device_private.double_map ...
#            OK  hmm2.hmm2_device_private.double_map
ok 4 hmm2.hmm2_device_private.double_map
#  RUN           hmm.hmm_device_private.exclusive ...
#      XFAIL      known to fail
ok 5 hmm.hmm_device_private.exclusive # XFAIL known to fail
# FAILED: 3 / 5 tests passed.
# Totals: pass:2 fail:1 xfail:1 xpass:0 skip:1 error:0
`;

// kselftest.h as cow.c and gup_longterm.c use it: the name on a "# [RUN]"
// line, the result line carrying only a message.
const LIBRARY = `TAP version 13
# [INFO] detected THP size: 2048 KiB
1..4
# [RUN] Basic COW after fork() ... with base page
ok 1 No leak from parent into child
# [RUN] Basic COW after fork() ... with THP
ok 2 # SKIP MADV_HUGEPAGE failed
# [RUN] vmsplice() + unmap in child ... with base page
ok 3 # XFAIL Leak from parent into child
# [RUN] R/O-mapping a page registered as iouring fixed buffer ... with base page
not ok 4 Leak from child into parent
Bail out! 1 out of 4 tests failed
# Totals: pass:1 fail:1 xfail:1 xpass:0 skip:1 error:0
`;

describe('parseKtap', () => {
  it('reads the harness: names, SKIP and XFAIL with reasons, failures, totals', () => {
    const p = parseKtap(HARNESS)!;
    expect(p.format).toBe('ktap');
    expect(p.plan).toBe(5);
    expect(p.cases).toEqual([
      { name: 'hmm.hmm_device_private.open_close', outcome: 'pass' },
      { name: 'hmm.hmm_device_coherent.open_close', outcome: 'skip', reason: 'DEVICE_COHERENT not available' },
      { name: 'hmm.hmm_device_private.anon_write', outcome: 'fail' },
      { name: 'hmm2.hmm2_device_private.double_map', outcome: 'pass' },
      { name: 'hmm.hmm_device_private.exclusive', outcome: 'xfail', reason: 'known to fail' },
    ]);
    expect(p.totals).toEqual({ pass: 2, fail: 1, xfail: 1, xpass: 0, skip: 1, error: 0 });
    expect(countOutcomes(p.cases)).toEqual({ pass: 2, fail: 1, skip: 1, xfail: 1, xpass: 0 });
  });

  it('keeps the harness diagnostic of a failure ("not ok N name #  reason")', () => {
    const p = parseKtap('1..1\nnot ok 1 fixture.test #  Test terminated by timeout\n')!;
    expect(p.cases).toEqual([{ name: 'fixture.test', outcome: 'fail', reason: 'Test terminated by timeout' }]);
  });

  it('names library results after their [RUN] line, keeping the message as the reason', () => {
    const p = parseKtap(LIBRARY)!;
    expect(p.cases).toEqual([
      { name: 'Basic COW after fork() ... with base page', outcome: 'pass' },
      { name: 'Basic COW after fork() ... with THP', outcome: 'skip', reason: 'MADV_HUGEPAGE failed' },
      { name: 'vmsplice() + unmap in child ... with base page', outcome: 'xfail', reason: 'Leak from parent into child' },
      { name: 'R/O-mapping a page registered as iouring fixed buffer ... with base page', outcome: 'fail', reason: 'Leak from child into parent' },
    ]);
    // A bail-out after the whole plan ran is the library's way to exit with failures.
    expect(p.bailOut).toBe('1 out of 4 tests failed');
  });

  it('takes the reason from the comment before the result where the result repeats the [RUN] name (log_test_result)', () => {
    const p = parseKtap(`TAP version 13
1..3
# [RUN] Basic COW after fork() ... with swapped out base page
# MADV_PAGEOUT did not work, is swap enabled?
ok 1 # SKIP Basic COW after fork() ... with swapped out base page
# [RUN] R/O longterm GUP pin ... with memfd
# io_uring_queue_init() failed
not ok 2 R/O longterm GUP pin ... with memfd
# [RUN] Basic COW after fork() ... with base page
# [INFO] something harmless
ok 3 Basic COW after fork() ... with base page
`)!;
    expect(p.cases).toEqual([
      { name: 'Basic COW after fork() ... with swapped out base page', outcome: 'skip', reason: 'MADV_PAGEOUT did not work, is swap enabled?' },
      { name: 'R/O longterm GUP pin ... with memfd', outcome: 'fail', reason: 'io_uring_queue_init() failed' },
      { name: 'Basic COW after fork() ... with base page', outcome: 'pass' },
    ]);
  });

  it('reads nested KTAP subtests under the name of their parent', () => {
    const p = parseKtap(`KTAP version 1
1..2
    KTAP version 1
    # Subtest: migrate
    1..2
    ok 1 anon
    ok 2 thp # SKIP no THP
ok 1 migrate
ok 2 plain
`)!;
    expect(p.cases).toEqual([
      { name: 'migrate/anon', outcome: 'pass' },
      { name: 'migrate/thp', outcome: 'skip', reason: 'no THP' },
      { name: 'plain', outcome: 'pass' },
    ]);
  });

  it('keeps the cases of a nested block that never got its closing line (a crash)', () => {
    const p = parseKtap(`KTAP version 1
1..2
    KTAP version 1
    # Subtest: outer
    1..3
    ok 1 first
`)!;
    expect(p.cases).toEqual([{ name: 'outer/first', outcome: 'pass' }]);
    expect(p.plan).toBe(2);
  });

  it('reads a whole-suite skip ("1..0 # SKIP reason")', () => {
    const p = parseKtap('TAP version 13\n1..0 # SKIP Userfaultfd not supported\n')!;
    expect(p.skipAll).toBe('Userfaultfd not supported');
    expect(p.cases).toEqual([]);
  });

  it('numbers results without a name and tells repeated names apart', () => {
    const p = parseKtap('1..3\nok 1\nok 2 same\nok 3 same\n')!;
    expect(p.cases.map((c) => c.name)).toEqual(['#1', 'same', 'same (2)']);
  });

  it('names a skip without a description after its directive text, less a trailing (reason)', () => {
    const p = parseKtap('1..2\nok 1 # SKIP wp-fork-pin on anon (Possibly CONFIG_GUP_TEST missing or unprivileged)\nok 2 # SKIP MADV_HUGEPAGE failed\n')!;
    expect(p.cases).toEqual([
      { name: 'wp-fork-pin on anon', outcome: 'skip', reason: 'wp-fork-pin on anon (Possibly CONFIG_GUP_TEST missing or unprivileged)' },
      { name: 'MADV_HUGEPAGE failed', outcome: 'skip', reason: 'MADV_HUGEPAGE failed' },
    ]);
  });

  it('returns null for output without any TAP line', () => {
    expect(parseKtap('Collapse fully populated PTE table.... OK\n')).toBeNull();
  });
});

describe('parseUffdUnit', () => {
  const OUT = `Testing UFFDIO_API (with syscall)... done
Testing register-ioctls on anon... done
Testing minor on shmem... skipped [reason: feature missing]
Testing wp-fork on anon... failed [reason: Detected stale uffd-wp bit in child in present pte]
Testing sigbus on anon... 
done
Testing events on anon... Userfaults unit tests: pass=3, skip=1, fail=1 (total=6)
`;
  it('reads done / skipped / failed, on the same line or a later one', () => {
    const p = parseUffdUnit(OUT)!;
    expect(p.format).toBe('uffd-unit');
    expect(p.cases).toEqual([
      { name: 'UFFDIO_API (with syscall)', outcome: 'pass' },
      { name: 'register-ioctls on anon', outcome: 'pass' },
      { name: 'minor on shmem', outcome: 'skip', reason: 'feature missing' },
      { name: 'wp-fork on anon', outcome: 'fail', reason: 'Detected stale uffd-wp bit in child in present pte' },
      { name: 'sigbus on anon', outcome: 'pass' },
      { name: 'events on anon', outcome: 'fail', reason: 'no outcome printed (the suite ended first)' },
    ]);
    expect(p.totals).toEqual({ pass: 3, skip: 1, fail: 1 });
  });
  it('prefers KTAP where a newer uffd-unit-tests prints it', () => {
    expect(parseSuiteOutput('TAP version 13\n1..1\nok 1 uffd-unit-tests\n').format).toBe('ktap');
    expect(parseSuiteOutput('Testing x... done\n').format).toBe('uffd-unit');
    expect(parseSuiteOutput('nothing here\n').format).toBe('none');
  });
});

// 6.1/6.12 khugepaged: "Run test:" lines, steps coloured by success(),
// fail() and skip(), a \r progress line, and an exit() in the middle of a
// case, as a 6.1 guest printed them.
describe('parseKhugepaged', () => {
  const G = (s: string) => `\x1b[32m${s}\x1b[0m`;
  const R = (s: string) => `\x1b[31m${s}\x1b[0m`;
  const Y = (s: string) => `\x1b[33m${s}\x1b[0m`;
  const head = `Save THP and khugepaged settings... ${G('OK')}\nAllocate huge page on fault... ${G('OK')}\n`;
  const progress = (n: number) => Array.from({ length: n }, (_, i) => `\rConstruct PTE page table full of different PTE-mapped compound pages ${String(i + 1).padStart(3)}/512...`).join('');

  it('gives one case per "Run test:", failed by a red step, skipped by a yellow one', () => {
    const out = `${head}
Run test: collapse_full (madvise:anon)
Collapse multiple fully populated PTE table... ${G('OK')}

Run test: collapse_single_pte_entry_compound (madvise:anon)
Allocate huge page... ${G('OK')}
Split huge page leaving single PTE mapping compound page... ${R('Fail')}
Collapse PTE table with single PTE mapping compound page... ${G('OK')}

Run test: collapse_compound_extreme (madvise:anon)
${progress(512)} ${G('OK')}
Collapse PTE table full of different compound pages... ${G('OK')}

Run test: collapse_swapin_single_pte (madvise:anon)
Swapout one page... ${Y('Skip')}

Run test: madvise_collapse_existing_thps (madvise:anon)
Re-collapse PMD-mapped hugepage... ${G('OK')}
Restore THP and khugepaged settings... ${G('OK')}
`;
    const p = parseSuiteOutput(out);
    expect(p.format).toBe('khugepaged');
    expect(p.cases).toEqual([
      { name: 'collapse_full', outcome: 'pass' },
      { name: 'collapse_single_pte_entry_compound', outcome: 'fail', reason: 'failed: Split huge page leaving single PTE mapping compound page: Fail' },
      { name: 'collapse_compound_extreme', outcome: 'pass' },
      { name: 'collapse_swapin_single_pte', outcome: 'skip', reason: 'skipped: Swapout one page: Skip' },
      { name: 'madvise_collapse_existing_thps', outcome: 'pass' },
    ]);
  });

  it('fails the case the suite exit()ed in, with its last line, and runs nothing after it', () => {
    const out = `${head}
Run test: collapse_full_of_compound (madvise:anon)
Allocate huge page... ${G('OK')}

Run test: collapse_compound_extreme (madvise:anon)
${progress(378)}Failed to allocate huge page
`;
    const { cases } = suiteCases('khugepaged', { status: 1, timedOut: false, limitS: 300, stdout: out, stderr: '' });
    expect(cases).toEqual([
      { name: 'collapse_full_of_compound', outcome: 'pass' },
      {
        name: 'collapse_compound_extreme',
        outcome: 'fail',
        reason: 'no outcome printed (the suite ended first); last output: Construct PTE page table full of different PTE-mapped compound pages 378/512...Failed to allocate huge page',
      },
    ]);
  });

  it('fails a case whose steps passed but whose output ends in an error line', () => {
    const out = `Run test: collapse_fork (madvise:anon)\nAllocate small page... ${G('OK')}\nfork: Cannot allocate memory\n`;
    expect(parseKhugepaged(out)!.cases).toEqual([{ name: 'collapse_fork', outcome: 'fail', reason: 'no outcome printed (the suite ended first); last output: fork: Cannot allocate memory' }]);
  });

  it('adds a failed suite case for a failing exit status with no failed case', () => {
    const out = `Run test: collapse_full (madvise:anon)\nCollapse multiple fully populated PTE table... ${G('OK')}\n`;
    const { cases } = suiteCases('khugepaged', { status: 1, timedOut: false, limitS: 300, stdout: out, stderr: '' });
    expect(cases.map((c) => [c.name, c.outcome])).toEqual([['collapse_full', 'pass'], ['khugepaged', 'fail']]);
  });

  it('returns null without a "Run test:" line', () => {
    expect(parseKhugepaged(`${head}`)).toBeNull();
  });
});

describe('suiteCases', () => {
  const exit = (stdout: string, status = 0, extra: Partial<Parameters<typeof suiteCases>[1]> = {}) => ({ status, timedOut: false, limitS: 60, stdout, stderr: '', ...extra });

  it('takes one case from the exit status of a suite without KTAP (4 = skip)', () => {
    expect(suiteCases('uffd-stress', exit('bounces: 15, mode: rnd racing ver poll, userfaults: 99\n', 0)).cases).toEqual([{ name: 'uffd-stress', outcome: 'pass' }]);
    const skip = suiteCases('khugepaged', exit('', 4)).cases;
    expect(skip).toEqual([{ name: 'khugepaged', outcome: 'skip', reason: 'exit status 4' }]);
    const fail = suiteCases('uffd-stress', exit('bounces: 3, mode: rnd\nerror: bounce mismatch\n', 1)).cases;
    expect(fail[0]).toMatchObject({ name: 'uffd-stress', outcome: 'fail' });
    expect(fail[0].reason).toContain('error: bounce mismatch');
    // 6.1's khugepaged exits with its count of failed tests: 2 is no KSFT_XFAIL here.
    expect(suiteCases('khugepaged', exit('', 2)).cases[0].outcome).toBe('fail');
  });

  it('keeps the text of progress lines (\\r) and colours out of the output tail', () => {
    const { cases } = suiteCases('khugepaged', exit('Collapse full... \x1b[32mOK\x1b[0m\n\rstep 1/3...\rstep 3/3... Fail\n', 1));
    expect(cases[0].reason).toBe('exit status 1; last output: Collapse full... OK | step 3/3... Fail');
  });

  it('adds a failed case naming the suite when the output stops before its plan (a crash mid-suite)', () => {
    const crashed = HARNESS.split('\n').slice(0, 10).join('\n');
    const { cases } = suiteCases('hmm-tests', exit(crashed, 139 - 128 + 128));
    expect(cases.slice(0, 2).map((c) => c.outcome)).toEqual(['pass', 'skip']);
    const last = cases[cases.length - 1];
    expect(last).toMatchObject({ name: 'hmm-tests', outcome: 'fail' });
    expect(last.reason).toMatch(/signal 11/);
  });

  it('reports the output ending early with the exit status and the last lines', () => {
    const { cases } = suiteCases('cow', exit('TAP version 13\n1..3\n# [RUN] a\nok 1 fine\n# [RUN] b\n', 1));
    expect(cases[1].name).toBe('cow');
    expect(cases[1].reason).toMatch(/output ended after 1 of 3 planned cases \(exit status 1\)/);
    expect(cases[1].reason).toContain('# [RUN] b');
  });

  it('fails a suite that ran past its limit, naming the limit', () => {
    const { cases } = suiteCases('migration', exit('TAP version 13\n1..2\nok 1 migration.private_anon\n', 137, { timedOut: true, limitS: 180 }));
    expect(cases[cases.length - 1]).toMatchObject({ name: 'migration', outcome: 'fail' });
    expect(cases[cases.length - 1].reason).toMatch(/did not finish within 180 s/);
  });

  it('turns "1..0 # SKIP" into one skipped case with the reason', () => {
    expect(suiteCases('pagemap_ioctl', exit('TAP version 13\n1..0 # SKIP PAGEMAP_SCAN not supported\n', 4)).cases).toEqual([
      { name: 'pagemap_ioctl', outcome: 'skip', reason: 'PAGEMAP_SCAN not supported' },
    ]);
  });

  it('fails uffd-unit-tests that exit non-zero between cases', () => {
    const { cases } = suiteCases('uffd-unit-tests', exit('Testing a on anon... done\n', 1, { stderr: 'ERROR: UFFDIO_COPY (errno=22)' }));
    expect(cases[1]).toMatchObject({ name: 'uffd-unit-tests', outcome: 'fail' });
    expect(cases[1].reason).toContain('UFFDIO_COPY');
  });
});

describe('parseThpMigration', () => {
  it('reads the per-size tables of benchmark_thp_migration', () => {
    const out = `#  RUN           hmm.hmm_device_private.benchmark_thp_migration ...

HMM THP Migration Benchmark
---------------------------
System page size: 4096 bytes

=== Small Buffer (512KB) (0.5 MB) ===
                     | With THP        | Without THP     | Improvement
---------------------------------------------------------------------
Sys->Dev Migration   | 0.412 ms        | 0.398 ms        | -3.5%
Dev->Sys Migration   | 0.501 ms        | 0.480 ms        | -4.4%
S->D Throughput      | 1.19 GB/s      | 1.23 GB/s      | -3.4%
D->S Throughput      | 0.97 GB/s      | 1.02 GB/s      | -4.2%

=== Single THP Size (2MB) (2.0 MB) ===
                     | With THP        | Without THP     | Improvement
---------------------------------------------------------------------
Sys->Dev Migration   | 0.250 ms        | 1.600 ms        | 84.4%
Dev->Sys Migration   | 0.300 ms        | 1.900 ms        | 84.2%
#            OK  hmm.hmm_device_private.benchmark_thp_migration
`;
    expect(parseThpMigration(out)).toEqual([
      { label: 'Small Buffer (512KB)', bytes: 512 * 1024, sysToDevMs: { thp: 0.412, regular: 0.398 }, devToSysMs: { thp: 0.501, regular: 0.48 } },
      { label: 'Single THP Size (2MB)', bytes: 2 << 20, sysToDevMs: { thp: 0.25, regular: 1.6 }, devToSysMs: { thp: 0.3, regular: 1.9 } },
    ]);
  });
});

// `hmm-tests -l` as 7.2's kselftest_harness.h prints it (fixed-width columns,
// a fixture's variants and tests down their own columns; cut short here).
const HARNESS_LIST = `# FIXTURE            VARIANT                   TEST
global                                         
--------------------------------------------------------------------------------
hmm                  hmm_device_private        open_close
                     hmm_device_coherent       anon_read
                                               benchmark_thp_migration
--------------------------------------------------------------------------------
hmm2                 hmm2_device_private       migrate_mixed
                     hmm2_device_coherent      snapshot
# [INFO] detected hugetlb page size: 2048 KiB
`;

describe('parseHarnessList', () => {
  it('names every variant of every test of each fixture as -r takes it', () => {
    expect(parseHarnessList(HARNESS_LIST)).toEqual([
      'hmm.hmm_device_private.open_close',
      'hmm.hmm_device_private.anon_read',
      'hmm.hmm_device_private.benchmark_thp_migration',
      'hmm.hmm_device_coherent.open_close',
      'hmm.hmm_device_coherent.anon_read',
      'hmm.hmm_device_coherent.benchmark_thp_migration',
      'hmm2.hmm2_device_private.migrate_mixed',
      'hmm2.hmm2_device_private.snapshot',
      'hmm2.hmm2_device_coherent.migrate_mixed',
      'hmm2.hmm2_device_coherent.snapshot',
    ]);
  });

  it('names a fixture without variants fixture.test', () => {
    const text = '# FIXTURE            VARIANT                   TEST\n' + '-'.repeat(80) + '\n' + 'uffd'.padEnd(47) + 'missing\n' + ' '.repeat(47) + 'minor\n';
    expect(parseHarnessList(text)).toEqual(['uffd.missing', 'uffd.minor']);
  });
});
