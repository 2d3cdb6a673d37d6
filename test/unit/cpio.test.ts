// packCpio (src/vm/cpio.ts): the archive depends on the staged tree's names,
// modes and bytes only, so a rebuild or another clone of a commit makes the
// same initrd and the guest states keyed by its bytes are found again.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packCpio } from '../../src/vm/cpio.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A staged tree made now: fresh inodes and mtimes each time. */
function stage(content = 'hello\n', mtime = Date.now() / 1000): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-cpio-test-'));
  dirs.push(d);
  fs.mkdirSync(path.join(d, 'lib/extra'), { recursive: true });
  fs.writeFileSync(path.join(d, 'lib/extra/a.ko'), content);
  fs.writeFileSync(path.join(d, 'init'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('/bin/busybox', path.join(d, 'sh'));
  for (const f of ['lib/extra/a.ko', 'init', 'lib']) fs.utimesSync(path.join(d, f), mtime, mtime);
  return d;
}

function pack(d: string, root = '.'): Buffer {
  const out = path.join(d, '..', `${path.basename(d)}.cpio`);
  dirs.push(out);
  packCpio(d, out, root);
  return fs.readFileSync(out);
}

describe('packCpio', () => {
  it('two trees with the same names, modes and bytes but other mtimes and inodes give the same archive', () => {
    const a = pack(stage('hello\n', 1_000_000));
    const b = pack(stage('hello\n', 2_000_000));
    expect(a.length).toBeGreaterThan(0);
    expect(b.equals(a)).toBe(true);
  });

  it('other bytes in one file give another archive', () => {
    expect(pack(stage('hello\n')).equals(pack(stage('hellp\n')))).toBe(false);
  });

  it('the archive holds every entry, sorted, owned by root, with its mode and the epoch as mtime', () => {
    const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: pack(stage()), encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } }).trim().split('\n');
    const names = listing.map((l) => l.split(/\s+/).slice(8).join(' '));
    expect(names).toEqual(['.', 'init', 'lib', 'lib/extra', 'lib/extra/a.ko', 'sh -> /bin/busybox']);
    for (const l of listing) expect(l).toMatch(/^\S+\s+\d+\s+root\s+root\s+\d+\s+Jan\s+1\s+1970 /);
    expect(listing[1]).toMatch(/^-rwxr-xr-x /);
    expect(listing[4]).toMatch(/^-rw-r--r-- /);
  });

  it('a root below the stage archives that subtree only', () => {
    const listing = execFileSync('cpio', ['-it', '--quiet'], { input: pack(stage(), 'lib'), encoding: 'utf8' }).trim().split('\n');
    expect(listing).toEqual(['lib', 'lib/extra', 'lib/extra/a.ko']);
  });
});
