// The RAM overlay of restored guests (native/qemu_ram_overlay.c): a small
// library preloaded into QEMU that maps anonymous memory over the holes of
// the saved RAM files, so that RAM the guest first writes after a restore is
// backed by transparent huge pages instead of 4 KiB copy-on-write faults.
// Measured on 6.12 (2 CPUs, TCG): writing 1 GiB of fakevram for the first time
// took 9.9 s with 272,000 host faults in QEMU, and 4.3 s with 5,000 with the
// overlay, as in a cold-booted guest. A whole `npm test` made 8.2 million
// such faults (31 GiB) before it.
//
// Built with the system's C compiler on first use, into the cache (one file
// per source digest). Without a compiler, or with $MIRRORLAB_RAM_OVERLAY=0,
// restored guests map their RAM files as QEMU does by itself.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../paths.js';
import { cacheRoot } from './kernels.js';

/** The overlay's source, shipped with the package. */
export const RAM_OVERLAY_SOURCE = path.join(repoRoot, 'native', 'qemu_ram_overlay.c');
/** The variable the library reads: the RAM files it applies to, separated by colons. */
export const RAM_OVERLAY_FILES_VAR = 'MIRRORLAB_RAM_OVERLAY_FILES';

let built: { path: string } | { refused: string } | undefined;

/**
 * The built library, or why there is none. The build runs once per source
 * (the file name is the source's digest), written under a temporary name and
 * renamed, so concurrent test workers never load half a file.
 */
export function ramOverlayLibrary(): { path: string } | { refused: string } {
  if (process.env.MIRRORLAB_RAM_OVERLAY === '0') return { refused: 'RAM overlay off (MIRRORLAB_RAM_OVERLAY=0)' };
  if (built) return built;
  let source: Buffer;
  try {
    source = fs.readFileSync(RAM_OVERLAY_SOURCE);
  } catch (e) {
    return (built = { refused: `no RAM overlay: ${(e as Error).message}` });
  }
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const lib = path.join(cacheRoot(), 'qemu-ram-overlay', `${digest}.so`);
  const tmp = `${lib}.${process.pid}.tmp`;
  try {
    if (fs.existsSync(lib)) return (built = { path: lib });
    fs.mkdirSync(path.dirname(lib), { recursive: true });
    const cc = spawnSync('cc', ['-O2', '-Wall', '-shared', '-fPIC', '-o', tmp, RAM_OVERLAY_SOURCE], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      const why = cc.error ? cc.error.message : (cc.stderr.trim().split('\n')[0] ?? `exit ${cc.status}`);
      return (built = { refused: `no RAM overlay: cc failed: ${why}` });
    }
    fs.renameSync(tmp, lib);
    return (built = { path: lib });
  } catch (e) {
    // a cache that cannot be written: guests start as they would without it
    return (built = { refused: `no RAM overlay: ${(e as Error).message}` });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The environment of a QEMU that maps `files` privately: the overlay
 * preloaded (after whatever LD_PRELOAD already holds) and told which files
 * are RAM. Null where there is no library; `note` says why.
 */
export function ramOverlayEnv(files: readonly string[]): { env: NodeJS.ProcessEnv | null; note: string } {
  const lib = ramOverlayLibrary();
  if ('refused' in lib) return { env: null, note: lib.refused };
  if (files.some((f) => f.includes(':'))) return { env: null, note: 'no RAM overlay: a RAM file path holds ":"' };
  const preload = [process.env.LD_PRELOAD, lib.path].filter(Boolean).join(' ');
  return { env: { ...process.env, LD_PRELOAD: preload, [RAM_OVERLAY_FILES_VAR]: files.join(':') }, note: 'RAM holes anonymous' };
}
