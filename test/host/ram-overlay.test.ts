// The RAM overlay (native/qemu_ram_overlay.c, src/vm/ram-overlay.ts) on the
// host, without QEMU: a node process with the library preloaded maps a sparse
// file privately, as a restored guest's QEMU maps its RAM files. The holes,
// shrunk to 2 MiB alignment, must become anonymous memory and the rest stay
// the file's pages; every byte reads as the file holds it; writes stay
// private. Without the file named, the mapping is the file alone (control).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { RAM_OVERLAY_FILES_VAR, ramOverlayLibrary } from '../../src/vm/ram-overlay.js';

const MiB = 1 << 20;
const SIZE = 16 * MiB;
/** Where the file holds data, 4 KiB each, and the byte each is filled with. */
const DATA = [
  { offset: 0, byte: 0xa1 },
  { offset: 8 * MiB + 4096, byte: 0xb2 },
  { offset: SIZE - 4096, byte: 0xc3 },
];

// The child: maps the file at a 2 MiB-aligned address (as QEMU places RAM
// inside a reservation), reports the VMAs over it and what it reads, writes
// into a hole and into a data page.
const CHILD = `
import fs from 'node:fs';
import { createRequire } from 'node:module';
const [root, file, size, probes] = process.argv.slice(1);
const native = createRequire(root + '/package.json')('node-gyp-build')(root);
const c = native.mmConstants;
const len = Number(size);
const M2 = 2n << 20n;
const reserved = native.mmap(0n, len + (2 << 20), c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS | c.MAP_NORESERVE, -1, 0);
const base = (reserved + M2 - 1n) & ~(M2 - 1n);
const fd = fs.openSync(file, 'r');
const p = native.mmap(base, len, c.PROT_READ | c.PROT_WRITE, c.MAP_PRIVATE | c.MAP_FIXED, fd, 0);
const vmas = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').filter(Boolean).map((l) => {
  const [range, , , , , ...name] = l.split(/\\s+/);
  const [a, b] = range.split('-').map((x) => BigInt('0x' + x));
  return { from: a, to: b, name: name.join(' ') };
}).filter((v) => v.to > p && v.from < p + BigInt(len)).map((v) => ({ from: Number(v.from - p), to: Number(v.to - p), file: v.name === file }));
const view = new Uint8Array(native.newView(p, len, false).buffer);
const read = JSON.parse(probes).map((o) => view[o]);
view[4 << 20] = 0xee;
view[4096] = 0xee;
console.log(JSON.stringify({ vmas, read, wrote: [view[4 << 20], view[4096]] }));
`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ram-overlay-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function sparseFile(): string {
  const file = path.join(tmp, 'mem0');
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, SIZE);
  for (const d of DATA) fs.writeSync(fd, Buffer.alloc(4096, d.byte), 0, 4096, d.offset);
  fs.closeSync(fd);
  return file;
}

/** Each data page's first and last byte, and bytes in holes. */
const PROBES = [...DATA.flatMap((d) => [d.offset, d.offset + 4095]), 4096, 3 * MiB, 12 * MiB, 9 * MiB];
const EXPECTED = [0xa1, 0xa1, 0xb2, 0xb2, 0xc3, 0xc3, 0, 0, 0, 0];

function runChild(lib: string, file: string, named: boolean): { vmas: { from: number; to: number; file: boolean }[]; read: number[]; wrote: number[] } {
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: lib };
  if (named) env[RAM_OVERLAY_FILES_VAR] = file;
  else delete env[RAM_OVERLAY_FILES_VAR];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, repoRoot, file, String(SIZE), JSON.stringify(PROBES)], { env, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

const lib = ramOverlayLibrary();
const refused = 'refused' in lib ? lib.refused : null;
if (refused) console.warn(`RAM overlay tests skipped: ${refused}`);

describe.skipIf(refused !== null)('RAM overlay library', () => {
  const so = 'path' in lib ? lib.path : '';

  it('maps anonymous memory over the holes of a named RAM file, 2 MiB aligned; the bytes read as the file holds them; writes stay private', () => {
    const file = sparseFile();
    const before = fs.readFileSync(file);
    const r = runChild(so, file, true);
    // data at [0, 4K), [8M+4K, 8M+8K) and [16M-4K, 16M): the 2 MiB stretches
    // around them stay the file's, the holes between them are anonymous
    expect(r.vmas).toEqual([
      { from: 0, to: 2 * MiB, file: true },
      { from: 2 * MiB, to: 8 * MiB, file: false },
      { from: 8 * MiB, to: 10 * MiB, file: true },
      { from: 10 * MiB, to: 14 * MiB, file: false },
      { from: 14 * MiB, to: 16 * MiB, file: true },
    ]);
    expect(r.read).toEqual(EXPECTED);
    expect(r.wrote).toEqual([0xee, 0xee]);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('leaves a file it was not told about mapped as asked (control)', () => {
    const file = sparseFile();
    const r = runChild(so, file, false);
    expect(r.vmas).toEqual([{ from: 0, to: SIZE, file: true }]);
    expect(r.read).toEqual(EXPECTED);
  });

  it('is built once per source, into the cache, named by its digest', () => {
    expect(path.basename(so)).toMatch(/^[0-9a-f]{16}\.so$/);
    expect(fs.existsSync(so)).toBe(true);
    expect(ramOverlayLibrary()).toEqual({ path: so });
  });
});
