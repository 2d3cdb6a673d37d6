// The DRM hardware backends (src/gpu/drm): amdgpu, i915, xe and nouveau, on
// whatever render nodes this machine has. A backend whose GPU is not here is
// skipped with what /dev/dri holds; the parts that need no GPU run
// everywhere: the listing (a driver without a userptr interface is an answer,
// not an error), the argument checks that refuse a bad range before any
// ioctl, and the error each ioctl path throws (its wrapper is run on
// /dev/null, which answers every ioctl with ENOTTY).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import {
  AmdgpuBackend, backendForDriver, describeRenderNodes, DRM_BACKENDS, DrmBackendUnavailableError, findRenderNode,
  I915Backend, listRenderNodes, measureInvalidation, noBackendReason, NouveauBackend, openDrmBackend, XeBackend,
  type DrmBackendBase, type DrmBackendName,
} from '../../src/gpu/drm/index.js';
import { I915 } from '../../src/gpu/drm/i915.js';
import type { XeBackend as XeBackendType } from '../../src/gpu/drm/xe.js';

const PAGE = 4096;
const MB2 = 2 * 1024 * 1024;
const mm = native.mmConstants;
const nodes = listRenderNodes();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drm-hw-'));
const devNull = fs.openSync('/dev/null', 'r+');
afterAll(() => {
  fs.closeSync(devNull);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function mapPopulated(length: number): bigint {
  const a = native.mmap(0, length, mm.PROT_READ | mm.PROT_WRITE, mm.MAP_PRIVATE | mm.MAP_ANONYMOUS | mm.MAP_POPULATE, -1, 0);
  native.patternFill(a, length, 0xd2a1n);
  return a;
}

/** Each backend over /dev/null: every ioctl answers ENOTTY. */
const overDevNull: Record<DrmBackendName, () => DrmBackendBase> = {
  amdgpu: () => new AmdgpuBackend(devNull, '/dev/null', { ownsFd: false }),
  i915: () => new I915Backend(devNull, '/dev/null', { ownsFd: false }),
  xe: () => new XeBackend(devNull, '/dev/null', { ownsFd: false }),
  nouveau: () => new NouveauBackend(devNull, '/dev/null', { ownsFd: false }),
};

/** The ioctl register() reaches first on a fresh backend. */
const FIRST_IOCTL: Record<DrmBackendName, string> = {
  amdgpu: 'ioctl(DRM_IOCTL_AMDGPU_GEM_USERPTR)',
  i915: 'ioctl(DRM_IOCTL_I915_GETPARAM)', // I915_PARAM_HAS_USERPTR_PROBE, to choose PROBE
  xe: 'ioctl(DRM_IOCTL_XE_VM_CREATE)',
  nouveau: 'ioctl(DRM_IOCTL_NOUVEAU_SVM_INIT)',
};

describe('render nodes and the backend each gets', () => {
  it('lists /dev/dri/renderD* with driver and backend; other drivers get "none", not an error', () => {
    console.log(`render nodes: ${describeRenderNodes(nodes)}`);
    for (const n of nodes) {
      expect(n.path).toMatch(/^\/dev\/dri\/renderD\d+$/);
      if (n.driver === null) {
        expect(n.backend).toBeNull();
        expect(n.reason).toMatch(/^none: the node could not be asked/);
      } else if ((DRM_BACKENDS as readonly string[]).includes(n.driver)) {
        expect(n.backend).toBe(n.driver);
        expect(n.reason).toBeNull();
      } else {
        expect(n.backend).toBeNull();
        expect(n.reason).toBe(noBackendReason(n.driver));
        // nvidia-drm and the rest: opening says why, as a typed error
        const e = (() => { try { openDrmBackend(n.path); } catch (err) { return err; } })();
        expect(e).toBeInstanceOf(DrmBackendUnavailableError);
        expect(e).toMatchObject({ code: 'ERR_DRM_NO_USERPTR', driver: n.driver, path: n.path });
      }
    }
  });

  it('the driver name chooses the backend', () => {
    for (const b of DRM_BACKENDS) expect(backendForDriver(b)).toBe(b);
    for (const d of ['nvidia-drm', 'virtio_gpu', 'vmwgfx', 'radeon', 'i915x', '']) expect(backendForDriver(d), d).toBeNull();
    expect(noBackendReason('nvidia-drm')).toMatch(/^none: driver nvidia-drm has no userptr interface mirrorlab drives/);
  });

  it('a directory without render nodes lists none; a node that is not DRM gets a reason, not a throw', () => {
    expect(listRenderNodes(path.join(tmp, 'no-such-dir'))).toEqual([]);
    const dri = path.join(tmp, 'dri');
    fs.mkdirSync(dri);
    fs.writeFileSync(path.join(dri, 'card0'), '');
    fs.writeFileSync(path.join(dri, 'renderD129'), '');
    fs.writeFileSync(path.join(dri, 'renderD128'), '');
    const l = listRenderNodes(dri);
    expect(l.map((n) => path.basename(n.path))).toEqual(['renderD128', 'renderD129']);
    for (const n of l) {
      expect(n).toMatchObject({ driver: null, backend: null, version: null });
      expect(n.reason).toMatch(/^none: the node could not be asked for its driver \(ENOTTY from ioctl\(DRM_IOCTL_VERSION\)\)$/);
    }
    expect(describeRenderNodes([], dri)).toBe(`${dri} has no render node`);
    expect(describeRenderNodes([], path.join(tmp, 'none'))).toMatch(/none does not exist/);
    expect(describeRenderNodes(l, dri)).toBe(`${dri} has renderD128 (${l[0].reason}), renderD129 (${l[1].reason})`);
  });

  it('opening a path that is no DRM node throws the syscall error', () => {
    expect(() => openDrmBackend(path.join(tmp, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    fs.writeFileSync(path.join(tmp, 'plain'), '');
    expect(() => openDrmBackend(path.join(tmp, 'plain'))).toThrow(expect.objectContaining({ code: 'ENOTTY', syscall: 'ioctl(DRM_IOCTL_VERSION)' }));
  });
});

describe('argument checks before any ioctl', () => {
  const bad: [string, { address: bigint | number; length: number }, string, RegExp][] = [
    ['misaligned address', { address: 0x10001000n + 8n, length: PAGE }, 'ERR_INVALID_ARG_VALUE', /range\.address.*aligned to 4096/],
    ['zero length', { address: 0x10000000n, length: 0 }, 'ERR_INVALID_ARG_VALUE', /range\.length.*must not be zero/],
    ['length not whole pages', { address: 0x10000000n, length: PAGE + 1 }, 'ERR_INVALID_ARG_VALUE', /range\.length.*multiple of 4096/],
    ['range past the 64-bit space', { address: (1n << 64n) - BigInt(PAGE), length: 2 * PAGE }, 'ERR_OUT_OF_RANGE', /range\.length.*overflow/],
    ['negative length', { address: 0x10000000n, length: -PAGE }, 'ERR_OUT_OF_RANGE', /range\.length/],
  ];
  for (const b of DRM_BACKENDS) {
    it(`${b}: a bad range is refused with its own error, and a good one reaches the ioctl`, () => {
      const be = overDevNull[b]();
      try {
        // Were a check missing, /dev/null would answer the ioctl with ENOTTY instead.
        for (const [what, range, code, msg] of bad) {
          let e: unknown;
          try {
            be.register(range);
          } catch (err) {
            e = err;
          }
          expect(e, `${b}: ${what}`).toMatchObject({ code });
          expect((e as Error).message, `${b}: ${what}`).toMatch(msg);
        }
        expect(() => be.register(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
        // A well-formed range gets to the driver's ioctl, whose failure carries code, errno, syscall and args.
        const a = mapPopulated(2 * PAGE);
        try {
          let e: unknown;
          try {
            be.register({ address: a, length: 2 * PAGE });
          } catch (err) {
            e = err;
          }
          expect(e).toMatchObject({ code: 'ENOTTY', errno: -os.constants.errno.ENOTTY, syscall: FIRST_IOCTL[b] });
          expect((e as { args: Record<string, unknown> }).args.fd).toBe(devNull);
        } finally {
          native.munmap(a, 2 * PAGE);
        }
      } finally {
        be.close();
      }
      expect(() => be.register({ address: 0x10000000n, length: PAGE })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    });
  }

  it('the native wrappers check the range themselves too (C++), and name the ioctl and its arguments', () => {
    const A = 0x10000000n;
    expect(() => native.amdgpu.gemUserptr(devNull, A + 8n, PAGE, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/amdgpu.gemUserptr: address 0x10000008 is not page aligned/) }));
    expect(() => native.i915.gemUserptr(devNull, A, 0, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/length 0x0 must be a positive multiple/) }));
    expect(() => native.xe.bindUserptr(devNull, 1, A, (1n << 64n) - 4096n, 8192, 0, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/wraps around/) }));
    expect(() => native.xe.bindUserptr(devNull, 1, A, A, PAGE, 0, 1 << 16)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.xe.vmDestroy(devNull, 2 ** 32)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.nouveau.svmMigrateToVram(devNull, 1n << 47n, 1n << 47n)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringMatching(/48 bits/) }));

    const cases: [() => unknown, string, Record<string, unknown>][] = [
      [() => native.amdgpu.gemUserptr(devNull, A, PAGE, 9), 'ioctl(DRM_IOCTL_AMDGPU_GEM_USERPTR)', { addr: A, size: PAGE, flags: 9n }],
      [() => native.amdgpu.gemClose(devNull, 3), 'ioctl(DRM_IOCTL_GEM_CLOSE)', { handle: 3 }],
      [() => native.i915.gemUserptr(devNull, A, PAGE, I915.I915_USERPTR_PROBE), 'ioctl(DRM_IOCTL_I915_GEM_USERPTR)', { user_ptr: A, user_size: PAGE, flags: 2n }],
      [() => native.i915.getParam(devNull, 56), 'ioctl(DRM_IOCTL_I915_GETPARAM)', { param: 56 }],
      [() => native.xe.vmCreate(devNull, 6), 'ioctl(DRM_IOCTL_XE_VM_CREATE)', { flags: 6n }],
      [() => native.xe.vmDestroy(devNull, 4), 'ioctl(DRM_IOCTL_XE_VM_DESTROY)', { vm_id: 4 }],
      [() => native.xe.bindUserptr(devNull, 1, A, A, PAGE, 0, 3), 'ioctl(DRM_IOCTL_XE_VM_BIND)', { vm_id: 1, op: 2, userptr: A, addr: A, range: PAGE, pat_index: 3 }],
      [() => native.xe.bindCpuAddrMirror(devNull, 1, A, PAGE, 0, 2), 'ioctl(DRM_IOCTL_XE_VM_BIND)', { op: 0, flags: 32n, addr: A, range: PAGE, pat_index: 2 }],
      [() => native.xe.unbind(devNull, 1, A, PAGE), 'ioctl(DRM_IOCTL_XE_VM_BIND)', { op: 1, addr: A }],
      [() => native.xe.queryConfig(devNull), 'ioctl(DRM_IOCTL_XE_DEVICE_QUERY)', { query: 2 }],
      [() => native.nouveau.svmInit(devNull, A, MB2), 'ioctl(DRM_IOCTL_NOUVEAU_SVM_INIT)', { unmanaged_addr: A, unmanaged_size: MB2 }],
      [() => native.nouveau.svmMigrateToVram(devNull, A, 2 * PAGE), 'ioctl(DRM_IOCTL_NOUVEAU_SVM_BIND)', { va_start: A, va_end: A + 8192n, npages: 2, header: 1n << 47n }],
    ];
    for (const [call, syscall, args] of cases) {
      let e: unknown;
      try {
        call();
      } catch (err) {
        e = err;
      }
      expect(e, syscall).toMatchObject({ code: 'ENOTTY', syscall, args: { fd: devNull, ...args } });
      expect((e as Error).message, syscall).toMatch(new RegExp(`^ENOTTY: .*${syscall.replace(/[()]/g, '\\$&')}`));
    }
  });
});

