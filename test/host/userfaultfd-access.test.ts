// Accessor threads (native/thread_access.cc): what they read and write, how
// stride and width shape the accesses, and their argument checks.
import { describe, expect, it } from 'vitest';
import { accessBytes, forkAccess, gettid, monotonicNs, stillPending, threadRead, threadWrite } from '../../src/userfaultfd/index.js';
import { Mapping, PAGE, pattern } from './userfaultfd-memory.js';

describe('accessor threads', () => {
  it('read every stride, width bytes each, on a thread other than this one', async () => {
    using m = Mapping.anonymous(4 * PAGE);
    m.view.set(pattern(4 * PAGE, 3));
    const t0 = monotonicNs();
    const r = await threadRead(m, { stride: PAGE, width: 16 });
    expect(r.tid).not.toBe(gettid());
    expect(r.startNs).toBeGreaterThanOrEqual(t0);
    expect(r.endNs).toBeGreaterThanOrEqual(r.startNs);
    expect(r.completed).toBe(4);
    expect(r.latencyNs.length).toBe(4);
    expect(r.signal).toBe(null);
    const want = new Uint8Array(64);
    for (let i = 0; i < 4; i++) want.set(m.view.subarray(i * PAGE, i * PAGE + 16), i * 16);
    expect(r.bytes).toEqual(want);
  });

  it('write data or a fill byte; the last access is clipped to the range', async () => {
    using m = Mapping.anonymous(2 * PAGE);
    const len = PAGE + 100;
    expect(accessBytes(len, { stride: 1000, width: 10 })).toBe(5 * 10);
    await threadWrite({ address: m.address, length: len }, { fill: 9 });
    expect(m.view.subarray(0, len).every((b) => b === 9)).toBe(true);
    expect(m.view[len]).toBe(0);
    const data = pattern(50, 1);
    const w = await threadWrite({ address: m.address, length: len }, { stride: 1000, width: 10, data });
    expect(w.bytes).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(m.view.subarray(i * 1000, i * 1000 + 10)).toEqual(data.subarray(i * 10, i * 10 + 10));
    expect(m.view[10]).toBe(9);
  });

  it('a forked child writes its own copy of a private mapping, and its reads come back', async () => {
    using m = Mapping.anonymous(PAGE);
    m.view.fill(1);
    const w = await forkAccess(m, { write: true, fill: 2 });
    expect(w.exitCode).toBe(0);
    expect(w.pid).toBe(w.tid);
    expect(m.view.every((b) => b === 1)).toBe(true);
    const r = await forkAccess(m);
    expect(r.bytes!.every((b) => b === 1)).toBe(true);
  });

  it('stillPending tells a pending promise from a settled one', async () => {
    expect(await stillPending(new Promise(() => {}), 10)).toBe(true);
    expect(await stillPending(Promise.resolve(1), 10)).toBe(false);
    expect(await stillPending(Promise.reject(new Error('x')), 10)).toBe(false);
  });

  it('refuses bad arguments before starting a thread', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code: string }).code;
      }
      return 'no throw';
    };
    expect(code(() => threadRead({ address: 4096 as never, length: 1 }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => threadRead({ address: 4096n, length: 0 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => threadRead({ address: 4096n, length: 1 }, { stride: 0 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => threadRead({ address: 0xffff_ffff_ffff_f000n, length: 8192 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => threadWrite({ address: 4096n, length: 4096 }, { fill: 256 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => threadWrite({ address: 4096n, length: 4096 }, { data: new Uint8Array(3) }))).toBe('ERR_INVALID_ARG_VALUE');
  });
});
