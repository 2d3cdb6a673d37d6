import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import FileOrder from './test/file-order.js';

// Each file runs in a process of its own (forks: native addons and fork()
// behave as in a plain node process). Tests touch real kernel state (hugetlb
// pools, THP, saved guest states), so most files run alone; guest files that
// only start guests of their own run beside each other, one per host CPU (a
// TCG guest keeps one busy), at most 4 ($MIRRORLAB_TEST_JOBS sets it).
// test/file-lock.ts enforces which file runs beside which; test/file-order.ts
// orders them so that waits are short.
const jobs = Number(process.env.MIRRORLAB_TEST_JOBS) || Math.min(4, os.availableParallelism());

export default defineConfig({
  // Tests and the docs examples import the package by its name, from the sources.
  resolve: { alias: [{ find: /^mirrorlab$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) }] },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./test/file-lock.ts', './test/tmpdir-per-file.ts'],
    pool: 'forks',
    maxWorkers: jobs,
    sequence: { sequencer: FileOrder },
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
