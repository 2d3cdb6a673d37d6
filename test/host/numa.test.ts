// move_pages / mbind wrappers on this machine's kernel (one NUMA node here;
// the two-node behaviour is in test/guest/mirrordrm.test.ts), and the fork
// child's ioctl op.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Mapping, PAGE_SIZE, mbind, movePages, pageNodes, runInChild } from '../../src/memory/index.js';

const online = fs.existsSync('/sys/devices/system/node/online') ? fs.readFileSync('/sys/devices/system/node/online', 'utf8').trim() : '';
const noNuma = online === '' ? 'no /sys/devices/system/node/online (kernel without CONFIG_NUMA)' : null;
if (noNuma) console.warn(`numa tests skipped: ${noNuma}`);

describe.skipIf(noNuma !== null)('move_pages and mbind', () => {
  it('pageNodes: a touched page is on an online node, an untouched one gets an errno per page', () => {
    using m = Mapping.anonymous(2 * PAGE_SIZE);
    m.view[0] = 1;
    const r = pageNodes([m.address, m.address + BigInt(PAGE_SIZE)]);
    console.log(`nodes online ${online}: ${JSON.stringify(r)}`);
    expect(r.result).toBe(0);
    expect(r.status[0]).toBe(0);
    expect(r.status[1]).toBeLessThan(0);
    expect(r.codes[1]).toMatch(/^E/);
  });

  it('movePages to the node a page is on succeeds; to a node that does not exist is ENODEV with the args', () => {
    using m = Mapping.anonymous(PAGE_SIZE);
    m.view.fill(7);
    expect(movePages([m.address], [0])).toEqual({ result: 0, status: [0], codes: [null] });
    const missing = online === '0' ? 1 : 63;
    let err: NodeJS.ErrnoException & { args?: Record<string, unknown> } = new Error('none');
    try {
      movePages([m.address], [missing]);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toMatchObject({ code: 'ENODEV', errno: -os.constants.errno.ENODEV, syscall: 'move_pages' });
    expect(err.args).toMatchObject({ pid: 0, count: 1, first: m.address, flags: 2n });
    expect(m.view[0]).toBe(7);
  });

  it('mbind binds and moves a range; the facade refuses bad arguments before the syscall', () => {
    using m = Mapping.anonymous(4 * PAGE_SIZE);
    m.view.fill(3);
    mbind(m, 'bind', [0], { move: true, strict: true });
    mbind(m, 'default');
    const code = (fn: () => void) => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(code(() => mbind(m, 'bind', []))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => mbind(m, 'default', [0]))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => mbind({ address: m.address + 8n, length: PAGE_SIZE }, 'local'))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => mbind(m, 'bind', [64]))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => mbind(m, 'nearest' as never, [0]))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => movePages([m.address], [0, 0]))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => pageNodes([]))).toBe('ERR_INVALID_ARG_TYPE');
    // a node the kernel does not have: EINVAL from mbind itself
    expect(code(() => mbind(m, 'bind', [online === '0' ? 5 : 63]))).toBe('EINVAL');
    expect(m.view[4 * PAGE_SIZE - 1]).toBe(3);
  });
});

describe('fork child ioctl op', () => {
  it('the child calls an ioctl on an inherited file and the argument comes back; a failing ioctl gives its errno', async () => {
    const file = path.join(os.tmpdir(), `mirrorlab-ioctl-${process.pid}`);
    fs.writeFileSync(file, Buffer.alloc(1234, 1));
    const fd = fs.openSync(file, 'r');
    try {
      const FIONREAD = 0x541b;
      const TCGETS = 0x5401;
      const r = await runInChild([
        { op: 'ioctl', fd, request: FIONREAD, data: new Uint8Array(4) },
        { op: 'ioctl', fd, request: TCGETS, data: new Uint8Array(64) },
      ]);
      expect(r.exitCode).toBe(0);
      const b = r.results[0]!.bytes!;
      expect(r.results[0]!.ok).toBe(true);
      expect(new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true)).toBe(1234);
      expect(r.results[1]).toMatchObject({ ok: false, code: 'ENOTTY' });
      let err = '';
      try {
        await runInChild([{ op: 'ioctl', fd: -1, request: FIONREAD, data: new Uint8Array(4) }]);
      } catch (e) {
        err = (e as { code: string }).code;
      }
      expect(err).toBe('ERR_INVALID_ARG_VALUE');
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file);
    }
  });
});
