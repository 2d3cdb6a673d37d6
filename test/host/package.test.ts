// The package as a user gets it: `npm pack` of what a clone holds, installed
// into an empty directory with every compiler on PATH replaced by one that
// fails, then the CLI run from the installed copy: probe, faults (with the
// C reference loop from the prebuilds), a quick host bench, validate and
// compare of what it wrote. Packing builds the prebuilt binaries (prebuildify,
// scripts/prebuild.sh), or copies those of the same sources from the cache
// where an earlier pack left them (test/unit/prebuild-cache.test.ts).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-pack-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

// Asynchronous, so vitest's worker stays responsive during the minutes npm takes.
function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The files a clone holds (tracked, and new files not ignored), copied to dir. */
function copyCheckout(dir: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && fs.existsSync(path.join(repoRoot, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), fs.statSync(path.join(repoRoot, f)).mode);
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'));
}

describe('npm pack, installed into an empty directory', () => {
  it('installs from prebuilt binaries without a compiler and runs probe, faults, bench, validate, compare', async () => {
    const src = path.join(work, 'src');
    const app = path.join(work, 'app');
    const noCompiler = path.join(work, 'no-compiler');
    fs.mkdirSync(src);
    fs.mkdirSync(app);
    fs.mkdirSync(noCompiler);
    copyCheckout(src);

    const packed = await sh('npm', ['pack', '--silent', '--pack-destination', work], src);
    expect(packed.status, packed.stderr).toBe(0);
    const tarball = path.join(work, packed.stdout.trim().split('\n').pop()!);
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    const target = `${process.platform}-${process.arch}`;
    expect(listing).toContain(`package/prebuilds/${target}/touch_ref`);
    expect(listing).toContain(`package/prebuilds/${target}/mirrorlab.node`);
    expect(listing).toContain('package/src/report/results.schema.json');
    expect(listing).toContain('package/dist/cli/main.js');
    expect(listing.some((f) => f.startsWith('package/build/'))).toBe(false);
    expect(listing.some((f) => f.startsWith('package/test/'))).toBe(false);

    // Any attempt to compile fails loudly.
    for (const cc of ['cc', 'gcc', 'g++', 'c++', 'clang', 'make']) {
      fs.writeFileSync(path.join(noCompiler, cc), `#!/bin/sh\necho "package install called ${cc}" >&2\nexit 1\n`, { mode: 0o755 });
    }
    const env = { ...process.env, PATH: `${noCompiler}:${process.env.PATH}`, CC: path.join(noCompiler, 'cc'), CXX: path.join(noCompiler, 'c++') };
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const installed = await sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app, env);
    expect(installed.status, installed.stderr).toBe(0);
    const pkg = path.join(app, 'node_modules/mirrorlab');
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false); // nothing was compiled

    const bin = path.join(app, 'node_modules/.bin/mirrorlab');
    const ml = (...args: string[]) => sh(bin, args, app, env);

    const probe = await ml('probe');
    expect(probe.status, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/^THP\s+enabled \[\w+\]/m);

    const faults = await ml('faults', '--quick', '--json', '--rounds', '1', '--repetitions', '2');
    expect(faults.status, faults.stderr).toBe(0);
    const f = JSON.parse(faults.stdout);
    const w4k = f.cases.find((c: { name: string }) => c.name === '4K write');
    expect(w4k.faults.min).toBe(w4k.expectedFaults);
    // touch_ref ran from prebuilds/ and counted the same faults
    expect(f.reference.length).toBeGreaterThan(0);
    expect(f.reference[0].comparison.faultsAgree).toBe(true);

    const out = path.join(app, 'run');
    const bench = await ml('bench', '--quick', '--suite', 'host/faults', '--out', out);
    expect(bench.status, bench.stderr + bench.stdout).toBe(0);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.suites.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([['host/faults', 'complete']]);
    expect(results.suites[0].measurements.length).toBeGreaterThan(0);
    expect(results.suites[0].checks.filter((c: { status: string }) => c.status === 'fail')).toEqual([]);
    expect(fs.readFileSync(path.join(out, 'results.ktap'), 'utf8')).toMatch(/^KTAP version 1/);
    expect(fs.existsSync(path.join(out, 'report.html'))).toBe(true);

    const valid = await ml('validate', path.join(out, 'results.json'));
    expect(valid.status, valid.stderr + valid.stdout).toBe(0);
    const broken = path.join(app, 'broken.json');
    fs.writeFileSync(broken, JSON.stringify({ ...results, suites: 'none' }));
    expect((await ml('validate', broken)).status).toBe(1); // the schema really is read and applied

    const cmp = await ml('compare', path.join(out, 'results.json'), path.join(out, 'results.json'));
    expect(cmp.status, cmp.stderr).toBe(0);
    expect(cmp.stdout).toMatch(/host\/faults\/fault\/4K\/mirrorlab/);
    expect(cmp.stdout).toMatch(/0 slower, 0 faster beyond noise/);
  }, 1_200_000);
});