describe('invalidation cost, measured the same way for every backend', () => {
  it('times munmap and mprotect of registered and plain ranges alike, releasing each registration', () => {
    // A registration that registers nothing: the plumbing, not a driver.
    const seen: { address: bigint; length: number; released: boolean }[] = [];
    const register = (r: { address: bigint; length: number }) => {
      const rec = { ...r, released: false };
      seen.push(rec);
      return { backend: 'amdgpu' as const, kind: 'none', address: r.address, length: r.length, id: 1, ns: 1, release: () => { rec.released = true; } };
    };
    for (const op of ['munmap', 'mprotect'] as const) {
      seen.length = 0;
      const c = measureInvalidation(register, { op, length: 4 * PAGE, runs: 3 });
      expect(c).toMatchObject({ op, length: 4 * PAGE, runs: 3 });
      expect([c.registered.n, c.plain.n]).toEqual([3, 3]);
      expect(c.registered.min).toBeGreaterThan(0);
      expect(c.plain.min).toBeGreaterThan(0);
      expect(Number.isFinite(c.ratio)).toBe(true);
      expect(seen.map((s) => [s.length, s.released])).toEqual([[4 * PAGE, true], [4 * PAGE, true], [4 * PAGE, true]]);
      // every range is gone afterwards (mprotect's are unmapped after their release)
      for (const s of seen) expect(() => native.checkMapped(s.address, s.length)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    }
  });

  it('a registration that fails leaves no mapping behind and its error goes out unchanged', () => {
    let at = 0n;
    const e = new Error('driver says no');
    expect(() => measureInvalidation((r) => { at = r.address; throw e; }, { runs: 2, length: PAGE })).toThrow(e);
    expect(() => native.checkMapped(at, PAGE)).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
    expect(() => measureInvalidation(() => { throw e; }, { op: 'madvise' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => measureInvalidation(() => { throw e; }, { length: 100 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('on the GPU', () => {
  /** The backend's node, or the skip reason printed. */
  function nodeOr(b: DrmBackendName, ctx: { skip: () => void }): string | null {
    const n = findRenderNode(b, nodes);
    if (!n) {
      console.warn(`skip: no ${b} render node: ${describeRenderNodes(nodes)}`);
      ctx.skip();
      return null;
    }
    return n.path;
  }

  function logCost(b: string, be: { register: DrmBackendBase['register'] }): void {
    for (const op of ['munmap', 'mprotect'] as const) {
      const c = measureInvalidation((r) => be.register(r), { op, length: MB2, runs: 5 });
      expect(c.registered.n).toBe(5);
      expect(c.registered.median).toBeGreaterThan(0);
      expect(c.plain.median).toBeGreaterThan(0);
      console.log(`${b}: ${op} of 2 MiB: registered ${c.registered.median} ns, plain ${c.plain.median} ns (x${c.ratio.toFixed(2)})`);
    }
  }

  it('amdgpu: GEM_USERPTR (REGISTER | VALIDATE | ANONONLY) gives a handle; munmap/mprotect cost with the notifier', (ctx) => {
    const p = nodeOr('amdgpu', ctx);
    if (!p) return;
    using be = openDrmBackend(p) as AmdgpuBackend;
    const a = mapPopulated(MB2);
    try {
      const r = be.userptr({ address: a, length: MB2 });
      expect(r.id).toBeGreaterThan(0);
      expect(r.ns).toBeGreaterThan(0);
      r.release();
      // writable without the notifier: the driver refuses (EACCES)
      expect(() => be.userptr({ address: a, length: MB2 }, { flags: 0 })).toThrow(expect.objectContaining({ code: 'EACCES' }));
    } finally {
      native.munmap(a, MB2);
    }
    logCost('amdgpu', be);
  });

  it('i915: GEM_USERPTR gives a handle; PROBE refuses an unmapped range with EFAULT; invalidation cost', (ctx) => {
    const p = nodeOr('i915', ctx);
    if (!p) return;
    using be = openDrmBackend(p) as I915Backend;
    const a = mapPopulated(MB2);
    try {
      const r = be.userptr({ address: a, length: MB2 });
      expect(r.id).toBeGreaterThan(0);
      r.release();
    } finally {
      native.munmap(a, MB2);
    }
    if (be.hasUserptrProbe()) expect(() => be.userptr({ address: a, length: MB2 }, { probe: true })).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    else console.warn('skip: PROBE part: this kernel has no I915_PARAM_HAS_USERPTR_PROBE');
    logCost('i915', be);
  });

  it('xe: VM_BIND MAP_USERPTR into a VM, CPU_ADDR_MIRROR on a fault-mode VM where the GPU can; invalidation cost', (ctx) => {
    const p = nodeOr('xe', ctx);
    if (!p) return;
    using be = openDrmBackend(p) as XeBackendType;
    const a = mapPopulated(MB2);
    try {
      const r = be.userptr({ address: a, length: MB2 });
      expect(r.id).toBeGreaterThan(0);
      r.release();
      if (be.hasCpuAddrMirror()) {
        const m = be.cpuAddrMirror({ address: a, length: MB2 });
        expect(m.id).toBeGreaterThan(0);
        m.release();
      } else {
        console.warn('skip: CPU_ADDR_MIRROR part: DRM_XE_QUERY_CONFIG_FLAG_HAS_CPU_ADDR_MIRROR is not set on this device/kernel');
      }
    } finally {
      native.munmap(a, MB2);
    }
    logCost('xe', be);
  });

  it('nouveau: SVM_INIT, then SVM_BIND migrates to VRAM (the GPU reads every page) and the CPU reads the same bytes back', (ctx) => {
    const p = nodeOr('nouveau', ctx);
    if (!p) return;
    using be = openDrmBackend(p) as NouveauBackend;
    const a = mapPopulated(MB2);
    try {
      be.register({ address: a, length: MB2 });
      // the pages came back from VRAM on the CPU's faults: the GPU copied what it read
      expect(native.patternCheck(a, MB2, 0xd2a1n, 0)).toBe(0);
    } finally {
      native.munmap(a, MB2);
    }
    logCost('nouveau', be);
  });
});
