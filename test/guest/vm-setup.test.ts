// A missing kernel cache is rebuilt by setup: scripts/kernels.sh into an empty
// cache root (one series, the .deb files already downloaded and, for sid's
// kernel, the build root are reused).
import { caseOf } from './cases.js';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { builtKernel, cacheRoot, findOnPath, kernelSeries } from '../../src/vm/kernels.js';

const series = kernelSeries(process.env.MIRRORLAB_KERNEL?.split(',')[0] || '6.1');
const shared = path.join(cacheRoot(), 'kernels');
const reason = builtKernel(series)
  ? `${series} is a kernel we build (scripts/kernel-build.sh, checked by test/guest/kernel-build.test.ts), not one scripts/kernels.sh fetches`
  : !findOnPath('apt-get')
  ? 'apt-get not available'
  : !fs.existsSync(path.join(shared, series, '.complete'))
    ? `no warm cache at ${shared}/${series} to compare with (run scripts/kernels.sh)`
    : null;
if (reason) console.warn(`cache rebuild test skipped: ${reason}`);

describe('scripts/kernels.sh', () => {
  // Asynchronous: a rebuild takes minutes (7.2's longer than a minute), and a
  // synchronous one would keep the test worker from answering vitest.
  it.skipIf(reason !== null)(...caseOf('kernel-cache-rebuild', `rebuilds a missing ${series} cache, then is a fast no-op`, { timeout: 300_000, kernel: series }), async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-cache-'));
    try {
      const env = {
        ...process.env,
        MIRRORLAB_CACHE: root,
        MIRRORLAB_DEBS: path.join(cacheRoot(), 'debs'),
        MIRRORLAB_BUILDROOTS: path.join(cacheRoot(), 'buildroot'),
      };
      const run = async (): Promise<string> =>
        (await promisify(execFile)(path.join(repoRoot, 'scripts/kernels.sh'), [series], { env, encoding: 'utf8' })).stdout;
      await run();
      const dir = path.join(root, 'kernels', series);
      for (const f of ['vmlinuz', 'vmlinux', 'release', 'kdir', 'manifest.json', '.complete']) expect(fs.existsSync(path.join(dir, f))).toBe(true);
      // The uncompressed kernel is an ELF executable (booted through its PVH entry).
      expect(fs.readFileSync(path.join(dir, 'vmlinux')).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
      const release = fs.readFileSync(path.join(dir, 'release'), 'utf8').trim();
      const kdir = fs.readFileSync(path.join(dir, 'kdir'), 'utf8').trim();
      expect(kdir).toBe(path.join(dir, 'headers/usr/src', `linux-headers-${release}`));
      expect(fs.existsSync(path.join(kdir, 'Makefile'))).toBe(true);
      expect(fs.readFileSync(path.join(kdir, 'Makefile'), 'utf8')).toContain(`include ${dir}/headers/usr/src/`);
      expect(fs.existsSync(path.join(dir, 'modules/lib/modules', release, 'modules.dep'))).toBe(true);
      expect(Buffer.compare(fs.readFileSync(path.join(dir, 'vmlinuz')), fs.readFileSync(path.join(shared, series, 'vmlinuz')))).toBe(0);
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      const ref = JSON.parse(fs.readFileSync(path.join(shared, series, 'manifest.json'), 'utf8'));
      expect(m.release).toBe(release);
      expect(m.packages.map((p: { name: string }) => p.name)).toEqual(ref.packages.map((p: { name: string }) => p.name));
      // bookworm's kernel is one -unsigned image package; sid splits it into
      // the kernel, its modules and its config and System.map.
      if (m.suite === 'sid') {
        expect(m.packages.slice(0, 3).map((p: { name: string }) => p.name)).toEqual(
          ['binary', 'modules', 'base'].map((k) => `linux-${k}-${release}`),
        );
        expect(fs.readFileSync(path.join(dir, 'buildroot'), 'utf8')).toMatch(/^sid gcc-\d+\n$/);
      } else {
        expect(m.packages[0].name).toBe(`linux-image-${release}-unsigned`);
      }

      // Warm: nothing to do, and said so.
      const t0 = Date.now();
      const out = await run();
      expect(out).toBe('');
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(fs.readFileSync(path.join(dir, '.complete'), 'utf8')).toContain(m.packages[0].name);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
