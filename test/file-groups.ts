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

/** Whether a file (relative to the repository) may run beside other files. */
export function runsBesideOthers(file: string): boolean {
  if (file.startsWith('test/unit/')) return !UNIT_ALONE.includes(file);
  return BESIDE_OTHERS.includes(file);
}
