import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { run } from '../../src/cli/commands.js';
import { toCsv, toJunit, toKcidb, toMarkdown } from '../../src/report/exports/index.js';
import { hostileResults } from '../fixtures/hostile-results.js';

// The CLI from its TypeScript source (vite-node), so the test never runs a stale build.
const viteNode = path.join(repoRoot, 'node_modules/.bin/vite-node');
function cli(args: string[], input?: string) {
  const r = spawnSync(viteNode, [path.join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', input, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mirrorlab CLI', () => {
  async function runCaptured(args: string[]) {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const status = await run(args);
      return { status, stdout: out.join('\n') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it('probe prints findings with their sources, exit 0', async () => {
    const r = await runCaptured(['probe']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^THP\s+enabled \[\w+\]/m);
    expect(r.stdout).toMatch(/from \/sys\/kernel\/mm\/transparent_hugepage/);
  });

  it('probe --json parses and matches sysfs, exit 0', () => {
    const r = cli(['probe', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('mirrorlab-probe/1');
    const f = '/sys/kernel/mm/transparent_hugepage/enabled';
    if (existsSync(f)) expect(j.thp.value.enabled).toBe(/\[(\S+)\]/.exec(readFileSync(f, 'utf8'))![1]);
  });

  it('faults --quick --json measures and checks fault counts, exit 0', async () => {
    const r = await runCaptured(['faults', '--quick', '--json', '--samples', '--rounds', '1', '--repetitions', '2']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('mirrorlab-host-faults/1');
    const w4k = j.cases.find((c: any) => c.name === '4K write');
    expect(w4k.faults.min).toBe(w4k.expectedFaults);
    expect(w4k.cold.n).toBe(w4k.length / 4096);
    expect(w4k.samples.map((x: number[]) => x.length)).toEqual([w4k.length / 4096, w4k.length / 4096]);
    expect(j.reference[0].comparison.faultsAgree).toBe(true);
    for (const s of j.skipped) console.warn(`faults skipped ${s.name}: ${s.reason}`);
  });

  it('an unknown command exits 2 with usage (process exit status)', () => {
    const a = cli(['frobnicate']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/^usage: mirrorlab/);
    expect(a.stderr).toMatch(/unknown command: frobnicate/);
  });

  it('bad options exit 2, help exits 0 (run() returns the exit status main passes to process.exit)', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await run(['probe', '--bogus'])).toBe(2);
      expect(err.mock.calls.flat().join('\n')).toMatch(/bogus/);
      expect(await run(['faults', '--rounds', 'x'])).toBe(2);
      expect(await run(['faults', '--repetitions', '1'])).toBe(2);
      expect(await run([])).toBe(2);
      expect(await run(['help'])).toBe(0);
      expect(log.mock.calls.flat().join('\n')).toMatch(/^usage: mirrorlab/);
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
  });

  it('repl: the library is loaded as `ml`', () => {
    const r = cli(['repl'], "ml.libc().call('getpid', 'i32') === process.pid\nml.probeThp().value.enabled !== undefined\n");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mirrorlab> true\nmirrorlab> true/);
  });
});

describe('mirrorlab export', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-export-'));
  const results = hostileResults();
  const file = path.join(dir, 'results.json');
  writeFileSync(file, JSON.stringify(results));

  async function quiet(args: string[]) {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      return { status: await run(args), stderr: err.mock.calls.flat().join('\n') };
    } finally {
      err.mockRestore();
    }
  }

  it('--out FILE: each format written as its writer makes it from the parsed file', async () => {
    for (const [format, expected] of [['junit', toJunit(results)], ['kcidb', JSON.stringify(toKcidb(results), null, 1) + '\n'], ['csv', toCsv(results)], ['md', toMarkdown(results)]] as const) {
      const out = path.join(dir, `out.${format}`);
      expect(await quiet(['export', '--format', format, file, '--out', out])).toEqual({ status: 0, stderr: '' });
      expect(readFileSync(out, 'utf8'), format).toBe(expected);
    }
  });

  it('without --out: the export on standard output (process exit status 0)', () => {
    const r = cli(['export', '--format', 'csv', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(toCsv(results));
  });

  it('usage errors exit 2, an unreadable or invalid results file exits 1, each with the reason', async () => {
    expect(await quiet(['export', file])).toMatchObject({ status: 2, stderr: expect.stringContaining('--format is required') });
    expect(await quiet(['export', '--format', 'xml', file])).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown format "xml" (formats: junit, kcidb, csv, md)') });
    expect(await quiet(['export', '--format', 'csv'])).toMatchObject({ status: 2, stderr: expect.stringContaining('one RESULTS.json expected') });
    expect((await quiet(['export', '--format', 'csv', '--bogus', file])).status).toBe(2);
    expect(await quiet(['export', '--format', 'csv', path.join(dir, 'missing.json')])).toMatchObject({ status: 1, stderr: expect.stringContaining('ENOENT') });
    const invalid = path.join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ ...results, suites: [{ id: 'x' }] }));
    expect(await quiet(['export', '--format', 'md', invalid])).toMatchObject({ status: 1, stderr: expect.stringContaining('not a mirrorlab results file') });
  });
});

describe('docs/cli.md REPL example', () => {
  // `node` in the repository, then `const m = await import('mirrorlab')` (self-reference by package name).
  it.skipIf(!existsSync(path.join(repoRoot, 'dist/index.js')))('import("mirrorlab") works in a plain node REPL from the repository', async () => {
    const child = spawn(process.execPath, ['-i'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (re.test(out)) {
            clearInterval(t);
            resolve();
          }
        }, 20);
        setTimeout(() => {
          clearInterval(t);
          reject(new Error(`timed out waiting for ${re}; output: ${out}`));
        }, 30_000);
      });
    await waitFor(/> $/);
    child.stdin.write("const m = await import('mirrorlab')\n");
    await waitFor(/undefined\n> $/);
    child.stdin.write("m.libc().call('sysconf', 'i64', ['i32'], [30])\n");
    await waitFor(/4096\n> $/);
    child.stdin.end('.exit\n');
    await new Promise((r) => child.on('exit', r));
    expect(out).not.toMatch(/Uncaught/);
  });
});
