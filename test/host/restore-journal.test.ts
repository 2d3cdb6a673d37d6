// A setting changed by a process that is then SIGKILLed (no disposer, no exit
// handler runs) is put back by the next mirrorlab process that changes such
// settings: the change was journaled in $MIRRORLAB_RESTORE_DIR/<pid>.json
// before it was made. Real pools and sysfs files; root only (skips say why).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

const POOL = '/sys/kernel/mm/hugepages/hugepages-2048kB';
const SHMEM = '/sys/kernel/mm/transparent_hugepage/shmem_enabled';
const isRoot = process.getuid?.() === 0;
const nr = () => Number(fs.readFileSync(`${POOL}/nr_hugepages`, 'utf8'));
const usable = () => Number(fs.readFileSync(`${POOL}/free_hugepages`, 'utf8')) - Number(fs.readFileSync(`${POOL}/resv_hugepages`, 'utf8'));
const shmemMode = () => /\[(\S+)\]/.exec(fs.readFileSync(SHMEM, 'utf8'))![1];

const dist = (m: string) => JSON.stringify(path.join(repoRoot, 'dist', m));

/** Runs `code` (ES module) in a node child with the journal in `dir`; resolves once it prints `ready` (then it is SIGKILLed) or exits. */
function child(code: string, dir: string, killOnReady: boolean): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, MIRRORLAB_RESTORE_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => {
      stdout += d;
      if (killOnReady && /^ready$/m.test(stdout)) p.kill('SIGKILL');
    });
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('exit', (c, signal) => resolve({ pid: p.pid!, code: c, signal, stdout, stderr }));
  });
}

const journalDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-journal-'));
let poolBefore: number | undefined;
let shmemBefore: string | undefined;
afterEach(() => {
  // Whatever happened, the machine is left as found.
  if (poolBefore !== undefined) fs.writeFileSync(`${POOL}/nr_hugepages`, String(poolBefore));
  if (shmemBefore !== undefined) fs.writeFileSync(SHMEM, shmemBefore);
  poolBefore = shmemBefore = undefined;
});

describe('settings changed by a killed process are restored by the next', () => {
  it.skipIf(!isRoot || !fs.existsSync(POOL))('hugetlb 2M pool: grown by a child that is SIGKILLed, back to the exact nr_hugepages when the next process reserves', async () => {
    const dir = journalDir();
    poolBefore = nr();
    const want = usable() + 3;
    const killed = await child(`const { reserveHugePages } = await import(${dist('memory/hugetlb.js')});
const r = reserveHugePages('2M', ${want});
console.log(r.added);
console.log('ready');
setInterval(() => {}, 1000);`, dir, true);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const added = Number(killed.stdout.split('\n')[0]);
    if (added !== 3) console.warn(`the kernel granted ${added} of 3 pages`);
    expect(added).toBeGreaterThan(0);
    // Nothing ran at the kill: the pool is still grown, and the journal says what it was.
    expect(nr()).toBe(poolBefore + added);
    const journal = JSON.parse(fs.readFileSync(path.join(dir, `${killed.pid}.json`), 'utf8'));
    expect(journal).toMatchObject({ pid: killed.pid, entries: [{ path: `${POOL}/nr_hugepages`, value: String(poolBefore) }] });
    expect(journal.startTime).toMatch(/^\d+$/);

    // The next process asks for one page: it first puts the pool back, then grows it by its own page, then releases.
    const next = await child(`const { reserveHugePages } = await import(${dist('memory/hugetlb.js')});
const r = reserveHugePages('2M', 1);
console.log(r.previous);
r.release();`, dir, false);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toBe(`${poolBefore}\n`);
    expect(nr()).toBe(poolBefore);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!isRoot || !fs.existsSync(SHMEM))('THP shmem_enabled: switched by a child that is SIGKILLed, switched back by the next replay', async () => {
    const dir = journalDir();
    shmemBefore = shmemMode();
    const other = shmemBefore === 'advise' ? 'never' : 'advise';
    const killed = await child(`const { setShmemThp } = await import(${dist('memory/thp.js')});
setShmemThp(${JSON.stringify(other)});
console.log('ready');
setInterval(() => {}, 1000);`, dir, true);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(shmemMode()).toBe(other);
    const next = await child(`const { replayDeadJournals } = await import(${dist('memory/restore-journal.js')});
console.log(JSON.stringify(replayDeadJournals()));`, dir, false);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout)).toEqual([{ pid: killed.pid, restored: [{ path: SHMEM, value: shmemBefore }], failed: [] }]);
    expect(shmemMode()).toBe(shmemBefore);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!isRoot || !fs.existsSync(POOL))('a live process\'s journal is left alone; a clean release leaves no journal', async () => {
    const dir = journalDir();
    poolBefore = nr();
    // A journal of this (live) test process: a replay from another process must not touch it.
    const own = path.join(dir, `${process.pid}.json`);
    const start = fs.readFileSync('/proc/self/stat', 'utf8');
    const startTime = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
    fs.writeFileSync(own, JSON.stringify({ pid: process.pid, startTime, entries: [{ path: `${POOL}/nr_hugepages`, value: String(poolBefore + 7) }] }));
    const clean = await child(`const { reserveHugePages } = await import(${dist('memory/hugetlb.js')});
const r = reserveHugePages('2M', ${usable() + 1});
console.log(r.added);
r.release();`, dir, false);
    expect(clean.code, clean.stderr).toBe(0);
    expect(nr()).toBe(poolBefore);
    expect(fs.readdirSync(dir)).toEqual([`${process.pid}.json`]);
    // With a start time that is not this process's, the pid is a reused one: the journal is replayed.
    fs.writeFileSync(own, JSON.stringify({ pid: process.pid, startTime: '1', entries: [{ path: `${POOL}/nr_hugepages`, value: String(poolBefore) }] }));
    const replay = spawnSync(process.execPath, ['--input-type=module', '-e', `const { replayDeadJournals } = await import(${dist('memory/restore-journal.js')}); console.log(JSON.stringify(replayDeadJournals()));`], { env: { ...process.env, MIRRORLAB_RESTORE_DIR: dir }, encoding: 'utf8' });
    expect(JSON.parse(replay.stdout)).toEqual([{ pid: process.pid, restored: [{ path: `${POOL}/nr_hugepages`, value: String(poolBefore) }], failed: [] }]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
