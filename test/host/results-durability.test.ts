// Nothing measured is lost: `mirrorlab bench` rewrites results.json after
// every suite (temp file + fsync + rename), so a SIGKILL mid-run leaves the
// last complete state and a full disk leaves the previous file as it was.
// Runs the built CLI (dist/) with the quick host suites; the full-disk cases
// need root for a small tmpfs mount.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { ResultsWriteError, writeResultsJson } from '../../src/report/write.js';
import { results as fixtureResults } from '../results-fixture.js';

const main = path.join(repoRoot, 'dist/cli/main.js');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-durability-'));
const isRoot = process.getuid?.() === 0;

/** A tmpfs of `size` at a fresh directory (root only), unmounted after the test. */
const mounts: string[] = [];
function smallTmpfs(size: string): string {
  const dir = tmp();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'mirrorlab-test', dir]);
  mounts.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of mounts.splice(0)) {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Fills the file system holding `dir` until a write fails with ENOSPC. */
function fill(dir: string): void {
  const chunk = Buffer.alloc(4096, 0x5a);
  const fd = path.join(dir, 'filler');
  try {
    for (let i = 0; i < 1 << 20; i++) writeFileSync(fd, chunk, { flag: 'a' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    return;
  }
  throw new Error('the file system never filled');
}

function bench(args: string[], killOn?: RegExp): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'bench', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    // Progress lines go to stderr.
    child.stderr.on('data', (d) => {
      stderr += d;
      if (killOn && killOn.test(stderr)) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('results.json survives the run that writes it', () => {
  it('SIGKILL during the second suite: results.json validates, holds the first suite complete and says the run is incomplete', async () => {
    const out = path.join(tmp(), 'run');
    // "suite 2/3" is printed after results.json was rewritten for suite 1.
    const r = await bench(['--suite', 'host/faults', '--suite', 'host/uffd-roundtrip', '--suite', 'host/hugepages', '--quick', '--out', out], /suite 2\/3 /);
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const data = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(validateResults(data)).toEqual([]);
    expect(data.run.complete).toBe(false);
    expect(data.run.finishedAt).toBeNull();
    expect(data.suites[0].id).toBe('host/faults');
    expect(data.suites[0].status).toBe('complete');
    expect(data.suites[0].measurements.length).toBeGreaterThan(0);
    expect(data.suites.map((s) => s.id)).not.toContain('host/hugepages');
    // No temporary is left beside it, and nothing else was half-written.
    expect(readdirSync(out)).toEqual(['results.json']);
  }, 150_000);

  it('a finished run: results.json is complete and no temporary file is left', async () => {
    const out = path.join(tmp(), 'run');
    const r = await bench(['--suite', 'host/faults', '--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const data = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(data.run.complete).toBe(true);
    expect(data.suites.map((s) => [s.id, s.status])).toEqual([['host/faults', 'complete']]);
    expect(readdirSync(out).sort()).toEqual(['report.html', 'results.json', 'results.ktap']);
  }, 150_000);

  it.skipIf(!isRoot)('a full disk: the write fails with ENOSPC naming the file, and the previous results.json is intact', () => {
    const dir = smallTmpfs('64k');
    const small = fixtureResults([{ id: 'host/faults', measurements: [{ id: 'a', rounds: [1, 2, 3] }] }]);
    const file = writeResultsJson(small, dir);
    const before = readFileSync(file, 'utf8');
    fill(dir);
    const big = fixtureResults([{ id: 'host/faults', measurements: Array.from({ length: 200 }, (_, i) => ({ id: `m${i}`, rounds: [1, 2, 3] })) }]);
    let thrown: unknown;
    try {
      writeResultsJson(big, dir);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ResultsWriteError);
    expect((thrown as ResultsWriteError).code).toBe('ENOSPC');
    expect((thrown as Error).message).toBe(`cannot write ${file}: ENOSPC: no space left on the device (the previous content, if any, is unchanged)`);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['filler', 'results.json']);
  });

  it.skipIf(!isRoot)('bench on a 64 KiB file system: exit 1 with the reason, results.json keeps the last state that fit', async () => {
    const out = smallTmpfs('64k');
    const r = await bench(['--suite', 'host/faults', '--suite', 'host/uffd-roundtrip', '--quick', '--out', out]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^mirrorlab bench: cannot write ${out}/results\\.json: ENOSPC: no space left on the device \\(the previous content, if any, is unchanged\\); the run stopped there$`, 'm'));
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace
    const data = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(validateResults(data)).toEqual([]);
    expect(data.run.complete).toBe(false);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 150_000);

  it('two writers of one file: every read sees one whole version, never a mix', () => {
    const dir = tmp();
    const file = path.join(dir, 'f.json');
    const versions = ['a', 'b'].map((c) => JSON.stringify({ v: c.repeat(200_000) }));
    for (let i = 0; i < 20; i++) {
      writeFileAtomic(file, versions[i % 2]);
      expect(versions).toContain(readFileSync(file, 'utf8'));
    }
    expect(readdirSync(dir)).toEqual(['f.json']);
  });
});
