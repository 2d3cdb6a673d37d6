// The saved-state key and files (src/vm/snapshot.ts), without QEMU: what
// changes the key and what does not, digests remembered by stat identity,
// staging and publishing, pruning, and when snapshots are off.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kernelSeries } from '../../src/vm/kernels.js';
import {
  SNAPSHOTS_KEPT,
  discardSnapshot,
  fileDigest,
  incomingArg,
  INITRD_PLACEHOLDER,
  publishSnapshot,
  pruneSnapshots,
  RPC_SOCKET_PLACEHOLDER,
  snapshotKey,
  snapshotPaths,
  snapshotRefusal,
  stagingPaths,
  stateFileProblem,
} from '../../src/vm/snapshot.js';

const series = kernelSeries('7.2');
let cache: string;
let saved: string | undefined;

beforeEach(() => {
  cache = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-snapshot-test-'));
  saved = process.env.MIRRORLAB_CACHE;
  process.env.MIRRORLAB_CACHE = cache;
});
afterEach(() => {
  if (saved === undefined) delete process.env.MIRRORLAB_CACHE;
  else process.env.MIRRORLAB_CACHE = saved;
  fs.rmSync(cache, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const p = path.join(cache, name);
  fs.writeFileSync(p, content);
  return p;
}

describe('snapshotKey', () => {
  const base = (kernel: string, initrd: string[], extra: string[] = []): Parameters<typeof snapshotKey>[0] => ({
    series,
    qemu: process.execPath,
    argv: ['-m', '5120M', '-kernel', kernel, '-initrd', INITRD_PLACEHOLDER, '-append', 'console=ttyS0', '-chardev', `socket,id=rpc,path=${RPC_SOCKET_PLACEHOLDER}`, ...extra],
    initrdParts: initrd,
  });

  it('is the same for the same shape, and changes with an argument, the kernel bytes or the initrd bytes', () => {
    const kernel = file('vmlinux', 'kernel one');
    const initrd = file('initrd.cpio', 'archive one');
    const key = snapshotKey(base(kernel, [initrd]));
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(snapshotKey(base(kernel, [initrd]))).toBe(key);
    expect(snapshotKey(base(kernel, [initrd], ['-icount', 'shift=0,sleep=off']))).not.toBe(key);

    const kernel2 = file('vmlinux2', 'kernel two');
    expect(snapshotKey(base(kernel2, [initrd]))).not.toBe(key);
    const extra = file('selftests.cpio', 'more');
    expect(snapshotKey(base(kernel, [initrd, extra]))).not.toBe(key);

    // Same path, new bytes (a rebuilt initramfs): a new key.
    fs.writeFileSync(initrd, 'archive two, longer');
    expect(snapshotKey(base(kernel, [initrd]))).not.toBe(key);
  });

  it('does not see where the files are, only their bytes', () => {
    const a = file('a-vmlinux', 'the same kernel');
    const b = file('b-vmlinux', 'the same kernel');
    const initrd = file('initrd.cpio', 'archive');
    expect(snapshotKey(base(a, [initrd]))).toBe(snapshotKey(base(b, [initrd])));
  });
});

describe('fileDigest', () => {
  it('is the sha256 of the bytes, remembered on disk under the file identity, recomputed after a rewrite', () => {
    const f = file('data', 'abc');
    const memo = path.join(cache, 'digests');
    expect(fileDigest(f, memo)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(fs.readdirSync(memo)).toHaveLength(1);
    fs.writeFileSync(f, 'abcd');
    expect(fileDigest(f, memo)).toBe('88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589');
    expect(fs.readdirSync(memo)).toHaveLength(2);
  });
});

describe('state directories', () => {
  it('staging is published by a rename; a second publish of the same key keeps the first', () => {
    const key = 'a'.repeat(64);
    const final = snapshotPaths(series, key);
    const one = stagingPaths(series, key);
    fs.writeFileSync(one.state, 'first');
    publishSnapshot(one.dir, final.dir);
    expect(fs.readFileSync(final.state, 'utf8')).toBe('first');
    const two = stagingPaths(series, key);
    fs.writeFileSync(two.state, 'second');
    publishSnapshot(two.dir, final.dir);
    expect(fs.readFileSync(final.state, 'utf8')).toBe('first');
    expect(fs.existsSync(two.dir)).toBe(false);
  });

  it('discard removes a state unless another run replaced it since', () => {
    const key = 'b'.repeat(64);
    const p = snapshotPaths(series, key);
    fs.mkdirSync(p.dir, { recursive: true });
    fs.writeFileSync(p.state, 'bad');
    const badIno = fs.statSync(p.state, { bigint: true }).ino;
    // Replaced by another run: a new file renamed over it (another inode).
    fs.writeFileSync(p.state + '.new', 'good');
    fs.renameSync(p.state + '.new', p.state);
    expect(fs.statSync(p.state, { bigint: true }).ino).not.toBe(badIno);
    discardSnapshot(p.dir, badIno);
    expect(fs.readFileSync(p.state, 'utf8')).toBe('good');
    discardSnapshot(p.dir, fs.statSync(p.state, { bigint: true }).ino);
    expect(fs.existsSync(p.dir)).toBe(false);
  });

  it('pruning keeps the SNAPSHOTS_KEPT most recently used states', () => {
    const keys = Array.from({ length: SNAPSHOTS_KEPT + 2 }, (_, i) => i.toString(16).repeat(64));
    keys.forEach((k, i) => {
      const p = snapshotPaths(series, k);
      fs.mkdirSync(p.dir, { recursive: true });
      const t = new Date(Date.now() - (100 - i) * 60_000);
      fs.utimesSync(p.dir, t, t);
    });
    pruneSnapshots(series);
    expect(keys.map((k) => fs.existsSync(snapshotPaths(series, k).dir))).toEqual([false, false, ...Array(SNAPSHOTS_KEPT).fill(true)]);
  });
});

describe('options', () => {
  it('snapshots are off with snapshot: false, MIRRORLAB_SNAPSHOT=0 and under KVM', () => {
    const env = process.env.MIRRORLAB_SNAPSHOT;
    try {
      delete process.env.MIRRORLAB_SNAPSHOT;
      expect(snapshotRefusal(undefined, 'tcg')).toBeNull();
      expect(snapshotRefusal(false, 'tcg')).toBe('snapshots off (snapshot: false)');
      expect(snapshotRefusal(undefined, 'kvm')).toBe('KVM guests always cold boot');
      expect(snapshotRefusal(undefined, 'tcg', 'icount')).toBe('icount guests always cold boot');
      expect(snapshotRefusal(undefined, 'tcg', 'wall')).toBeNull();
      process.env.MIRRORLAB_SNAPSHOT = '0';
      expect(snapshotRefusal(undefined, 'tcg')).toBe('snapshots off (MIRRORLAB_SNAPSHOT=0)');
    } finally {
      if (env === undefined) delete process.env.MIRRORLAB_SNAPSHOT;
      else process.env.MIRRORLAB_SNAPSHOT = env;
    }
  });

  it('a state path QEMU would get through a shell is quoted, and refused when it cannot be', () => {
    expect(incomingArg('/var/cache/mirrorlab/kernels/7.2/snapshots/k/state')).toBe("exec:cat '/var/cache/mirrorlab/kernels/7.2/snapshots/k/state'");
    expect(() => incomingArg("/tmp/it's")).toThrow(/quotes and newlines are not allowed/);
  });
});

describe('stateFileProblem', () => {
  it('a stream with QEMU\'s magic passes; an empty, short, foreign or missing file is named before QEMU starts', () => {
    expect(stateFileProblem(file('good', 'QEVM\0\0\0\x03rest of the stream'))).toBeNull();
    expect(stateFileProblem(file('empty', ''))).toBe('state file is empty: not a QEMU migration stream');
    expect(stateFileProblem(file('short', 'QE'))).toBe('state file holds 2 bytes: not a QEMU migration stream');
    expect(stateFileProblem(file('garbage', '\x7fELFxxxx'))).toBe('state file starts with "\x7fELF", not QEMU\'s "QEVM": not a QEMU migration stream');
    expect(stateFileProblem(path.join(cache, 'missing'))).toMatch(/^state file unreadable: ENOENT/);
  });
});
