// The scenarios' bookkeeping, without a GPU: the tagged pages and their
// classification, and the child process's answer where there is no CUDA.
import { describe, expect, it } from 'vitest';
import { cudaAvailability } from '../../src/gpu/cuda/device.js';
import { classify, fillTagged, isFilled, runScenario } from '../../src/gpu/cuda/scenarios.js';

describe('tagged pages', () => {
  it('tell generations, the zero page and foreign bytes apart, page by page', () => {
    const b = new Uint8Array(4 * 4096);
    expect(classify(b)).toEqual({ all: 'zero', pages: { zero: 4 } });
    fillTagged(b, 'A');
    expect(classify(b).all).toBe('A');
    fillTagged(b.subarray(8192), 'B'); // pages 2 and 3 hold B tagged as pages 0 and 1: not B of this range
    expect(classify(b)).toEqual({ all: 'mixed', pages: { A: 2, other: 2 } });
    const c = new Uint8Array(2 * 4096);
    fillTagged(c, 'Y');
    c[4096 + 17] ^= 1; // one flipped bit in page 1
    expect(classify(c)).toEqual({ all: 'mixed', pages: { Y: 1, other: 1 } });
    c.fill(0, 4096);
    expect(classify(c)).toEqual({ all: 'mixed', pages: { Y: 1, zero: 1 } });
  });

  it('isFilled checks every word against pattern + i', () => {
    const b = new Uint8Array(64);
    const w = new BigUint64Array(b.buffer);
    for (let i = 0; i < 8; i++) w[i] = 0xffff_ffff_ffff_fffen + BigInt(i) & 0xffff_ffff_ffff_ffffn;
    expect(isFilled(b, 0xffff_ffff_ffff_fffen)).toBe(true);
    w[5] ^= 1n;
    expect(isFilled(b, 0xffff_ffff_ffff_fffen)).toBe(false);
  });
});

describe.skipIf(cudaAvailability().ok)('without CUDA', () => {
  it('a scenario child answers with the reason, as JSON', async () => {
    const o = await runScenario('misleading-pin', 'cuda-pinned');
    expect(o.error?.code).toBe('ERR_CUDA_UNAVAILABLE');
    expect(o.error?.message).toContain(cudaAvailability().reason);
    expect(o.gpu).toBeUndefined();
  });

  it('an unknown scenario is refused with its usage', async () => {
    const o = await runScenario('nonsense' as 'remap', 'cuda-pinned');
    expect(o.error?.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(o.error?.message).toContain('misleading-pin');
  });
});
