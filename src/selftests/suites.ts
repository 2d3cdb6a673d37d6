// The kernel's own mm/HMM selftests we run in our guests (built per series by
// scripts/selftests.sh from Debian's linux-source), with the arguments and
// time limits that keep each one short enough for CI under TCG.

export interface SelftestSuite {
  name: string;
  /** Binaries in the build's bin/, first found is run (6.1's uffd-stress is still called userfaultfd). */
  binaries: string[];
  args: string[];
  /** Wall-clock limit in the guest, seconds (per case with eachCase): past it the suite is killed and fails. */
  limitS: number;
  /** Needs lib/test_hmm.ko loaded. */
  testHmm?: boolean;
  /** What of the kernel it covers, for `--list` and docs/selftests.md. */
  covers: string;
  /** Kernel series (a build's manifest series) the suite is not run on, and why. */
  notOn?: Record<string, string>;
  /** Minutes of guest time under TCG: left out of the guest test file unless MIRRORLAB_SELFTESTS=all. */
  slow?: true;
  /**
   * Sysctls (/proc/sys paths below sys/, as "kernel/numa_balancing") set for
   * the suite's runs and put back afterwards: where our guest differs from
   * the machine a suite assumes, with the reason next to the entry.
   */
  sysctls?: Record<string, string>;
  /** Case names that carry measured numbers, made stable for the baseline. */
  caseName?: (name: string) => string;
  /**
   * Run every case of these harness variants on its own (`-r
   * fixture.variant.test`, from the binary's `-l` list), with test_hmm.ko
   * loaded afresh before each, instead of the binary once with `args`.
   */
  eachCase?: {
    variants: string[];
    /** Tests left out, with why. */
    exclude?: Record<string, string>;
    /**
     * A kernel WARN this suite's module is known to raise, as a console
     * pattern: during a case it fails that case, with the WARN line as the
     * reason, instead of the whole guest run. Any other crash line still
     * fails the run.
     */
    knownWarning?: { re: RegExp; why: string };
  };
}

