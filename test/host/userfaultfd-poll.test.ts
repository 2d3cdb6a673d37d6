// The two deliveries of userfaultfd messages to JavaScript: 'poll' (the uffd
// read on the main thread's event loop, the default) and 'thread' (a native
// reader thread and a thread-safe function). Faults come from accessor
// threads; every test checks the bytes those threads read back.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { Userfaultfd, threadRead, type PageFault, type ThreadAccessResult, type UffdDelivery } from '../../src/userfaultfd/index.js';
import { Mapping, PAGE, pattern, uffdProbe } from './userfaultfd-memory.js';

const noUffd = uffdProbe === null;
const C = native.uffdConstants;

function errorOf(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** Threads of this process asleep in handle_userfault (held on a fault), from /proc wchan. */
function heldThreads(): number {
  let n = 0;
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      if (fs.readFileSync(`/proc/self/task/${t}/wchan`, 'utf8') === 'handle_userfault') n++;
    } catch {
      /* the thread exited */
    }
  }
  return n;
}

/** Wait (at most ~10 s) until `n` threads are held on faults, so their messages are all queued. */
async function untilHeld(n: number): Promise<void> {
  for (let i = 0; i < 1000 && heldThreads() < n; i++) await new Promise((r) => setTimeout(r, 10));
  const held = heldThreads();
  if (held < n) throw new Error(`${held} of ${n} accessor threads are held in handle_userfault (is /proc/*/wchan readable?)`);
}

/** One single-page accessor thread per page of `m`, all started now. */
function readEachPage(m: Mapping, pages: number): Promise<ThreadAccessResult>[] {
  return Array.from({ length: pages }, (_, i) => threadRead(m.range(i * PAGE, PAGE)));
}

