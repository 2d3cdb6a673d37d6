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
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The KTAP reporter writes results/guest.{ktap,json} for runs that include test/guest.
    reporters: ['default', './test/guest/ktap-reporter.ts'],
  },
});
