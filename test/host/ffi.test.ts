import { describe, expect, it } from 'vitest';
import { findLibrary, libc, NativeLibrary } from '../../src/ffi/index.js';

describe('ffi: ad-hoc calls into libraries found at run time', () => {
  it('getpid() through libc equals process.pid', () => {
    expect(libc().call('getpid', 'i32')).toBe(process.pid);
    const getpid = libc().fn<number>('getpid', 'i32');
    expect(getpid()).toBe(process.pid);
  });

  it('sysconf(_SC_PAGESIZE) is 4096', () => {
    const _SC_PAGESIZE = 30;
    expect(libc().call('sysconf', 'i64', ['i32'], [_SC_PAGESIZE])).toBe(4096);
  });

  it('errno comes back with the call', () => {
    const r = libc().callWithErrno<number>('close', 'i32', ['i32'], [-1]);
    expect(r.value).toBe(-1);
    expect(r.errno).toBe(9);
    expect(r.code).toBe('EBADF');
  });

  it('strings pass both ways', () => {
    expect(libc().call('strlen', 'u64', ['string'], ['mirrorlab'])).toBe(9);
    process.env.MIRRORLAB_FFI_TEST = 'set from node';
    expect(libc().call('getenv', 'string', ['string'], ['MIRRORLAB_FFI_TEST'])).toBe('set from node');
    expect(libc().call('getenv', 'string', ['string'], ['MIRRORLAB_FFI_TEST_UNSET_' + process.pid])).toBeNull();
  });

  it('an absent library is reported with the reason, not thrown', () => {
    const r = findLibrary('mirrorlab-does-not-exist', ['libmirrorlab-does-not-exist.so.9']);
    expect(r.found).toBe(false);
    if (!r.found) {
      expect(r.tried).toEqual(['libmirrorlab-does-not-exist.so.9']);
      expect(r.reason).toMatch(/cannot open shared object file/);
    }
    expect(() => NativeLibrary.open('libmirrorlab-does-not-exist.so.9')).toThrow(expect.objectContaining({ code: 'ERR_DLOPEN_FAILED' }));
  });

  it('libcuda and libdrm: found or absent, each with its answer', () => {
    for (const name of ['cuda', 'drm']) {
      const r = findLibrary(name);
      if (r.found) {
        expect(r.library).toBeInstanceOf(NativeLibrary);
        r.library.close();
      } else {
        console.warn(`lib${name} absent: ${r.reason}`);
        expect(r.reason.length).toBeGreaterThan(0);
      }
    }
  });

  it('refuses bad arguments and calls on a closed library', () => {
    expect(() => libc().call('getpid', 'int' as any)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => libc().call('sysconf', 'i64', ['i32'], [])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const l = NativeLibrary.open('libc.so.6');
    l.close();
    expect(() => l.call('getpid', 'i32')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});
