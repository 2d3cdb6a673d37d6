// mirrordrm scenarios in the guest: file-backed buffers (ramfs, and mremap of a disk file mapping).
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { native } from '../../addon.js';
import { MockDrm } from '../../mirror/mockdrm.js';
import { Mapping } from '../../memory/mapping.js';
import { PAGE, attempt, rows, brief } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';

const RAMFS = '/mnt/mirrorlab-ramfs';

/** Mounts a ramfs (page-cache pages, not shmem) once; returns the file system type used. */
function ramfsDir(): string {
  if (!fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === RAMFS)) {
    fs.mkdirSync(RAMFS, { recursive: true });
    execFileSync('/bin/mount', ['-t', 'ramfs', 'ramfs', RAMFS]);
  }
  return RAMFS;
}

/**
 * File-backed memory (a regular file on ramfs, MAP_SHARED or MAP_PRIVATE):
 * munmap of page 1, mprotect(PROT_READ), and MADV_DONTNEED followed by a CPU
 * write (the misleading pin). Before registration the CPU wrote 0x33 into page
 * 1 (the page cache when shared, a private copy when private); the file holds 0x11.
 */
export async function fileBacked(mode: MirrorMode, shared: boolean) {
  const dir = ramfsDir();
  const file = `${dir}/buf-${mode}-${shared ? 's' : 'p'}`;
  using dev = MockDrm.open();
  const c = native.mmConstants;
  const out: Record<string, unknown> = { fsType: fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === dir)?.split(' ')[2] };
  for (const kind of ['munmap', 'mprotect', 'dontneed'] as const) {
    fs.writeFileSync(file, Buffer.alloc(4 * PAGE, 0x11));
    const m = Mapping.file(file, 4 * PAGE, { shared });
    try {
      m.view.fill(0x33, PAGE, 2 * PAGE);
      const reg = await attempt(() => dev.userptr({ address: m.address, length: m.length }, { mode, populate: true }));
      if (!reg.ok) {
        out[kind] = { registration: reg };
        continue;
      }
      using buf = reg.value;
      const devBefore = brief(buf.snapshot(1, 1)[0]);
      dev.drainInvalidations();
      const res: Record<string, unknown> = { registration: { ok: true }, devBefore };
      if (kind === 'munmap') {
        native.munmap(m.address + BigInt(PAGE), PAGE);
      } else if (kind === 'mprotect') {
        native.mprotect(m.address, m.length, c.PROT_READ);
      } else {
        native.madvise(m.address, m.length, c.MADV_DONTNEED);
        res.cpuPage1 = m.view[PAGE]; // shared: the page cache (0x33); private: the file again (0x11)
        // Read page 0 too, so that it is mapped from the page cache before
        // the write. Fault-around on the read of page 1 usually maps it, but
        // only when both pages share a fault_around_bytes window (64 KiB,
        // aligned in the address space): where mmap placed the range decides,
        // and 1 placement in 16 left page 0 unmapped (no COW, no CLEAR).
        res.cpuPage0 = m.view[0];
        m.view[0] = 0x22;
      }
      res.records = rows(dev.drainInvalidations().records, m.address);
      res.page0 = await attempt(async () => (await buf.read(0, 1))[0]);
      res.page1 = await attempt(async () => (await buf.read(PAGE, 1))[0]);
      res.snap = buf.snapshot(0, 2).map(brief);
      res.fileBytes = Array.from(fs.readFileSync(file).subarray(0, 1)).concat(Array.from(fs.readFileSync(file).subarray(PAGE, PAGE + 1)));
      out[kind] = res;
    } finally {
      if (kind === 'mprotect') native.mprotect(m.address, m.length, c.PROT_READ | c.PROT_WRITE);
      m.unmap();
    }
  }
  fs.rmSync(file, { force: true });
  return out;
}

/**
 * mremap of a file mapping (on the disk file system): the 4-page mapping
 * (the file holds 0x11, the CPU wrote 0x33 into page 1) moves to a reserved
 * address; then the CPU writes 0x44 to page 1 at the new address. What the
 * object (registered on the old range) got and reads, and what the file holds.
 */
export async function fileMremap(mode: MirrorMode, shared: boolean, dir: string) {
  const c = native.mmConstants;
  const file = `${dir}/mremap-${mode}-${shared ? 's' : 'p'}`;
  fs.writeFileSync(file, Buffer.alloc(4 * PAGE, 0x11));
  using dev = MockDrm.open();
  const m = Mapping.file(file, 4 * PAGE, { shared });
  const dest: bigint = native.mmap(0n, 4 * PAGE, c.PROT_NONE, c.MAP_PRIVATE | c.MAP_ANONYMOUS, -1, 0);
  let moved: Mapping | null = null;
  try {
    m.view.fill(0x33, PAGE, 2 * PAGE);
    const reg = await attempt(() => dev.userptr({ address: m.address, length: m.length }, { mode, populate: true }));
    if (!reg.ok) return { registration: reg };
    using buf = reg.value;
    const base = m.address;
    dev.drainInvalidations();
    m.remap(4 * PAGE, { mayMove: true, fixed: dest });
    moved = m;
    const records = rows(dev.drainInvalidations().records, base);
    m.view[PAGE] = 0x44;
    const page1 = await attempt(async () => (await buf.read(PAGE, 1))[0]);
    const cpuAtNew = [m.view[0], m.view[PAGE]];
    const fileBytes = [0, PAGE].map((o) => fs.readFileSync(file)[o]);
    return { registration: { ok: true }, moved: m.address === dest, records, page1, cpuAtNew, fileBytes, stats: buf.stats() };
  } finally {
    if (moved === null) native.munmap(dest, 4 * PAGE);
    m.unmap();
    fs.rmSync(file, { force: true });
  }
}
