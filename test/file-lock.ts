// Which test files may run at the same time (vitest setupFiles entry).
//
// Files run in parallel processes (vitest.config.ts, maxWorkers), but most
// must still run alone: host tests change the host's hugetlb pools, THP
// settings and NUMA policy and count its faults, and some guest files touch
// what other guests use (the kernel cache, the cached initramfs). Each file
// holds a lock on one file for its whole run: an exclusive lock, or a shared
// one for the files file-groups.ts names (guest files whose only state is the
// guests they start, unit files, and host files that change nothing a guest
// sees), since a TCG guest keeps one host CPU busy and two of them use a
// two-CPU machine twice as well as one. Those host files also hold a host
// lock, one at a time. The locks are flock(1)'s (flock.ts).
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { repoRoot } from '../src/paths.js';
import { holdsHostLock, runsBesideOthers } from './file-groups.js';
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

/**
 * Held besides a shared LOCK by the host files that may run beside guests
 * (file-groups.ts), so that two of them never change the host at once. Taken
 * first: a file waiting for it holds nothing an alone file waits for.
 */
const HOST_LOCK = '/tmp/mirrorlab-test-files.host.lock';

if (!process.env[HELD]) {
  const file = path.relative(repoRoot, expect.getState().testPath ?? '');
  const releaseHost = holdsHostLock(file) ? await holdFlock(HOST_LOCK, 'exclusive') : () => {};
  const passed = await holdFlock(TURNSTILE, 'exclusive');
  const release = await holdFlock(LOCK, runsBesideOthers(file) ? 'shared' : 'exclusive');
  passed();
  process.env[HELD] = file;
  process.env.MIRRORLAB_BOOT_LOG_LABEL = file;
  afterAll(() => {
    delete process.env[HELD];
    release();
    releaseHost();
  });
}
