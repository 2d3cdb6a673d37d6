import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests touch real kernel state (hugetlb pools, THP, QEMU guests), so files
// run one at a time in separate processes (forks: native addons and fork()
// behave as in a plain node process).
export default defineConfig({
  // Tests and the docs examples import the package by its name, from the sources.
  resolve: { alias: [{ find: /^mirrorlab$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/tmpdir-per-file.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The KTAP reporter writes results/guest.{ktap,json} for runs that include test/guest;
    // vitest's own JUnit reporter results/tests.junit.xml for every run, for CI pages
    // (GitLab, GitHub). $MIRRORLAB_RESULTS moves both.
    reporters: [
      'default',
      './test/guest/ktap-reporter.ts',
      ['junit', { outputFile: path.join(process.env.MIRRORLAB_RESULTS || 'results', 'tests.junit.xml'), suiteName: 'mirrorlab', addFileAttribute: true }],
    ],
  },
});
