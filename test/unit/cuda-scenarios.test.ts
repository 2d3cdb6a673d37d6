// The scenarios' bookkeeping, without a GPU: the tagged pages and their
// classification, and the child process's answer where there is no CUDA.
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailability } from '../../src/gpu/cuda/device.js';
import { classify, fillTagged, isFilled, runScenario, SCENARIOS } from '../../src/gpu/cuda/scenarios.js';
import { ensureGuestBuild } from '../guest/helpers.js';

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

describe('scenario list', () => {
  it('has unique kebab-case ids and a title each', () => {
    const ids = SCENARIOS.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of SCENARIOS) {
      expect(s.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(s.title.length).toBeGreaterThan(0);
    }
  });
});

describe.skipIf(cudaAvailability().ok)('without CUDA', () => {
  // the children run dist/: rebuilt when src/ is newer
  beforeAll(() => ensureGuestBuild([]), 300_000);

  it('a scenario child answers with the reason, as JSON', async () => {
    const reason = cudaAvailability().reason;
    expect(reason).toBeTruthy();
    for (const kind of ['cuda-pinned', 'cuda-hmm'] as const) {
      const o = await runScenario('misleading-pin', kind);
      expect(o).toMatchObject({ scenario: 'misleading-pin', kind, skipped: null });
      expect(o.error?.code).toBe('ERR_CUDA_UNAVAILABLE');
      expect(o.error?.message).toContain(reason);
      expect(o.gpu).toBeUndefined();
    }
  });

  it('a child that does not answer in time is killed: ERR_SCENARIO_TIMEOUT', async () => {
    const t0 = Date.now();
    const o = await runScenario('remap', 'cuda-pinned', { timeoutMs: 1 }); // node cannot even start in 1 ms
    expect(o.error?.code).toBe('ERR_SCENARIO_TIMEOUT');
    expect(o.error?.message).toContain('killed after 1 ms');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('an unknown scenario is refused with its usage', async () => {
    const o = await runScenario('nonsense' as 'remap', 'cuda-pinned');
    expect(o.error?.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(o.error?.message).toContain('misleading-pin');
  });
});
