// Misuse of the public API never ends the process (#15): each case of
// test/host/misuse-cases.ts runs in a child process that must exit 0 by
// itself, with no signal and within a deadline; every case must end with the
// expected error (name, code, syscall, message substring) or pass its check
// of what it returned.
//
// The children run test/host/misuse-runner.ts bundled from the TypeScript
// sources by esbuild before the tests (never a stale dist/), into .cache/ at
// the repository root so that src/paths.ts finds the repository (and the
// addon) one directory up, as from src/. A child then starts in well under a
// second, where vite-node would transform the whole library each time.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { childOf, misuseCases, type MisuseCase } from './misuse-cases.js';

const esbuild = path.join(repoRoot, 'node_modules/.bin/esbuild');
const bundle = path.join(repoRoot, '.cache/misuse-runner.mjs');
const CHILD_DEADLINE_MS = 30_000;

beforeAll(() => {
  const r = spawnSync(esbuild, [
    'test/host/misuse-runner.ts', '--bundle', '--platform=node', '--format=esm', '--target=node20',
    '--packages=external', `--outfile=${bundle}`, '--log-level=warning',
  ], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed (${r.status}): ${r.stderr}`);
});

interface ChildRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

function runChild(child: string): Promise<ChildRun> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', bundle, child], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, CHILD_DEADLINE_MS);
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, timedOut, stdout, stderr });
    });
  });
}

// A process that exists and is not a zombie (a killed orphan waits for init to reap it).
function stillRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function verdict(c: MisuseCase, line: Record<string, unknown> | undefined): string | undefined {
  if (!line) return 'no result line (the child ended before the case reported)';
  if (c.error) {
    if (line.outcome !== 'threw') return `expected ${c.error.code ?? c.error.name}, it returned (${String(line.check)})`;
    if (line.isError !== true) return `threw a non-Error: ${JSON.stringify(line)}`;
    const want = c.error;
    if (line.code !== want.code) return `code ${String(line.code)}, expected ${want.code}: ${String(line.message)}`;
    if (want.name && line.name !== want.name) return `name ${String(line.name)}, expected ${want.name}`;
    if (want.syscall && line.syscall !== want.syscall) return `syscall ${String(line.syscall)}, expected ${want.syscall}`;
    if (want.message && !String(line.message).includes(want.message)) return `message "${String(line.message)}" lacks "${want.message}"`;
    return undefined;
  }
  if (line.outcome !== 'returned') return `threw ${String(line.code)}: ${String(line.message)}`;
  return line.check === null ? undefined : String(line.check);
}

// One child per group, one per case that used to kill or hang the process.
const children = new Map<string, MisuseCase[]>();
for (const c of misuseCases) {
  const k = childOf(c);
  if (!children.has(k)) children.set(k, []);
  children.get(k)!.push(c);
}

describe('misuse of the public API ends in an error, never in the end of the process', () => {
  it('has at least 100 cases, uniquely named', () => {
    expect(misuseCases.length).toBeGreaterThanOrEqual(100);
    expect(new Set(misuseCases.map((c) => c.name)).size).toBe(misuseCases.length);
  });

  for (const [child, list] of children) {
    it(`${child} (${list.length} case${list.length > 1 ? 's' : ''})`, async () => {
      const r = await runChild(child);
      const lines = new Map<string, Record<string, unknown>>();
      for (const l of r.stdout.split('\n')) {
        if (!l.startsWith('{')) continue;
        const o = JSON.parse(l) as Record<string, unknown>;
        lines.set(String(o.case), o);
      }
      const problems: string[] = [];
      if (r.timedOut) problems.push(`the child did not exit within ${CHILD_DEADLINE_MS} ms (hang)`);
      else if (r.signal !== null) problems.push(`the child died of ${r.signal}`);
      else if (r.status !== 0) problems.push(`the child exited ${r.status}`);
      for (const c of list) {
        const v = verdict(c, lines.get(c.name));
        if (v) problems.push(`${c.name}: ${v}`);
      }
      // A fork child left waiting must not outlive the process that forked it.
      for (const c of list) {
        const pid = (lines.get(c.name)?.info as { pid?: number } | undefined)?.pid;
        if (pid === undefined) continue;
        if (stillRunning(pid)) problems.push(`${c.name}: fork child ${pid} still alive after the process exited`);
      }
      expect(problems, `stderr:\n${r.stderr.slice(-2000)}`).toEqual([]);
    });
  }
});
