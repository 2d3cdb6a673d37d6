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

/**
 * The guest clock seen from inside: CLOCK_MONOTONIC (process.hrtime) read
 * around a fixed integer loop, `times` times after a warm-up that lets V8
 * finish optimizing it. Under the icount clock the deltas count the
 * instructions the loop took (plus any interrupt that landed in it), so two
 * boots give the same numbers; under the wall clock they are host time.
 */
export async function clockProbe(iterations: number, times: number): Promise<{ deltasNs: number[]; checksum: number }> {
  const loop = (n: number): number => {
    let x = 0;
    for (let i = 0; i < n; i++) x = (x + i * 7) | 0;
    return x;
  };
  let checksum = 0;
  for (let w = 0; w < 3; w++) checksum ^= loop(iterations);
  const deltasNs: number[] = [];
  for (let t = 0; t < times; t++) {
    const t0 = process.hrtime.bigint();
    checksum ^= loop(iterations);
    deltasNs.push(Number(process.hrtime.bigint() - t0));
  }
  return { deltasNs, checksum };
}