describe.skipIf(noUffd)('delivery choice', () => {
  it("defaults to 'poll', and to 'thread' when a non-cooperative event feature is enabled", () => {
    using plain = Userfaultfd.open({ features: ['THREAD_ID'] });
    expect(plain.delivery).toBe('poll');
    for (const f of ['EVENT_FORK', 'EVENT_REMAP', 'EVENT_REMOVE', 'EVENT_UNMAP'] as const) {
      using u = Userfaultfd.open({ features: [f] });
      expect(u.delivery, f).toBe('thread');
    }
    using forced = Userfaultfd.open({ features: ['EVENT_REMOVE'], delivery: 'poll' });
    expect(forced.delivery).toBe('poll');
    using thread = Userfaultfd.open({ delivery: 'thread' });
    expect(thread.delivery).toBe('thread');
    expect(errorOf(() => Userfaultfd.open({ delivery: 'signal' as never }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe.skipIf(noUffd).each(['poll', 'thread'] as UffdDelivery[])('%s delivery', (delivery) => {
  it('resolves every fault with the bytes copied for its page', async () => {
    const pages = 64;
    using u = Userfaultfd.open({ delivery, features: ['THREAD_ID'] });
    using m = Mapping.anonymous(pages * PAGE);
    u.register(m, 'missing');
    const data = pattern(pages * PAGE, 11);
    const faults: PageFault[] = [];
    u.on('pagefault', (f: PageFault) => {
      faults.push(f);
      const off = Number(f.page - m.address);
      f.copy(data.subarray(off, off + PAGE));
    });
    const r = await threadRead(m);
    expect(u.listening).toBe(true);
    expect(Buffer.from(r.bytes!).equals(Buffer.from(data))).toBe(true);
    expect(faults.map((f) => f.page)).toEqual(Array.from({ length: pages }, (_, i) => m.address + BigInt(i * PAGE)));
    expect(faults.every((f) => f.tid === r.tid && f.resolvedBy === 'copy')).toBe(true);
  });

  it('takes faults of several threads at once and resolves each with its own page', async () => {
    const threads = 8;
    using u = Userfaultfd.open({ delivery, features: ['THREAD_ID'] });
    using m = Mapping.anonymous(threads * PAGE);
    u.register(m, 'missing');
    const readers = readEachPage(m, threads);
    // Every thread is held before anyone reads the uffd: all messages are queued.
    await untilHeld(threads);
    const seen: PageFault[] = [];
    u.on('pagefault', (f: PageFault) => {
      seen.push(f);
      f.copy(pattern(PAGE, Number((f.page - m.address) / BigInt(PAGE))));
    });
    const results = await Promise.all(readers);
    for (let i = 0; i < threads; i++) {
      expect(results[i].bytes, `page ${i}`).toEqual(pattern(PAGE, i));
      expect(seen.find((f) => f.tid === results[i].tid)?.page).toBe(m.address + BigInt(i * PAGE));
    }
    expect(seen).toHaveLength(threads);
    expect(new Set(seen.map((f) => f.tid)).size).toBe(threads);
    // 'poll' reads everything queued in one read(): one batch, one read time.
    if (delivery === 'poll') expect(new Set(seen.map((f) => f.readNs)).size).toBe(1);
  });

  it('stopListening() from a handler keeps the rest of the batch for nextEvent()', async () => {
    const threads = 4;
    using u = Userfaultfd.open({ delivery });
    using m = Mapping.anonymous(threads * PAGE);
    u.register(m, 'missing');
    const readers = readEachPage(m, threads);
    await untilHeld(threads);
    const first = await new Promise<PageFault>((resolve) => {
      u.once('pagefault', (f: PageFault) => {
        u.stopListening();
        resolve(f);
      });
    });
    expect(u.listening).toBe(false);
    first.copy(pattern(PAGE, 100));
    // The other three faults: already read ('poll': in the same batch) or still queued in the kernel.
    const rest: PageFault[] = [];
    for (let i = 0; i < threads - 1; i++) rest.push(await u.nextEvent('pagefault', { timeoutMs: 10_000 }));
    for (const f of rest) f.copy(pattern(PAGE, 100));
    expect(new Set([first, ...rest].map((f) => f.page)).size).toBe(threads);
    for (const r of await Promise.all(readers)) expect(r.bytes).toEqual(pattern(PAGE, 100));
  });

  it('close() from a handler with faults of the batch still pending: every thread resumes and reads zeros', async () => {
    const threads = 4;
    const u = Userfaultfd.open({ delivery });
    using m = Mapping.anonymous(threads * PAGE);
    u.register(m, 'missing');
    const readers = readEachPage(m, threads);
    await untilHeld(threads);
    let handled = 0;
    const closed = new Promise<void>((resolve) => u.once('close', resolve));
    u.on('pagefault', () => {
      handled++;
      u.close();
    });
    await closed;
    const results = await Promise.all(readers);
    expect(handled).toBe(1);
    for (const r of results) {
      expect(r.signal).toBe(null);
      expect(r.bytes!.every((b) => b === 0)).toBe(true);
    }
    expect(u.closed).toBe(true);
  });

  it('close() while faults are held and unanswered releases them', async () => {
    const threads = 3;
    const u = Userfaultfd.open({ delivery });
    using m = Mapping.anonymous(threads * PAGE);
    u.register(m, 'missing');
    const held: PageFault[] = [];
    u.on('pagefault', (f: PageFault) => held.push(f));
    const readers = readEachPage(m, threads);
    await untilHeld(threads);
    while (held.length < threads) await new Promise((r) => setTimeout(r, 5));
    u.close();
    for (const r of await Promise.all(readers)) expect(r.bytes!.every((b) => b === 0)).toBe(true);
    expect(errorOf(() => held[0].copy(pattern(PAGE, 1)))).toMatchObject({ code: 'ERR_INVALID_STATE' });
  });
});

describe.skipIf(noUffd)('poll delivery errors', () => {
  it('a uffd polled before UFFDIO_API reports read() EINVAL through the callback and stops', async () => {
    const fd = native.uffdOpen(C.O_CLOEXEC | C.O_NONBLOCK, false);
    const buffer = new ArrayBuffer(C.POLL_HEADER + C.UFFD_MSG_SIZE);
    const calls: [any, number][] = [];
    const done = new Promise<void>((resolve) => {
      const handle = native.uffdPollStart(fd, buffer, (err, count) => {
        calls.push([err, count]);
        native.uffdPollStop(handle);
        resolve();
      });
    });
    await done;
    native.uffdClose(fd);
    expect(calls).toHaveLength(1);
    expect(calls[0][1]).toBe(0);
    expect(calls[0][0]).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'read(userfaultfd)' });
    expect(calls[0][0].args).toEqual({ fd });
  });

  it('polling a closed fd fails at once with EBADF, errno and the fd', () => {
    const u = Userfaultfd.open();
    const fd = u.fd;
    u.close();
    const e = errorOf(() => native.uffdPollStart(fd, new ArrayBuffer(C.POLL_HEADER + C.UFFD_MSG_SIZE), () => {}));
    expect(e).toMatchObject({ code: 'EBADF', errno: -9, syscall: 'uv_poll_init' });
    expect(e.args).toEqual({ fd });
    // The ioctls on the closed fd carry the errno as well.
    expect(errorOf(() => native.uffdCopy(fd, 0x10000n, new Uint8Array(PAGE), PAGE, 0))).toMatchObject({ code: 'EBADF', errno: -9, syscall: 'ioctl(UFFDIO_COPY)' });
  });

  it('a buffer too small for one message, or not an ArrayBuffer, is refused with a code', () => {
    using u = Userfaultfd.open();
    const short = errorOf(() => native.uffdPollStart(u.fd, new ArrayBuffer(C.POLL_HEADER), () => {}));
    expect(short).toBeInstanceOf(RangeError);
    expect(short.code).toBe('ERR_OUT_OF_RANGE');
    const typed = errorOf(() => native.uffdPollStart(u.fd, new Uint8Array(64) as never, () => {}));
    expect(typed).toBeInstanceOf(TypeError);
    expect(typed.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorOf(() => native.uffdPollStart(u.fd, new ArrayBuffer(64), null as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    // Refused before polling started: the uffd can still be listened to.
    u.listen();
    expect(u.delivery).toBe('poll');
  });

  it('a listener that throws surfaces as an uncaught exception, and the next fault is still delivered', async () => {
    using u = Userfaultfd.open({ delivery: 'poll' });
    using m = Mapping.anonymous(2 * PAGE);
    u.register(m, 'missing');
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      let n = 0;
      u.on('pagefault', (f: PageFault) => {
        f.copy(pattern(PAGE, 5));
        if (n++ === 0) throw new Error('handler failed');
      });
      const r = await threadRead(m);
      expect(r.bytes).toEqual(new Uint8Array([...pattern(PAGE, 5), ...pattern(PAGE, 5)]));
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
    expect(uncaught).toHaveLength(1);
    expect((uncaught[0] as Error).message).toBe('handler failed');
  });
});
