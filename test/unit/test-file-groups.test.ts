// The test files' grouping (test/file-groups.ts) and the lock that enforces
// it (test/flock.ts): a name in the groups that matches no file would make
// that file run alone without a word, and a lock that did not exclude would
// let host tests run beside guests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { BESIDE_OTHERS, expectedSeconds, holdsHostLock, HOST_BESIDE_GUESTS, MEASURED_FILES, runsBesideOthers, spreadAmong } from '../file-groups.js';
import { holdFlock } from '../flock.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-groups-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Resolves to true if the promise settles within ms. */
const settlesWithin = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('test file groups', () => {
  it('every file named in the groups exists; the measured ones run beside others, and a file not measured counts as short', () => {
    for (const f of [...BESIDE_OTHERS, ...MEASURED_FILES]) expect(fs.existsSync(path.join(repoRoot, f)), f).toBe(true);
    for (const f of MEASURED_FILES) expect(runsBesideOthers(f), f).toBe(true);
    expect(expectedSeconds('test/guest/selftests.test.ts')).toBeGreaterThan(expectedSeconds('test/guest/vm.test.ts'));
    expect(expectedSeconds('test/unit/no-such.test.ts')).toBe(2);
  });

  it('host files run alone or hold the host lock; the files that change shared guest state run alone; unit files and the icount guests beside others', () => {
    for (const f of HOST_BESIDE_GUESTS) expect(fs.existsSync(path.join(repoRoot, f)), f).toBe(true);
    const hostFiles = fs.readdirSync(path.join(repoRoot, 'test/host')).filter((n) => n.endsWith('.test.ts')).map((n) => `test/host/${n}`);
    for (const f of hostFiles) expect(runsBesideOthers(f), f).toBe(holdsHostLock(f));
    // The ones that change hugetlb pools, THP and memory policy outside a bench, and the cached initramfs.
    for (const f of ['hugetlb', 'pagestate-thp', 'numa', 'restore-journal', 'restore-on-exit', 'initramfs-race', 'faults']) {
      expect(runsBesideOthers(`test/host/${f}.test.ts`), f).toBe(false);
    }
    // Only host files hold the host lock.
    for (const f of [...BESIDE_OTHERS, 'test/unit/compare.test.ts']) expect(holdsHostLock(f), f).toBe(false);
    // vm-setup rebuilds a kernel cache into a temporary cache root of its own
    for (const f of ['test/unit/compare.test.ts', 'test/unit/kernel-build.test.ts', 'test/guest/guest-clock.test.ts', 'test/guest/vm-setup.test.ts']) expect(runsBesideOthers(f), f).toBe(true);
    expect(runsBesideOthers('test/guest/mirrordrm.test.ts')).toBe(true);
    expect(runsBesideOthers('test/guest/vm-snapshot.test.ts')).toBe(true);
  });

  it('the host files are spread out among the others, none next to another where there are enough others', () => {
    expect(spreadAmong<number | string>([1, 2, 3, 4, 5, 6, 7, 8, 9], ['a', 'b'])).toEqual([1, 2, 3, 'a', 4, 5, 6, 'b', 7, 8, 9]);
    expect(spreadAmong<number | string>([1, 2], ['a', 'b', 'c'])).toEqual([1, 'a', 'b', 2, 'c']);
    expect(spreadAmong<string>([], ['a', 'b'])).toEqual(['a', 'b']);
    expect(spreadAmong([1, 2], [])).toEqual([1, 2]);
  });
});

describe('holdFlock', () => {
  it('shared holders coexist; an exclusive one waits for both to let go, and a shared one for it', async () => {
    const lock = path.join(dir, 'a.lock');
    const s1 = await holdFlock(lock, 'shared');
    const s2 = await holdFlock(lock, 'shared');
    const ex = holdFlock(lock, 'exclusive');
    expect(await settlesWithin(ex, 500)).toBe(false);
    s1();
    expect(await settlesWithin(ex, 500)).toBe(false);
    s2();
    expect(await settlesWithin(ex, 5_000)).toBe(true);
    const s3 = holdFlock(lock, 'shared');
    expect(await settlesWithin(s3, 500)).toBe(false);
    (await ex)();
    expect(await settlesWithin(s3, 5_000)).toBe(true);
    (await s3)();
  });

  it('the lock goes with the process that held it, killed or not', async () => {
    const lock = path.join(dir, 'b.lock');
    // vite-node (vitest's own runner) runs the TypeScript module as a plain node process.
    const script = path.join(dir, 'holder.ts');
    fs.writeFileSync(script, `import { holdFlock } from ${JSON.stringify(path.join(repoRoot, 'test/flock.ts'))};
      await holdFlock(${JSON.stringify(lock)}, 'exclusive'); console.log('held'); setInterval(() => {}, 1000);\n`);
    const child = spawn(path.join(repoRoot, 'node_modules/.bin/vite-node'), [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    const mine = holdFlock(lock, 'exclusive');
    expect(await settlesWithin(mine, 500)).toBe(false);
    child.kill('SIGKILL');
    expect(await settlesWithin(mine, 5_000)).toBe(true);
    (await mine)();
  });
});
