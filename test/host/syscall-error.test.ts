import { describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';

describe('native system errors', () => {
  it('carry code, negative errno, syscall and the arguments', () => {
    let err: any;
    try {
      native.madvise(1n, 4096, native.mmConstants.MADV_DONTNEED);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('EINVAL');
    expect(err.errno).toBe(-22);
    expect(err.syscall).toBe('madvise');
    expect(err.args).toEqual({ addr: 1n, length: 4096, advice: native.mmConstants.MADV_DONTNEED });
    expect(err.message).toBe('EINVAL: Invalid argument, madvise(addr=0x1, length=4096, advice=4)');
  });
});
