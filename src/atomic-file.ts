// Files that readers must never see half-written (results.json, restore
// journals, cached initramfs images): the bytes go to a temporary file in the
// same directory, are fsync'ed, and the temporary is renamed over the target.
// rename(2) within one file system is atomic, so a reader, a crash or SIGKILL
// at any point sees either the previous file or the new one, never a mix; a
// full disk fails before the rename and leaves the previous file as it was.
import fs from 'node:fs';
import path from 'node:path';

let nextTemp = 0;

/** A temporary name beside `file`, unique to this process and call (two writers never share one). */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${nextTemp++}.tmp`);
}

/**
 * Writes `data` to `file` atomically (temp + fsync + rename, then fsync of
 * the directory so the rename itself survives a power cut). On failure the
 * temporary is removed, `file` keeps its previous content, and the error
 * (code ENOSPC, EROFS, ...) names the file: "cannot write results.json: ...".
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  const temp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, 'wx', mode);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    const err = e as NodeJS.ErrnoException;
    const wrapped = new Error(`cannot write ${file}: ${err.code ? `${err.code}: ` : ''}${describeErrno(err)} (the previous content, if any, is unchanged)`) as NodeJS.ErrnoException;
    wrapped.code = err.code;
    wrapped.path = file;
    throw wrapped;
  }
  syncDirectory(path.dirname(file));
}

function describeErrno(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EDQUOT':
      return 'disk quota exceeded';
    default:
      return e.message.replace(/^\w+: /, '');
  }
}

/** fsync of a directory, so that a rename in it is on disk; file systems that refuse it (some FUSE) are fine. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* the rename happened; only its durability across a power cut is not promised here */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
