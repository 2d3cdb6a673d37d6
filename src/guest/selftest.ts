// Guest-side functions used by the runner's own tests (test/guest/vm*.test.ts)
// through Vm.call(selftest, name, ...). Small on purpose.
import { createHash } from 'node:crypto';
import { Buffer } from 'node:buffer';

/** Returns its arguments unchanged (codec round trip). */
export async function echo(...args: unknown[]): Promise<unknown[]> {
  return args;
}

/** Digest of a byte payload, and the payload itself (so the host can compare both ways). */
export async function digest(bytes: Uint8Array): Promise<{ length: number; sha256: string; bytes: Buffer }> {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { length: b.length, sha256: createHash('sha256').update(b).digest('hex'), bytes: b };
}

/** Blocks the agent's only thread forever without burning CPU: the guest stops answering. */
export async function hang(): Promise<never> {
  const word = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(word, 0, 0);
}

/** Throws an error with a code, like a failed syscall. */
export async function fail(message: string): Promise<never> {
  throw Object.assign(new Error(message), { code: 'EINVAL', errno: -22, syscall: 'selftest' });
}

/** Loads the native addon inside the guest and lists what it exports. */
export async function addonExports(): Promise<string[]> {
  const { native } = await import('../addon.js');
  return Object.keys(native as object).sort();
}
