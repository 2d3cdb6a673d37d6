// Two processes building the same initramfs at once (two `mirrorlab vm`, a
// test run beside a bench) each stage into their own directory and temporary
// archive and rename it into place: both succeed, the cached archive is a
// whole cpio, its stamp is whole, and nothing of either build is left behind.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { guestUnavailableReason, kernelSeries } from '../../src/vm/kernels.js';

const series = kernelSeries('6.1');
const reason = guestUnavailableReason(series) ?? (fs.existsSync(path.join(repoRoot, 'build/modules', series)) ? null : `build/modules/${series} not built (scripts/build-modules.sh)`);
if (reason) console.warn(`initramfs race not tried: ${reason}`);

function build(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = `const { ensureInitramfs } = await import(${JSON.stringify(path.join(repoRoot, 'dist/vm/initramfs.js'))});
console.log(JSON.stringify(ensureInitramfs(${JSON.stringify(series)})));`;
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('exit', (c) => resolve({ code: c, stdout, stderr }));
  });
}

it.skipIf(reason !== null)('two initramfs builds racing: both succeed and leave one whole cpio with its stamp, no staging or temporary files', async () => {
  const dir = path.join(repoRoot, '.cache/initramfs');
  const out = path.join(dir, `${series}.cpio`);
  // Without the stamp both processes see a stale cache and build.
  fs.rmSync(`${out}.stamp`, { force: true });
  const [a, b] = await Promise.all([build(), build()]);
  for (const r of [a, b]) {
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { path: string; built: boolean; bytes: number };
    expect(result.path).toBe(out);
    expect(result.built).toBe(true);
  }
  const listing = spawnSync('cpio', ['-t', '--quiet'], { input: fs.readFileSync(out), encoding: 'utf8', maxBuffer: 1 << 26 });
  expect(listing.status, listing.stderr).toBe(0);
  const names = listing.stdout.split('\n');
  expect(names).toContain('init');
  expect(names.some((n) => n.endsWith('/mirrordrm.ko'))).toBe(true);
  expect(fs.readFileSync(`${out}.stamp`, 'utf8')).toMatch(/^[0-9a-f]{64}$/);
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  // The next process finds the cache valid and does not build.
  const again = await build();
  expect(JSON.parse(again.stdout).built).toBe(false);
}, 300_000);
