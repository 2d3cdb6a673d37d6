// src/devmem on the host: the uapi layout the addon was built with, the
// pattern loops, and argument checks (the module itself runs only in guests:
// test/guest/fakevram.test.ts).
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FakeVram, UAPI_SIZES, patternBuffer, patternCheck, patternFill } from '../../src/devmem/index.js';
import { Mapping } from '../../src/memory/mapping.js';

describe('devmem', () => {
  it('builds the uapi structs with fixed sizes (u64-aligned, explicit padding)', () => {
    expect(UAPI_SIZES).toEqual({ info: 72, policy: 32, counters: 184, evict: 24, access: 32 });
    for (const v of Object.values(UAPI_SIZES)) expect(v % 8).toBe(0);
  });

  it('pattern loops write and check one u64 per 4 KiB page, relative to a base offset', () => {
    using m = Mapping.anonymous(1 << 20);
    patternFill(m.address, 1 << 20, 0x1234n, 8192);
    expect(patternCheck(m.address, 1 << 20, 0x1234n, 8192)).toBe(0);
    expect(patternCheck(m.address, 1 << 20, 0x1234n, 0)).toBe(256);
    m.view[4096 * 5] ^= 1;
    expect(patternCheck(m.address, 1 << 20, 0x1234n, 8192)).toBe(1);
    const b = patternBuffer(1 << 20, 0x1234n, 8192);
    m.view[4096 * 5] ^= 1;
    expect(Buffer.compare(Buffer.from(b), Buffer.from(m.view.subarray(0, 1 << 20)))).toBe(0);
    expect(new DataView(b.buffer).getBigUint64(4096 * 3, true)).toBe(BigInt(8192 + 4096 * 3) ^ 0x1234n);
  });

  it('reports a missing device with the open(2) error, and checks arguments first', () => {
    if (fs.existsSync('/dev/fakevram0')) {
      console.warn('/dev/fakevram0 exists on this machine: the missing-device case is not run');
    } else {
      expect(() => FakeVram.open()).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    }
    expect(() => FakeVram.open(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
