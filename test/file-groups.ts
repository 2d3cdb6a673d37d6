// Test files in two groups (read by file-lock.ts and file-order.ts): those
// that may run beside another file, and the rest, which run alone.

/** Guest files that start only guests of their own and read nothing others change. */
export const BESIDE_OTHERS: readonly string[] = [
  'test/guest/bench-behaviour.test.ts',
  'test/guest/bench-guest-suites.test.ts',
  'test/guest/docs-examples.test.ts',
  'test/guest/fakevram.test.ts',
  'test/guest/fuzz.test.ts',
  // icount guests: the guest clock counts instructions, whatever else the host runs
  'test/guest/guest-clock.test.ts',
  'test/guest/kernel-build.test.ts',
  'test/guest/lava.test.ts',
  'test/guest/mirrordrm-bench.test.ts',
  'test/guest/mirrordrm-devmem.test.ts',
  'test/guest/mirrordrm-refusals.test.ts',
  'test/guest/mirrordrm-svm.test.ts',
  'test/guest/mirrordrm-twopass.test.ts',
  'test/guest/mirrordrm.test.ts',
  'test/guest/selftests.test.ts',
  'test/guest/storms.test.ts',
  'test/guest/test-hmm-reread.test.ts',
  'test/guest/vm-cleanup.test.ts',
  // rebuilds a kernel cache in a temporary root of its own (only the .deb files are shared, read)
  'test/guest/vm-setup.test.ts',
  'test/guest/vm-cli.test.ts',
  'test/guest/vm-crash.test.ts',
  'test/guest/vm-snapshot.test.ts',
  'test/guest/vm.test.ts',
];

/**
 * Seconds each file took in one run of `npm test` on three kernels (2 CPUs,
 * TCG, two files at a time; the work tree, whose guests restored from saved
 * states with the RAM overlay, 03:28 UTC on 2026-12-05), for the order only
 * (file-order.ts): the files that run beside others start longest first,
 * so the short ones fill the gaps at the end instead of one long file
 * running alone there. A file not named here counts as 2 s.
 */
const MEASURED_SECONDS: Readonly<Record<string, number>> = {
  'test/guest/mirrordrm.test.ts': 100,
  'test/guest/vm-snapshot.test.ts': 99,
  'test/guest/fakevram.test.ts': 88,
  'test/guest/selftests.test.ts': 74,
  'test/guest/bench-guest-suites.test.ts': 68,
  'test/guest/docs-examples.test.ts': 56,
  'test/guest/storms.test.ts': 50,
  'test/guest/vm-crash.test.ts': 41,
  'test/unit/kernel-build.test.ts': 38,
  'test/host/cli.test.ts': 28,
  'test/guest/guest-clock.test.ts': 22,
  'test/guest/mirrordrm-refusals.test.ts': 21,
  'test/host/bench-cli.test.ts': 20,
  'test/host/package.test.ts': 18,
  'test/host/docs-examples.test.ts': 18,
  'test/guest/vm-setup.test.ts': 18,
  'test/guest/mirrordrm-twopass.test.ts': 18,
  'test/guest/fuzz.test.ts': 18,
  'test/host/report.test.ts': 17,
  'test/guest/lava.test.ts': 15,
  'test/guest/mirrordrm-devmem.test.ts': 14,
  'test/guest/vm.test.ts': 13,
  'test/guest/mirrordrm-svm.test.ts': 13,
  'test/guest/bench-behaviour.test.ts': 11,
  'test/host/misuse.test.ts': 10,
  'test/guest/test-hmm-reread.test.ts': 10,
  'test/unit/case-ids.test.ts': 8,
  'test/guest/mirrordrm-bench.test.ts': 8,
  'test/host/merge.test.ts': 7,
  'test/unit/ktap-kunit.test.ts': 6,
  'test/unit/prebuild-cache.test.ts': 5,
  'test/host/bench-disturbance.test.ts': 5,
  'test/guest/vm-cli.test.ts': 5,
  'test/host/results-durability.test.ts': 4,
};

/** The files MEASURED_SECONDS names (for the test that they exist and run beside others). */
export const MEASURED_FILES: readonly string[] = Object.keys(MEASURED_SECONDS);

/** How long a file is expected to take, in seconds: its measured time, else 2. */
export function expectedSeconds(file: string): number {
  return MEASURED_SECONDS[file] ?? 2;
}

/**
 * Host files that may run beside guest and unit files, though never beside
 * another host file: they change host settings only inside a host bench that
 * puts them back (hugetlb pools, THP), or nothing at all, and none of them
 * times anything against a limit. They hold the host lock (file-lock.ts) as
 * well. The other host files are quick (seconds in all) and run alone, as
 * does initramfs-race (it rebuilds the cached initramfs guests start from).
 */
export const HOST_BESIDE_GUESTS: readonly string[] = [
  'test/host/bench-cli.test.ts',
  'test/host/bench-disturbance.test.ts',
  'test/host/cli.test.ts',
  'test/host/docs-examples.test.ts',
  'test/host/merge-lava.test.ts',
  'test/host/merge.test.ts',
  'test/host/misuse.test.ts',
  'test/host/package.test.ts',
  // preloads the RAM overlay into node processes of its own (nothing a guest sees)
  'test/host/ram-overlay.test.ts',
  'test/host/report.test.ts',
  'test/host/results-durability.test.ts',
  'test/host/test-reports.test.ts',
];

/**
 * Whether a file (relative to the repository) may run beside other files.
 * Every unit file may: they read fixtures and run our scripts and CLIs on
 * temporary directories, changing nothing on the host or in the caches.
 * kernel-build.test.ts among them configures a tree (a minute of xz and
 * make) in a temporary build directory of its own, with the build root's
 * compiler; no guest uses either.
 */
export function runsBesideOthers(file: string): boolean {
  if (file.startsWith('test/unit/')) return true;
  return BESIDE_OTHERS.includes(file) || HOST_BESIDE_GUESTS.includes(file);
}

/** Whether a file holds the host lock: one such file at a time, beside guest and unit files. */
export function holdsHostLock(file: string): boolean {
  return HOST_BESIDE_GUESTS.includes(file);
}

/** `others` with the `spread` files placed among them at even intervals (file-order.ts). */
export function spreadAmong<T>(others: readonly T[], spread: readonly T[]): T[] {
  const out = [...others];
  // From the last, so that earlier insertions do not shift later positions.
  for (let i = spread.length - 1; i >= 0; i--) out.splice(Math.round(((i + 1) * others.length) / (spread.length + 1)), 0, spread[i]);
  return out;
}
