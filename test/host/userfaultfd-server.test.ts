// The native fault server: faults resolved on a C++ thread with a fixed
// policy, counted and timed, with what the faulting thread reads checked.
import { describe, expect, it } from 'vitest';
import { Userfaultfd, forkAccess, threadRead, threadWrite } from '../../src/userfaultfd/index.js';
import { PAGE, anon, memfdTwice, pattern } from './userfaultfd-memory.js';

describe('native fault server', () => {
  it('copy policy: every page reads the pattern; faults counted and timed', async () => {
    using u = Userfaultfd.open();
    using m = anon(8 * PAGE);
    u.register(m, 'missing');
    const pat = pattern(64, 9); // repeated to fill each page
    using server = u.serve({ pattern: pat });
    const r = await threadRead(m);
    expect(server.running).toBe(true);
    expect(server.stats().faults).toBe(8);
    const s = server.stop();
    expect(server.running).toBe(false);
    for (let i = 0; i < 8 * PAGE; i++) if (r.bytes![i] !== pat[i % 64]) throw new Error(`byte ${i}: ${r.bytes![i]}`);
    expect(s).toMatchObject({ faults: 8, missing: 8, wp: 0, minor: 0, errors: 0 });
    expect(s.serviceNs.length).toBe(8);
    expect(s.service.n).toBe(8);
    expect(s.service.min).toBeGreaterThan(0);
    expect(server.stop()).toBe(s);
  });

  it('zeropage policy: every page reads zeros', async () => {
    using u = Userfaultfd.open();
    using m = anon(4 * PAGE);
    u.register(m, 'missing');
    using server = u.serve({ missing: 'zeropage' });
    const r = await threadRead(m);
    expect(r.bytes!.every((b) => b === 0)).toBe(true);
    expect(server.stop().faults).toBe(4);
  });

  it('a delay before resolving shows in the faulting thread and in the service time', async () => {
    using u = Userfaultfd.open();
    using m = anon(3 * PAGE);
    u.register(m, 'missing');
    using server = u.serve({ delayUs: 2000 });
    const r = await threadRead(m, { width: 1 });
    const s = server.stop();
    expect(s.service.min).toBeGreaterThanOrEqual(2e6);
    for (const ns of r.latencyNs) expect(ns).toBeGreaterThanOrEqual(2e6);
  });

  it('WP faults are resolved by clearing protection; COPY with MODE_WP maps pages protected', async () => {
    using u = Userfaultfd.open({ features: ['PAGEFAULT_FLAG_WP'] });
    using m = anon(2 * PAGE);
    u.register(m, ['missing', 'wp']);
    using server = u.serve({ pattern: new Uint8Array([7]), wp: true });
    await threadWrite(m, { fill: 3 });
    const s = server.stop();
    // Each page: a MISSING write fault (copied protected), then a WP fault.
    expect(s).toMatchObject({ faults: 4, missing: 2, wp: 2, errors: 0 });
    expect(m.view.every((b) => b === 3)).toBe(true);
  });

  it('MINOR faults on shmem are resolved by CONTINUE', async () => {
    using u = Userfaultfd.open({ features: ['MINOR_SHMEM'] });
    using pair = memfdTwice(2 * PAGE);
    pair.b.view.set(pattern(2 * PAGE, 4));
    u.register(pair.a, 'minor');
    using server = u.serve();
    const r = await threadRead(pair.a);
    expect(r.bytes).toEqual(pattern(2 * PAGE, 4));
    expect(server.stop()).toMatchObject({ faults: 2, minor: 2 });
  });

  it('a forked child is not left stuck: its uffd is closed and its fault proceeds unregistered', async () => {
    using u = Userfaultfd.open({ features: ['EVENT_FORK'] });
    using m = anon(PAGE);
    u.register(m, 'missing');
    using server = u.serve({ pattern: new Uint8Array([1]) });
    const r = await forkAccess(m);
    expect(r.exitCode).toBe(0);
    expect(r.bytes!.every((b) => b === 0)).toBe(true);
    expect(server.stop()).toMatchObject({ forks: 1, faults: 0 });
  });

  it('one reader at a time: the server and delivery to JavaScript exclude each other', () => {
    using u = Userfaultfd.open();
    const s = u.serve();
    expect(() => u.listen()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => u.serve()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    s.stop();
    u.listen();
    expect(() => u.serve()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    u.stopListening();
    u.serve().stop();
  });
});
