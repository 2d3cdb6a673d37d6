// Kernel settings that mirrorlab changes for a measurement (a hugetlb pool
// grown, shmem_enabled switched) are put back by their disposers. A process
// that exits before those run (a second Ctrl-C calls process.exit at once)
// still puts them back here: 'exit' handlers run on process.exit() too, and
// the restores are plain synchronous writes.
const pending = new Set<() => void>();
let hooked = false;

function runPending(): void {
  for (const fn of [...pending]) {
    pending.delete(fn);
    try {
      fn();
    } catch {
      /* the process is exiting: nothing left to report to */
    }
  }
}

/** Runs `restore` at process exit unless the returned function is called first (and it then runs nothing). */
export function restoreOnExit(restore: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runPending);
  }
  pending.add(restore);
  return () => {
    pending.delete(restore);
  };
}
