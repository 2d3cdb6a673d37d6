// The CUDA layer (native/cuda.cc, src/gpu/cuda/device.ts). Without a GPU:
// the dlopen-absent path, argument checks made before any CUDA call, and the
// kernels' PTX assembled offline by ptxas where the CUDA toolkit is present.
// With one: what each kernel read and wrote, on each kind of buffer.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { CudaDevice, cudaAvailability, cudaKindUnsupported, withManagedView } from '../../src/gpu/cuda/index.js';
import { Mapping } from '../../src/memory/index.js';

const avail = cudaAvailability();
if (!avail.ok) console.warn(`no CUDA here, GPU cases skip: ${avail.reason}`);

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** Word i of a range filled by the GPU's ml_fill: pattern + i, mod 2^64. */
function expectFilled(bytes: Uint8Array, pattern: bigint): void {
  const w = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  let bad = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== BigInt.asUintN(64, pattern + BigInt(i))) bad++;
  expect(bad).toBe(0);
}

function xorOf(bytes: Uint8Array): bigint {
  const w = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  let x = 0n;
  for (const v of w) x ^= v;
  return x;
}

describe('cuda without a device', () => {
  it('a library that is not there: ok false with the dlopen reason, and no call gets through', () => {
    const r = native.cudaLoad('/nonexistent/libcuda.so.1');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^dlopen \/nonexistent\/libcuda\.so\.1: /);
    expect(codeOf(() => native.cudaDeviceCount())).toBe('ERR_CUDA_NOT_LOADED');
    expect(codeOf(() => native.cudaOpen(0))).toBe('ERR_CUDA_NOT_LOADED');
    // back to the real driver (or its absence) for the rest of the file
    expect(native.cudaLoad('libcuda.so.1').ok).toBe(avail.ok);
  });

  it('CudaDevice.open names the reason when there is no GPU', (ctx) => {
    if (avail.ok) return ctx.skip();
    let err: (Error & { code?: string }) | undefined;
    try {
      CudaDevice.open(0);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('ERR_CUDA_UNAVAILABLE');
    expect(err?.message).toContain(avail.reason);
  });

  it('arguments are checked before any CUDA call', () => {
    expect(codeOf(() => native.cudaGpuRead(0x1004n, 64))).toBe('ERR_OUT_OF_RANGE'); // misaligned
    expect(codeOf(() => native.cudaGpuRead(0x1000n, 12))).toBe('ERR_OUT_OF_RANGE'); // not whole words
    expect(codeOf(() => native.cudaGpuWrite(0x1000n, 0, 1))).toBe('ERR_OUT_OF_RANGE'); // empty
    expect(codeOf(() => native.cudaGpuXor(0xfffffffffffff000n, 0x2000))).toBe('ERR_OUT_OF_RANGE'); // wraps
    expect(codeOf(() => native.cudaGpuTouch(0x1000n, 2n ** 62n, 8, 1))).toBe('ERR_OUT_OF_RANGE'); // pages * stride wraps
    expect(codeOf(() => native.cudaGpuTouch(0x1000n, 1, 4096, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => native.cudaHostRegister(0x1000n, 0, 0))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => native.cudaHostRegister(0x1000n, 4096, 0x10))).toBe('ERR_OUT_OF_RANGE'); // unknown flag
    expect(codeOf(() => native.cudaMemAlloc(0, false))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => native.cudaGpuRead(-1, 8))).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('the kernels are PTX that ptxas assembles for Turing and Hopper', (ctx) => {
    const ptx = native.cudaPtx();
    for (const k of ['ml_copy', 'ml_fill', 'ml_xor', 'ml_touch']) expect(ptx).toContain(`.visible .entry ${k}(`);
    const which = spawnSync('sh', ['-c', 'command -v ptxas || ls /usr/local/cuda/bin/ptxas'], { encoding: 'utf8' });
    const ptxas = which.stdout.trim().split('\n')[0];
    if (which.status !== 0 || !ptxas) {
      console.warn('no ptxas (CUDA toolkit) here: the PTX is not assembled offline');
      return ctx.skip();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ptx-'));
    writeFileSync(path.join(dir, 'k.ptx'), ptx);
    for (const arch of ['sm_75', 'sm_90']) {
      const r = spawnSync(ptxas, [`-arch=${arch}`, '-v', path.join(dir, 'k.ptx'), '-o', path.join(dir, `${arch}.cubin`)], { encoding: 'utf8' });
      expect(r.status, `${arch}: ${r.stderr}`).toBe(0);
    }
    const info = spawnSync(ptxas, ['-arch=sm_90', '-v', path.join(dir, 'k.ptx'), '-o', path.join(dir, 'v.cubin')], { encoding: 'utf8' });
    expect(info.status).toBe(0);
    for (const k of ['ml_copy', 'ml_fill', 'ml_xor', 'ml_touch']) expect(info.stderr).toContain(`Compiling entry function '${k}'`);
    expect(info.stderr).not.toMatch(/spill stores, [1-9]/);
  });
});

describe.skipIf(!avail.ok)('cuda on a GPU', () => {
  let dev: CudaDevice;
  const MiB = 1 << 20;

  beforeAll(() => {
    dev = CudaDevice.open(0);
    console.log(`GPU: ${dev.info.name} (sm ${dev.info.computeCapability}), driver API ${avail.driverVersion}, attributes ${JSON.stringify(dev.info.attributes)}`);
  });
  afterAll(() => dev?.close());

  it('device memory: the GPU writes pattern + i, reads it back, and its xor matches', () => {
    using buf = dev.allocate('cuda-device', 4 * MiB);
    buf.fill(0x1111_0000_0000_0000n);
    const bytes = buf.readSync();
    expectFilled(bytes, 0x1111_0000_0000_0000n);
    expect(buf.xor().xor).toBe(xorOf(bytes));
  });

  it('managed memory: the CPU sees what the GPU wrote, the GPU reads what the CPU wrote', (ctx) => {
    const why = cudaKindUnsupported('cuda-managed', dev.info);
    if (why) return ctx.skip(why);
    using buf = dev.allocate('cuda-managed', 2 * MiB);
    buf.fill(0x2222n);
    withManagedView(buf, (v) => {
      expectFilled(v, 0x2222n);
      v.fill(0x5a);
    });
    expect(buf.readSync(0, 64)).toEqual(new Uint8Array(64).fill(0x5a));
  });

  it('pinned host memory: the GPU reads the CPU\'s bytes and the CPU sees the GPU\'s writes', (ctx) => {
    const why = cudaKindUnsupported('cuda-pinned', dev.info);
    if (why) return ctx.skip(why);
    const m = Mapping.anonymous(4 * MiB);
    try {
      const v = m.subarray(0);
      for (let i = 0; i < v.length; i += 4096) v[i] = (i / 4096) & 0xff;
      using buf = dev.pin(m);
      expect(buf.registerNs).toBeGreaterThan(0);
      expect(Buffer.from(buf.readSync()).equals(Buffer.from(v))).toBe(true);
      const t = buf.touch(4096, 1);
      let sum = 0n;
      for (let i = 0; i < v.length; i += 4096) sum += BigInt(v[i]);
      expect(t.sum).toBe(sum);
      buf.fill(0x3333n, 0, MiB);
      expectFilled(v.subarray(0, MiB), 0x3333n);
    } finally {
      m.unmap();
    }
  });

  it('pageable memory under HMM: the GPU reads and writes a plain mapping at its CPU address', (ctx) => {
    const why = cudaKindUnsupported('cuda-hmm', dev.info);
    if (why) return ctx.skip(why);
    const m = Mapping.anonymous(4 * MiB);
    try {
      const v = m.subarray(0);
      v.fill(0x77);
      const buf = dev.mirror(m);
      expect(buf.gpuAddress).toBe(m.address);
      expect(buf.readSync(0, 4096)).toEqual(new Uint8Array(4096).fill(0x77));
      buf.fill(0x4444n, MiB, MiB);
      expectFilled(v.subarray(MiB, 2 * MiB), 0x4444n);
      expect(v[0]).toBe(0x77);
    } finally {
      m.unmap();
    }
  });
});
