// The GPU scenarios (src/gpu/cuda/scenarios.ts) on a real NVIDIA GPU, each in
// a child process of its own, asserting what the GPU read. Without a GPU, or
// without HMM for the cuda-hmm cases, each case skips with the reason.
// The children run dist/: it is rebuilt here when src/ is newer (where tsc is
// installed; the GPU check's bundle ships dist/ built and no compiler).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaAvailability, cudaKindUnsupported } from '../../src/gpu/cuda/device.js';
import { SCENARIO_KINDS, runScenario, type ScenarioId, type ScenarioKind, type ScenarioOutcome } from '../../src/gpu/cuda/scenarios.js';
import { repoRoot } from '../../src/paths.js';
import { ensureGuestBuild } from '../guest/helpers.js';

const avail = cudaAvailability();
if (!avail.ok) console.warn(`no CUDA here, the GPU scenarios skip: ${avail.reason}`);

// Each child has this long; the test a little longer, so a hung child shows as ERR_SCENARIO_TIMEOUT.
const CHILD_MS = 90_000;
const TEST = { timeout: CHILD_MS + 30_000 };

beforeAll(async () => {
  if (!avail.ok) return;
  if (existsSync(path.join(repoRoot, 'node_modules/.bin/tsc'))) await ensureGuestBuild([]);
  expect(existsSync(path.join(repoRoot, 'dist/gpu/cuda/scenario-child.js')), 'dist is built (npm run -s build:ts)').toBe(true);
}, 300_000);

async function outcome(id: ScenarioId, kind: ScenarioKind, skip: (why: string) => void): Promise<ScenarioOutcome> {
  const why = !avail.ok ? `no CUDA: ${avail.reason}` : cudaKindUnsupported(kind, avail.devices[0]);
  if (why) {
    skip(why);
    throw new Error('unreachable');
  }
  const o = await runScenario(id, kind, { timeoutMs: CHILD_MS });
  console.log(`${id} ${kind}: ${JSON.stringify(o)}`);
  if (o.skipped) skip(o.skipped);
  return o;
}

describe.each(SCENARIO_KINDS)('%s', (kind) => {
  const pinned = kind === 'cuda-pinned';
  beforeAll(() => {
    if (avail.ok) console.log(`${avail.devices[0].name}, driver API ${avail.driverVersion}`);
  });

  it('misleading pin: after MADV_DONTNEED and a CPU write, pinned still reads the old pages, HMM the new', TEST, async (ctx) => {
    const o = await outcome('misleading-pin', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.before?.all).toBe('A');
    expect(o.cpu?.all).toBe('B');
    expect(o.gpu?.all).toBe(pinned ? 'A' : 'B');
  });

  it('munmap and mmap again at the same address: pinned reads the old pages, HMM the new mapping', TEST, async (ctx) => {
    const o = await outcome('remap', kind, (w) => ctx.skip(w));
    expect(o.facts.sameAddress).toBe(true);
    expect(o.error).toBeNull();
    expect(o.before?.all).toBe('A');
    expect(o.cpu?.all).toBe('C');
    expect(o.gpu?.all).toBe(pinned ? 'A' : 'C');
  });

  it("fork + COW: the child's write stays in the child, the GPU reads the parent's", TEST, async (ctx) => {
    const o = await outcome('fork-cow', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.facts.childExit).toBe(0);
    expect(o.facts.childRead).toBe('d4'.repeat(8));
    expect(o.cpu?.all).toBe('Y');
    expect(o.gpu?.all).toBe('Y');
  });

  it('mprotect read-only: the GPU reads; a GPU write lands through a pin, faults under HMM', TEST, async (ctx) => {
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

  it('THP and 4 KiB host pages: the GPU reads the same bytes from both', TEST, async (ctx) => {
    const o = await outcome('thp-vs-4k', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.facts.thpGpuRead).toBe('A');
    expect(o.facts['4kGpuRead']).toBe('A');
    expect(o.facts.thpGpuMs).toBeGreaterThan(0);
    expect(o.facts['4kGpuMs']).toBeGreaterThan(0);
    // MADV_NOHUGEPAGE: no PMD mapping in the 4 KiB range
    expect(o.facts['4kAnonHugeKb']).toBe(0);
    // THP may be off or short of free 2 MiB pages: reported, not failed
    if (!o.facts.thpPmdMapped) console.warn(`thp-vs-4k ${kind}: ${o.facts.note}`);
  });

  it('hugetlb 2 MiB: the GPU reads the bytes written', TEST, async (ctx) => {
    const o = await outcome('hugetlb', kind, (w) => ctx.skip(w));
    expect(o.error).toBeNull();
    expect(o.gpu?.all).toBe('A');
    expect(o.facts.hugetlbKb).toBe(4096); // both 2 MiB pages mapped
  });

  it('userfaultfd MISSING: pinning missing pages is refused with no fault served (or served page by page), then the GPU reads the pattern; under HMM the GPU access fails with no fault served', TEST, async (ctx) => {
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
    } else {
      // hmm_range_fault has no FAULT_FLAG_ALLOW_RETRY: handle_userfault answers SIGBUS, the GPU fault is fatal
      expect(o.error?.code).toMatch(/^CUDA_ERROR_/);
      expect(o.facts.faults).toBe(0);
      expect(o.facts.gpuReadPattern).toBeUndefined();
    }
  });
});
