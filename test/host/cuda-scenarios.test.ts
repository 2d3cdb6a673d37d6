// The GPU scenarios (src/gpu/cuda/scenarios.ts) on a real NVIDIA GPU, each in
// a child process of its own, asserting what the GPU read. Without a GPU, or
// without HMM for the cuda-hmm cases, each case skips with the reason.
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailability, cudaKindUnsupported } from '../../src/gpu/cuda/device.js';
import { SCENARIO_KINDS, runScenario, type ScenarioId, type ScenarioKind, type ScenarioOutcome } from '../../src/gpu/cuda/scenarios.js';

const avail = cudaAvailability();
if (!avail.ok) console.warn(`no CUDA here, the GPU scenarios skip: ${avail.reason}`);

async function outcome(id: ScenarioId, kind: ScenarioKind, skip: (why: string) => void): Promise<ScenarioOutcome> {
  const why = !avail.ok ? `no CUDA: ${avail.reason}` : cudaKindUnsupported(kind, avail.devices[0]);
  if (why) {
    skip(why);
    throw new Error('unreachable');
  }
  const o = await runScenario(id, kind);
  console.log(`${id} ${kind}: ${JSON.stringify(o)}`);
  if (o.skipped) skip(o.skipped);
  return o;
}

describe.each(SCENARIO_KINDS)('%s', (kind) => {
  const pinned = kind === 'cuda-pinned';
  beforeAll(() => {
    if (avail.ok) console.log(`${avail.devices[0].name}, driver API ${avail.driverVersion}`);
  });

  it('misleading pin: after MADV_DONTNEED and a CPU write, pinned still reads the old pages, HMM the new', async (ctx) => {
    const o = await outcome('misleading-pin', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.before?.all).toBe('A');
    expect(o.cpu?.all).toBe('B');
    expect(o.gpu?.all).toBe(pinned ? 'A' : 'B');
  });

  it('munmap and mmap again at the same address: pinned reads the old pages, HMM the new mapping', async (ctx) => {
    const o = await outcome('remap', kind, (w) => ctx.skip(w));
    expect(o.facts.sameAddress).toBe(true);
    expect(o.error).toBeNull();
    expect(o.before?.all).toBe('A');
    expect(o.cpu?.all).toBe('C');
    expect(o.gpu?.all).toBe(pinned ? 'A' : 'C');
  });

  it("fork + COW: the child's write stays in the child, the GPU reads the parent's", async (ctx) => {
    const o = await outcome('fork-cow', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.facts.childExit).toBe(0);
    expect(o.facts.childRead).toBe('d4'.repeat(8));
    expect(o.cpu?.all).toBe('Y');
    expect(o.gpu?.all).toBe('Y');
  });

  it('mprotect read-only: the GPU reads; a GPU write lands through a pin, faults under HMM', async (ctx) => {
    const o = await outcome('mprotect', kind, (w) => ctx.skip(w));
    expect(o.before?.all).toBe('A');
    expect(o.gpu?.all).toBe('A');
    if (pinned) {
      expect(o.error).toBeNull();
      expect(o.facts.gpuWrite).toBe('ok');
      expect(o.facts.cpuSeesGpuWrite).toBe(true);
    } else {
      expect(o.facts.gpuWrite).toBe('error');
      expect(o.error?.code).toMatch(/^CUDA_ERROR_/);
      expect(o.cpu?.all).toBe('A');
    }
  });

  it('THP and 4 KiB host pages: the GPU reads the same bytes from both', async (ctx) => {
    const o = await outcome('thp-vs-4k', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.facts.thpGpuRead).toBe('A');
    expect(o.facts['4kGpuRead']).toBe('A');
    expect(o.facts.thpGpuMs).toBeGreaterThan(0);
  });

  it('hugetlb 2 MiB: the GPU reads the bytes written', async (ctx) => {
    const o = await outcome('hugetlb', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.gpu?.all).toBe('A');
    expect(o.facts.hugetlbPages).toBeGreaterThan(0);
  });

  it('userfaultfd MISSING: pinning missing pages is refused with no fault served (or served page by page); once the CPU faulted them in, the GPU reads the pattern', async (ctx) => {
    const o = await outcome('userfaultfd', kind, (w) => ctx.skip(w));
    const pages = o.facts.pages;
    if (pinned) {
      expect(o.error).toBeNull();
      if (o.facts.registerMissing === 'ok') expect(o.facts.faultsAfterRegister).toBe(pages);
      else {
        // NVIDIA 580 on 6.18: pin_user_pages() under mmap_lock gets SIGBUS from handle_userfault
        expect(o.facts.registerMissing).toBe('CUDA_ERROR_INVALID_VALUE');
        expect(o.facts.faultsAfterRegister).toBe(0);
        expect(o.facts.faultsAfterCpuTouch).toBe(pages);
      }
      expect(o.facts.faults).toBe(pages);
      expect(o.facts.gpuReadPattern).toBe(true);
    } else if (o.error) {
      expect(o.error.code).toMatch(/^CUDA_ERROR_/);
      expect(o.facts.faults).toBe(0);
    } else {
      expect(o.facts.gpuReadPattern).toBe(true);
      expect(o.facts.faults).toBe(pages);
    }
  });
});
