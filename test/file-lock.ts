// Which test files may run at the same time (vitest setupFiles entry).
//
// Files run in parallel processes (vitest.config.ts, maxWorkers), but most
// must still run alone: host tests change the host's hugetlb pools, THP
// settings and NUMA policy and count its faults, and some guest files touch
// what other guests use (saved states, the kernel cache). Each file holds a
// lock on one file for its whole run: an exclusive lock, or a shared one for
// the files file-groups.ts names (guest files whose only state is the guests
// they start, and unit files), since a TCG guest keeps one host CPU busy and
// two of them use a two-CPU machine twice as well as one. The lock is
// flock(1)'s (flock.ts).
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { repoRoot } from '../src/paths.js';
import { runsBesideOthers } from './file-groups.js';
import { holdFlock } from './flock.js';

/** One lock file per machine (not under $TMPDIR): runs in two clones share the host too. */
const LOCK = '/tmp/mirrorlab-test-files.lock';
/**
 * Taken before LOCK and let go once LOCK is held: a file waiting to run alone
 * holds it, so files that would share LOCK queue behind that file instead of
 * keeping it out for as long as one of them is running.
 */
const TURNSTILE = '/tmp/mirrorlab-test-files.turnstile';

/**
 * Set while a file holds the lock, for the processes it starts: a test that
 * runs vitest itself (to collect the guest files' case ids, say) runs inside
 * its file's lock, and would wait for it forever if it took the lock again.
 */
const HELD = 'MIRRORLAB_TEST_FILES_LOCK_HELD';

if (!process.env[HELD]) {
  const file = path.relative(repoRoot, expect.getState().testPath ?? '');
  const passed = await holdFlock(TURNSTILE, 'exclusive');
  const release = await holdFlock(LOCK, runsBesideOthers(file) ? 'shared' : 'exclusive');
  passed();
  process.env[HELD] = file;
  afterAll(() => {
    delete process.env[HELD];
    release();
  });
}
