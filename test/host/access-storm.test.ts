// native.mirrordrm.accessStorm on the host, where there is no mirrordrm: the
// threads' ioctls go to /dev/null, which answers every request with ENOTTY,
// so the counting, the pinning, the stop flag, the cap and the refusals are
// checked here; the guest storms (test/guest/storms.test.ts) use it against
// the module.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';

/** The CPUs this process may run on (Cpus_allowed_list: "0-3,8"). */
function allowedCpus(): number[] {
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

const md = native.mirrordrm;

describe('native.mirrordrm.accessStorm', () => {
  let fd = -1;
  beforeAll(() => {
    fd = fs.openSync('/dev/null', 'r');
  });
  afterAll(() => fs.closeSync(fd));

  it('pins each thread to its CPU, counts every access by errno per handle, and stops on control[0]', async () => {
    const cpus = allowedCpus().slice(0, 2);
    const control = new Int32Array(2);
    const storm = md.accessStorm(fd, [1, 2], new Uint8Array([0x5a, 0x5b]), 4096, cpus, control, 1e9);
    while (Atomics.load(control, 1) < 2000) await new Promise((res) => setTimeout(res, 1));
    Atomics.store(control, 0, 1);
    const threads = await storm;
    expect(threads.map((t) => [t.cpu, t.cpusSeen, t.capped, t.firstWrong])).toEqual(cpus.map((c) => [c, [c], false, '']));
    // control[1] counted every access of every thread, each one an ENOTTY of its handle
    expect(threads.reduce((a, t) => a + t.accesses, 0)).toBe(Atomics.load(control, 1));
    for (const t of threads) {
      expect(t.handles).toHaveLength(2);
      for (const h of t.handles) {
        expect([h.ok, h.wrong]).toEqual([0, 0]);
        expect(Object.keys(h.errors)).toEqual(['ENOTTY']);
      }
      // a thread checks the flag after each round of both handles
      expect(t.handles[0].errors.ENOTTY).toBe(t.handles[1].errors.ENOTTY);
      expect(t.handles[0].errors.ENOTTY + t.handles[1].errors.ENOTTY).toBe(t.accesses);
    }
  });

  it('stops each thread at maxPerThread when nobody sets control[0], and says so', async () => {
    const cpu = allowedCpus()[0];
    const control = new Int32Array(2);
    const threads = await md.accessStorm(fd, [7, 8, 9], new Uint8Array(3), 64, [cpu, cpu], control, 30);
    expect(threads.map((t) => [t.accesses, t.capped])).toEqual([[30, true], [30, true]]);
    expect(Atomics.load(control, 1)).toBe(60);
    expect(Atomics.load(control, 0)).toBe(0);
  });

  it('rejects with the sched_setaffinity error for a CPU that does not exist, the other thread stopping too', async () => {
    const control = new Int32Array(2);
    const err = await md.accessStorm(fd, [1], new Uint8Array(1), 64, [allowedCpus()[0], 1000], control, 1e12).then(
      () => null,
      (e: { code?: string; syscall?: string }) => ({ code: e.code, syscall: e.syscall }),
    );
    expect(err).toEqual({ code: 'EINVAL', syscall: 'sched_setaffinity' });
  });

  it('refuses bad arguments before starting a thread', () => {
    const c = new Int32Array(2);
    const refuse = (f: () => unknown, code: string) => expect(f).toThrow(expect.objectContaining({ code }));
    refuse(() => md.accessStorm(fd, [], new Uint8Array(0), 64, [0], c, 1), 'ERR_INVALID_ARG_TYPE');
    refuse(() => md.accessStorm(fd, [1, 2], new Uint8Array(1), 64, [0], c, 1), 'ERR_INVALID_ARG_TYPE');
    refuse(() => md.accessStorm(fd, [1], new Uint8Array(1), 64, [], c, 1), 'ERR_INVALID_ARG_TYPE');
    refuse(() => md.accessStorm(fd, [1], new Uint8Array(1), 64, [-1], c, 1), 'ERR_INVALID_ARG_TYPE');
    refuse(() => md.accessStorm(fd, [1], new Uint8Array(1), 64, [0], new Int32Array(1), 1), 'ERR_INVALID_ARG_TYPE');
    refuse(() => md.accessStorm(fd, [1], new Uint8Array(1), 0, [0], c, 1), 'EINVAL');
    refuse(() => md.accessStorm(fd, [1], new Uint8Array(1), 65 << 20, [0], c, 1), 'EINVAL');
  });
});