export const SELFTEST_SUITES: readonly SelftestSuite[] = [
  {
    name: 'hmm-tests',
    binaries: ['hmm-tests'],
    // Every case of the DEVICE_PRIVATE variant and of the hmm2 fixture; the
    // benchmark runs as its own suite (hmm-benchmark), the DEVICE_COHERENT
    // variant as hmm-tests-coherent.
    args: ['-T', 'benchmark_thp_migration', '-V', 'hmm_device_coherent'],
    limitS: 600,
    testHmm: true,
    covers: 'HMM mirroring through lib/test_hmm.ko with DEVICE_PRIVATE memory: hmm_range_fault snapshots, invalidation, migration to and from the device (4 KiB and THP), exclusive access, fork and COW of device pages',
  },
  {
    name: 'hmm-tests-coherent',
    binaries: ['hmm-tests'],
    args: [],
    eachCase: {
      variants: ['hmm_device_coherent', 'hmm2_device_coherent'],
      exclude: { benchmark_thp_migration: 'a DEVICE_PRIVATE benchmark (hmm-benchmark)' },
      // test_hmm gives a coherent device one fixed range (spm_addr_dev0/1)
      // and maps it at load as 4 KiB pages only. A THP migration (7.x
      // selects MIGRATE_VMA_SELECT_COMPOUND for coherent devices too) finds
      // no free device folio and maps a second chunk at the same range:
      // memremap_pages() WARNs "Conflicting mapping in same section" and
      // the migration fails. That is test_hmm's own limit, not the
      // kernel's migration; the case fails with the WARN as its reason
      // (and does so in the baseline), and test_hmm is reloaded before the
      // next case so that the others start from a fresh device.
      knownWarning: {
        re: /WARNING: .*mm\/memremap\.c:\d+.*memremap_pages/,
        why: "test_hmm's DEVICE_COHERENT device has one fixed range mapped as 4 KiB pages; a THP migration maps a second chunk over it",
      },
    },
    limitS: 120,
    testHmm: true,
    covers: 'the HMM cases with DEVICE_COHERENT memory (CPU-accessible device pages at the spm_addr_dev0/1 ranges we reserve), each case on a freshly loaded test_hmm',
  },
  {
    name: 'hmm-benchmark',
    binaries: ['hmm-tests'],
    // System<->device migration time, THP vs 4 KiB pages, 512 KiB to 256 MiB.
    args: ['-r', 'hmm.hmm_device_private.benchmark_thp_migration'],
    limitS: 300,
    testHmm: true,
    // The 256 MiB size alone runs into the harness's 120 s limit under TCG.
    slow: true,
    covers: "hmm-tests' benchmark_thp_migration: DEVICE_PRIVATE migration time per size, THP against 4 KiB pages (measurements in the bench)",
  },
  {
    name: 'cow',
    binaries: ['cow'],
    args: [],
    limitS: 600,
    // 45 s on 7.2, 5.5 min on 6.12 (TCG, loaded host).
    slow: true,
    covers: 'copy-on-write after fork, R/O pins, vmsplice, mprotect and KSM, on 4 KiB, THP (and mTHP) and hugetlb',
  },
  {
    name: 'gup_longterm',
    binaries: ['gup_longterm'],
    args: [],
    limitS: 300,
    covers: 'FOLL_LONGTERM pins (io_uring fixed buffers, GUP) on anon, shmem, memfd, hugetlb and file mappings: which may and may not be pinned',
  },
  {
    name: 'gup_test',
    binaries: ['gup_test'],
    // As run_vmtests.sh: GUP/PUP of one page with FOLL_WRITE.
    args: ['-ct', '-F', '0x1', '0', '19', '0x1000'],
    limitS: 120,
    covers: 'get_user_pages/pin_user_pages through the CONFIG_GUP_TEST debugfs interface',
  },
  {
    name: 'uffd-unit-tests',
    binaries: ['uffd-unit-tests'],
    args: [],
    limitS: 600,
    // 2.8 min on 7.2, longer on 6.12 (TCG, loaded host).
    slow: true,
    covers: 'userfaultfd API, missing/minor/write-protect faults, events (fork, remap, remove), poison, UFFDIO_MOVE, per memory type',
  },
  {
    name: 'uffd-stress',
    binaries: ['uffd-stress', 'userfaultfd'],
    // 16 MiB, 16 bounces: every combination of the four bounce modes (random,
    // racing faults, verify, poll) once, on a region small enough for TCG.
    args: ['anon', '16', '16'],
    limitS: 300,
    covers: 'userfaultfd under load: faulting threads racing the copy and write-protect server',
  },
  {
    name: 'madv_populate',
    binaries: ['madv_populate'],
    args: [],
    limitS: 120,
    covers: 'MADV_POPULATE_READ/WRITE: prefault, errors on holes and protections, soft-dirty',
  },
  {
    name: 'pagemap_ioctl',
    binaries: ['pagemap_ioctl'],
    args: [],
    limitS: 300,
    // "transact_test Extra pages 25 (0.1%), extra thread faults 79." counts a race's losers.
    caseName: (name) => name.replace(/^transact_test Extra pages .*$/, 'transact_test Extra pages, extra thread faults'),
    covers: 'PAGEMAP_SCAN ioctl and uffd-wp async write tracking',
  },
  {
    name: 'migration',
    binaries: ['migration'],
    // Each case moves pages between two nodes for a fixed 20 s: anon 4 KiB
    // and THP, private, are the two closest to HMM migration (shared and
    // hugetlb add a minute for the same code paths).
    args: ['-t', 'private_anon', '-t', 'private_anon_thp'],
    // 6.1's harness has no -t and runs its three cases (private_anon,
    // shared_anon, private_anon_thp) for 60 s each: 180 s and the slack.
    limitS: 240,
    // A fixed 40 s (6.1: 180 s) of three vCPUs spinning: under TCG on a
    // two-CPU host, 80 CPU-s per kernel, the most of any suite the test
    // file ran.
    slow: true,
    covers: 'move_pages() racing with access: migration entries, 4 KiB and THP',
  },
  {
    name: 'khugepaged',
    binaries: ['khugepaged'],
    // MADV_COLLAPSE on anon: the collapse paths without waiting for the
    // khugepaged thread's scan intervals, which under TCG take minutes.
    args: ['madvise:anon'],
    limitS: 300,
    // Our guest has two NUMA nodes, so NUMA balancing is on. With it on,
    // collapse_compound_extreme stopped with "Failed to allocate huge page"
    // in 6 of 40 runs on 6.1 (at a random one of its 512 rounds) although
    // thp_fault_fallback stayed 0 and numa_huge_pte_updates moved: the THP
    // was allocated, but the smaps check right after no longer saw it
    // PMD-mapped. With numa_balancing=0: 0 of 40. The suite assumes no
    // scanner touches its PMD between the fault and the check.
    //
    // Its areas are mmap()ed at a hint of 1 GiB and the binary exits when the
    // hint is not honoured ("Failed to allocate VMA at 0x40000000"). Our
    // build is static and not PIE, and x86-64 places brk anywhere up to 1 GiB
    // above the binary (arch_randomize_brk(), 6.1 as well): once in CI on 6.1
    // the heap sat there and the suite ran none of its cases.
    // randomize_va_space=1 keeps the other randomization and leaves brk
    // right after the binary.
    sysctls: { 'kernel/numa_balancing': '0', 'kernel/randomize_va_space': '1' },
    covers: 'THP collapse (MADV_COLLAPSE) of anon ranges: full, empty, swap, shared, compound, fork',
  },
];

/** The short set of `bench --quick`: hmm-tests where it can run, and one quick suite on every kernel. */
export const QUICK_SUITES = ['hmm-tests', 'madv_populate'] as const;

/** The suite whose output carries benchmark_thp_migration's tables. */
export const THP_BENCHMARK_SUITE = 'hmm-benchmark';

export const SELFTEST_SUITE_NAMES = SELFTEST_SUITES.map((s) => s.name);

/** The suites run when none is named. */
export const DEFAULT_SELFTEST_SUITES = SELFTEST_SUITES;

/** The suite called `name`, or undefined. */
export function selftestSuite(name: string): SelftestSuite | undefined {
  return SELFTEST_SUITES.find((s) => s.name === name);
}
