// mirrorlab vm --kernel X -- <command>: the command's output and exit status (first kernel of the matrix).
import { caseOf } from './cases.js';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { kernelInfo, kernelSeries } from '../../src/vm/kernels.js';
import { ensureGuestBuild, kernels, ourQemuPids, skipReason } from './helpers.js';

const kernel = kernels()[0];
const reason = skipReason(kernel);
beforeAll(async () => {
  if (!reason) await ensureGuestBuild([kernel]);
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
  expect(r.stderr).toMatch(/ready: (restored from snapshot [0-9a-f]{12} in \d+ ms|cold boot in \d+ ms \(.+\)).* \((tcg|kvm), (wall|icount) clock\)$/m);
  expect(ourQemuPids()).toEqual([]);
});

// Two `mirrorlab vm` at once on one machine (two CI jobs, a user beside a
// bench): each has its own scratch directory, QMP socket, console log and
// snapshot staging, so both boot, run and exit cleanly.
const concurrentKernel = kernelSeries('7.2');
const concurrentReason = skipReason(concurrentKernel);

function vmRun(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), 'vm', '--kernel', concurrentKernel, '--', 'sh', '-c', 'echo ran-$$; true'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGTERM'), 280_000);
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

it.skipIf(concurrentReason !== null)(...caseOf('cli-concurrent', `two mirrorlab vm --kernel ${concurrentKernel} -- true at once both succeed`, { timeout: 300_000, kernel: concurrentKernel }), async () => {
  await ensureGuestBuild([concurrentKernel]);
  const [a, b] = await Promise.all([vmRun(), vmRun()]);
  for (const r of [a, b]) {
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ran-\d+$/m);
    expect(r.stderr).toMatch(/ready: (restored from snapshot [0-9a-f]{12} in \d+ ms|cold boot in \d+ ms \(.+\)).* \((tcg|kvm)(, \w+ clock)?\)$/m);
  }
  expect(ourQemuPids()).toEqual([]);
});
