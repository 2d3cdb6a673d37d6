// Packs a staged directory tree as a newc cpio archive (what the kernel
// unpacks as an initramfs) that depends on the tree's content only.
//
// A guest's saved state is keyed by the bytes of its initrd (snapshot.ts).
// cpio records each file's mtime, inode and device numbers, and staging
// gives every file a fresh mtime, so without this two builds of the same
// tree (a rebuild, another clone of the same commit) made different
// archives, and every guest shape cold booted again.
import { execFileSync } from 'node:child_process';

/**
 * Writes the archive of `root` (a path relative to `stage`, '.' for all of
 * it) to `out`: entries sorted by name, owned by root, mtimes set to the
 * epoch, inodes renumbered and device numbers left out.
 */
export function packCpio(stage: string, out: string, root = '.'): void {
  execFileSync('sh', ['-c', 'cd "$1" && find "$2" -exec touch -h -d @0 {} + && find "$2" | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet > "$3"', 'sh', stage, root, out]);
}
