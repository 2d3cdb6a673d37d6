// The kernel's own mm/HMM selftests we run in our guests (built per series by
// scripts/selftests.sh from Debian's linux-source), with the arguments and
// time limits that keep each one short enough for CI under TCG.

export interface SelftestSuite {
  name: string;
  /** Binaries in the build's bin/, first found is run (6.1's uffd-stress is still called userfaultfd). */
  binaries: string[];
  args: string[];
  /** Wall-clock limit in the guest, seconds: past it the suite is killed and fails. */
  limitS: number;
  /** Needs lib/test_hmm.ko loaded. */
  testHmm?: boolean;
  /** What of the kernel it covers, for `--list` and docs/selftests.md. */
  covers: string;
}

export const SELFTEST_SUITES: readonly SelftestSuite[] = [
  {
    name: 'hmm-tests',
    binaries: ['hmm-tests'],
    args: [],
    limitS: 600,
    testHmm: true,
    covers: 'HMM mirroring through lib/test_hmm.ko: hmm_range_fault snapshots, invalidation, migration to and from DEVICE_PRIVATE and DEVICE_COHERENT memory, exclusive access, THP migration',
  },
  {
    name: 'cow',
    binaries: ['cow'],
    args: [],
    limitS: 600,
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
    covers: 'PAGEMAP_SCAN ioctl and uffd-wp async write tracking',
  },
  {
    name: 'migration',
    binaries: ['migration'],
    // Each case moves pages between two nodes for a fixed 20 s: anon 4 KiB
    // and THP, private, are the two closest to HMM migration (shared and
    // hugetlb add a minute for the same code paths).
    args: ['-t', 'private_anon', '-t', 'private_anon_thp'],
    limitS: 180,
    covers: 'move_pages() racing with access: migration entries, 4 KiB and THP',
  },
  {
    name: 'khugepaged',
    binaries: ['khugepaged'],
    // MADV_COLLAPSE on anon: the collapse paths without waiting for the
    // khugepaged thread's scan intervals, which under TCG take minutes.
    args: ['madvise:anon'],
    limitS: 300,
    covers: 'THP collapse (MADV_COLLAPSE) of anon ranges: full, empty, swap, shared, compound, fork',
  },
];

/** The short set of `bench --quick`: hmm-tests where it can run, and one quick suite on every kernel. */
export const QUICK_SUITES = ['hmm-tests', 'madv_populate'] as const;

export const SELFTEST_SUITE_NAMES = SELFTEST_SUITES.map((s) => s.name);

/** The suite called `name`, or undefined. */
export function selftestSuite(name: string): SelftestSuite | undefined {
  return SELFTEST_SUITES.find((s) => s.name === name);
}
