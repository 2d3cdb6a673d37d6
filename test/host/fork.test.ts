import { describe, expect, it } from 'vitest';
import { Mapping, PAGE_SIZE, forkChild, runInChild } from '../../src/memory/index.js';
import { pageSummary } from '../../src/pagestate/index.js';

describe('fork child operations', () => {
  it('child writes to a private mapping are invisible to the parent (copy-on-write)', async () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view.fill(0x11);
    const r = await runInChild([
      { op: 'write', mapping: m, offset: PAGE_SIZE, length: 2 * PAGE_SIZE, value: 0xee },
      { op: 'read', mapping: m, offset: PAGE_SIZE - 2, length: 4 },
    ]);
    expect(r.exitCode).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.results.map((x) => x?.ok)).toEqual([true, true]);
    expect([...r.results[1]!.bytes!]).toEqual([0x11, 0x11, 0xee, 0xee]);
    expect(m.view.every((b) => b === 0x11)).toBe(true);
    // after the child is gone the parent's pages are exclusive again on the next write
    expect(pageSummary(m).present).toBe(4);
  });

  it('child writes through a shared anonymous mapping are visible to the parent', async () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE, { shared: true });
    m.view.fill(0x11);
    const r = await runInChild([{ op: 'write', mapping: m, offset: 10, data: Uint8Array.of(1, 2, 3) }]);
    expect(r.exitCode).toBe(0);
    expect([...m.view.subarray(8, 15)]).toEqual([0x11, 0x11, 1, 2, 3, 0x11, 0x11]);
  });

  it('child writes through a shared memfd mapping are visible; through a private memfd mapping not', async () => {
    using shared = Mapping.memfd(2 * PAGE_SIZE);
    using priv = Mapping.memfd(2 * PAGE_SIZE, { shared: false });
    const r = await runInChild([
      { op: 'write', mapping: shared, offset: PAGE_SIZE, length: 8, value: 0x7f },
      { op: 'write', mapping: priv, offset: PAGE_SIZE, length: 8, value: 0x7f },
    ]);
    expect(r.results.every((x) => x?.ok)).toBe(true);
    expect([...shared.view.subarray(PAGE_SIZE, PAGE_SIZE + 9)]).toEqual([...Array(8).fill(0x7f), 0]);
    expect(priv.view.subarray(PAGE_SIZE, PAGE_SIZE + 9).every((b) => b === 0)).toBe(true);
  });

  it('a wait lets the parent act between child steps: the child keeps its pre-fork copy after the parent writes', async () => {
    using m = Mapping.anonymous(PAGE_SIZE);
    m.view.fill(0xaa);
    const h = forkChild([
      { op: 'read', mapping: m, offset: 0, length: 4 },
      { op: 'wait' },
      { op: 'read', mapping: m, offset: 0, length: 4 },
      { op: 'write', mapping: m, offset: 0, length: 4, value: 0xcc },
      { op: 'wait' },
      { op: 'read', mapping: m, offset: 0, length: 4 },
    ]);
    expect(await h.waiting()).toBe(1);
    m.view.fill(0xbb, 0, 4); // parent breaks CoW first
    h.resume();
    expect(await h.waiting()).toBe(4);
    expect([...m.view.subarray(0, 4)]).toEqual([0xbb, 0xbb, 0xbb, 0xbb]); // child's write stays in the child
    h.resume();
    const r = await h.done;
    expect(r.exitCode).toBe(0);
    expect([...r.results[0]!.bytes!]).toEqual([0xaa, 0xaa, 0xaa, 0xaa]);
    expect([...r.results[2]!.bytes!]).toEqual([0xaa, 0xaa, 0xaa, 0xaa]);
    expect([...r.results[5]!.bytes!]).toEqual([0xcc, 0xcc, 0xcc, 0xcc]);
    expect(r.results[1]!.ok).toBe(true);
  });

  it('system call failures in the child come back as errno and code per operation', async () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    const r = await runInChild([
      { op: 'madvise', mapping: m, advice: 'DONTNEED' },
      { op: 'madvise', address: 0x1000n, length: PAGE_SIZE, advice: 'DONTNEED' },
      { op: 'mprotect', mapping: m, prot: 'r', offset: 0, length: PAGE_SIZE },
      { op: 'munmap', mapping: m, offset: 2 * PAGE_SIZE },
      { op: 'madvise', mapping: m, advice: 'WILLNEED' },
      { op: 'sleep', us: 1000 },
    ]);
    expect(r.exitCode).toBe(0);
    const [a, b, c, d, e, f] = r.results;
    expect(a).toMatchObject({ ok: true, op: 'madvise' });
    expect(b).toMatchObject({ ok: false, code: 'ENOMEM', errno: -12 });
    expect(c!.ok).toBe(true);
    expect(d!.ok).toBe(true);
    expect(e).toMatchObject({ ok: false, code: 'ENOMEM' }); // part of the range is unmapped now (in the child)
    expect(f!.ok).toBe(true);
    // none of it happened in the parent
    m.view.fill(1);
    expect(pageSummary(m).present).toBe(4);
  });

  it('a bad access kills only the child, which is reported with its signal', async () => {
    using m = Mapping.anonymous(2 * PAGE_SIZE);
    const r = await runInChild([
      { op: 'mprotect', mapping: m, prot: 'r' },
      { op: 'write', mapping: m, offset: 0, length: 1, value: 1 },
      { op: 'read', mapping: m, offset: 0, length: 1 },
    ]);
    expect(r.signal).toBe('SIGSEGV');
    expect(r.exitCode).toBeNull();
    expect(r.results[0]!.ok).toBe(true);
    expect(r.results[1]).toBeUndefined();
    expect(r.results[2]).toBeUndefined();
    m.view[0] = 5; // still writable in the parent
    expect(m.view[0]).toBe(5);
  });

  it('the JavaScript thread stays free while the child sleeps', async () => {
    const h = forkChild([{ op: 'sleep', us: 200_000 }]);
    let ticks = 0;
    const t = setInterval(() => ticks++, 10);
    const r = await h.done;
    clearInterval(t);
    expect(r.exitCode).toBe(0);
    expect(ticks).toBeGreaterThanOrEqual(5);
  });

  it('kill() ends a child blocked in a wait; waiting() then rejects', async () => {
    const h = forkChild([{ op: 'wait' }, { op: 'wait' }]);
    expect(await h.waiting()).toBe(0);
    h.kill();
    const r = await h.done;
    expect(r.signal).toBe('SIGKILL');
    await expect(h.waiting()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    expect(() => h.resume()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('bad operations are refused before fork', () => {
    using m = Mapping.anonymous(PAGE_SIZE);
    const bad: [unknown, string][] = [
      [[{ op: 'jump' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'write', mapping: m, offset: 0, length: 2 * PAGE_SIZE }], 'ERR_OUT_OF_RANGE'],
      [[{ op: 'write', mapping: m, value: 256 }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'write', mapping: m, length: 4, data: Uint8Array.of(1) }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'madvise', mapping: m, advice: 'FLY' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'madvise', mapping: m, offset: 1, length: 4096, advice: 'DONTNEED' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'mprotect', mapping: m, prot: 'rwz' }], 'ERR_INVALID_ARG_VALUE'],
      [[{ op: 'read', address: 'x', length: 1 }], 'ERR_INVALID_ARG_TYPE'],
      [[{ op: 'read', mapping: {}, length: 1 }], 'ERR_INVALID_ARG_TYPE'],
      [[{ op: 'sleep', us: -1 }], 'ERR_OUT_OF_RANGE'],
      ['nope', 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [ops, code] of bad) {
      expect(() => forkChild(ops as never), JSON.stringify(ops, (_k, v) => (v instanceof Mapping ? 'm' : v))).toThrow(
        expect.objectContaining({ code }),
      );
    }
    const gone = Mapping.anonymous(PAGE_SIZE);
    gone.unmap();
    expect(() => forkChild([{ op: 'read', mapping: gone, length: 1 }])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});
