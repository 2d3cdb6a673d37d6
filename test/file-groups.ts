// Test files in two groups (read by file-lock.ts and file-order.ts): those
// that may run beside another file, and the rest, which run alone.

/** Guest files that start only guests of their own and read nothing others change. */
export const BESIDE_OTHERS: readonly string[] = [
  'test/guest/bench-behaviour.test.ts',
  'test/guest/bench-guest-suites.test.ts',
  'test/guest/docs-examples.test.ts',
  'test/guest/fakevram.test.ts',
  'test/guest/fuzz.test.ts',
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
  'test/guest/vm-cli.test.ts',
  'test/guest/vm-crash.test.ts',
  'test/guest/vm-snapshot.test.ts',
  'test/guest/vm.test.ts',
];

/**
 * The longest of them (minutes each), started first so that shorter files
 * fill the other worker beside them instead of one long file running alone
 * at the end.
 */
export const LONGEST_FIRST: readonly string[] = [
  'test/guest/selftests.test.ts',
  'test/guest/fakevram.test.ts',
  'test/guest/mirrordrm.test.ts',
  'test/guest/bench-guest-suites.test.ts',
];

/**
 * Unit files read fixtures and run our scripts and CLIs on temporary
 * directories: they change nothing on the host or in the caches, and run
 * beside the guest files. Except kernel-build.test.ts, which configures a
 * tree in the real build root (a minute of xz and make).
 */
const UNIT_ALONE: readonly string[] = ['test/unit/kernel-build.test.ts'];

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
  'test/host/report.test.ts',
  'test/host/results-durability.test.ts',
  'test/host/test-reports.test.ts',
];

/** Whether a file (relative to the repository) may run beside other files. */
export function runsBesideOthers(file: string): boolean {
  if (file.startsWith('test/unit/')) return !UNIT_ALONE.includes(file);
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
