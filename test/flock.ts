// A lock on a file held by flock(1) in a child process whose stdin is our
// pipe: the wait does not block the test worker's event loop (vitest's RPC
// deadline), and the lock goes when this process ends, however it ends.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

/** Waits for the lock (shared or exclusive); resolves to the function that releases it. */
export function holdFlock(file: string, mode: 'shared' | 'exclusive'): Promise<() => void> {
  fs.closeSync(fs.openSync(file, 'a'));
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [`--${mode}`, file, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const early = (code: number | null): void => reject(new Error(`flock(1) on ${file} exited ${code} before it held the lock`));
    child.on('error', (e) => reject(new Error(`flock(1) on ${file}: ${e.message} (util-linux has it)`)));
    child.once('exit', early);
    child.stdout!.once('data', () => {
      child.off('exit', early);
      resolve(() => {
        child.stdin!.end();
        child.kill('SIGKILL');
      });
    });
  });
}
