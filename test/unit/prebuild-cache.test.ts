// scripts/prebuild.sh keeps the binaries it builds under a key made of the
// build's inputs: the same sources in another directory find them, a changed
// byte in native/ does not, and a hit installs the kept files without
// compiling. (test/host/package.test.ts packs and installs the real thing.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-prebuild-test-'));
  dirs.push(d);
  return d;
}

/** What prebuild.sh reads, copied to a new directory (node_modules linked). */
function sources(): string {
  const d = tempDir();
  for (const f of ['binding.gyp', 'package.json', 'native', 'kernel-patches/include', 'scripts/prebuild.sh']) {
    fs.cpSync(path.join(repoRoot, f), path.join(d, f), { recursive: true });
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(d, 'node_modules'));
  return d;
}

function prebuild(dir: string, args: string[], cache: string): string {
  return execFileSync('bash', [path.join(dir, 'scripts/prebuild.sh'), ...args], {
    cwd: dir,
    env: { ...process.env, MIRRORLAB_CACHE: cache },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

describe('scripts/prebuild.sh cache', () => {
  const cache = tempDir();

  it('the key depends on the sources, not on where they are', () => {
    const a = sources();
    const b = sources();
    const key = prebuild(a, ['--key'], cache);
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(prebuild(b, ['--key'], cache)).toBe(key);
    expect(prebuild(repoRoot, ['--key'], cache)).toBe(key);

    fs.appendFileSync(path.join(b, 'native/mm.cc'), '\n');
    const changed = prebuild(b, ['--key'], cache);
    expect(changed).not.toBe(key);
    fs.writeFileSync(path.join(a, 'kernel-patches/include/new.h'), '');
    expect(prebuild(a, ['--key'], cache)).not.toBe(key);
    expect(prebuild(a, ['--key'], cache)).not.toBe(changed);
  });

  it('a hit installs the kept binaries into prebuilds/ and compiles nothing', () => {
    const d = sources();
    const key = prebuild(d, ['--key'], cache);
    const kept = path.join(cache, 'prebuilds', key);
    fs.mkdirSync(kept, { recursive: true });
    fs.writeFileSync(path.join(kept, 'mirrorlab.node'), 'kept addon');
    fs.writeFileSync(path.join(kept, 'touch_ref'), 'kept touch_ref', { mode: 0o755 });
    // a compiler that is called fails the run
    const noCompiler = tempDir();
    for (const cc of ['cc', 'gcc', 'g++', 'c++', 'make']) {
      fs.writeFileSync(path.join(noCompiler, cc), `#!/bin/sh\n[ "$1" = --version ] && exec /usr/bin/${cc} --version\necho "prebuild called ${cc}" >&2\nexit 1\n`, { mode: 0o755 });
    }
    execFileSync('bash', [path.join(d, 'scripts/prebuild.sh')], {
      cwd: d,
      env: { ...process.env, MIRRORLAB_CACHE: cache, PATH: `${noCompiler}:${process.env.PATH}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const target = `${process.platform}-${process.arch}`;
    expect(fs.readFileSync(path.join(d, 'prebuilds', target, 'mirrorlab.node'), 'utf8')).toBe('kept addon');
    expect(fs.readFileSync(path.join(d, 'prebuilds', target, 'touch_ref'), 'utf8')).toBe('kept touch_ref');
    expect(fs.statSync(path.join(d, 'prebuilds', target, 'touch_ref')).mode & 0o111).not.toBe(0);
  });
});
