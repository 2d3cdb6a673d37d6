// mirrorlab vm --kernel X -- <command>: the command's output and exit status (first kernel of the matrix).
import { caseOf } from './cases.js';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { kernelInfo } from '../../src/vm/kernels.js';
import { ensureGuestBuild, kernels, ourQemuPids, skipReason } from './helpers.js';

const kernel = kernels()[0];
const reason = skipReason(kernel);
beforeAll(() => {
  if (!reason) ensureGuestBuild([kernel]);
}, 600_000);

it.skipIf(reason !== null)(...caseOf('cli-exit-status', `mirrorlab vm --kernel ${kernel} -- <command> returns the command's exit status`, { timeout: 180_000, kernel }), () => {
  const r = spawnSync(
    process.execPath,
    [path.join(repoRoot, 'dist/cli/main.js'), 'vm', '--kernel', kernel, '--', 'sh', '-c', 'uname -r; echo to-stderr >&2; exit 3'],
    { encoding: 'utf8', timeout: 170_000 },
  );
  expect(r.status).toBe(3);
  // exactly the release the cache holds for the series (6.1.0-57-amd64, 7.2.13+deb14-amd64)
  expect(r.stdout.trim()).toBe(kernelInfo(kernel).release);
  expect(r.stderr).toContain('to-stderr');
  // how the guest started: from the saved state of its shape, or a cold boot and why
  expect(r.stderr).toMatch(/ready: (restored from snapshot [0-9a-f]{12} in \d+ ms|cold boot in \d+ ms \(.+\)).* \((tcg|kvm)\)$/m);
  expect(ourQemuPids()).toEqual([]);
});
