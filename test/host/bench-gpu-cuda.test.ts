// gpu/cuda (src/bench/suites/gpu-cuda.ts). Without a GPU: registered and
// listed, unsupported() names the missing driver, its step count follows the
// plan, and `mirrorlab bench --suite gpu/cuda` exits 0 with the suite
// recorded as skipped with that reason. With one: the quick run completes
// with every check passing or skipped. Speeds are never asserted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUITES } from '../../src/bench/suites.js';
import { REGISTER_SIZES, expectedXor, gpuCudaSuite } from '../../src/bench/suites/gpu-cuda.js';
import { cudaAvailability } from '../../src/gpu/cuda/index.js';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';

const avail = cudaAvailability();
const main = path.join(repoRoot, 'dist/cli/main.js');
const MiB = 1 << 20;

function cli(args: string[], timeout = 60_000) {
  return spawnSync(process.execPath, [main, ...args], { cwd: repoRoot, encoding: 'utf8', timeout });
}

describe('gpu/cuda registration', () => {
  it('is registered once, last, as a host suite, and bench --list shows it', () => {
    expect(SUITES.filter((s) => s.id === 'gpu/cuda')).toHaveLength(1);
    expect(SUITES[SUITES.length - 1]).toBe(gpuCudaSuite);
    expect(gpuCudaSuite.environment).toBe('host');
    expect(existsSync(main), 'dist is built (npm run -s build:ts)').toBe(true);
    const r = cli(['bench', '--list', '--suite', 'gpu']);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^gpu\/cuda\s+host\s+NVIDIA GPU/)]);
    // a separate group: --suite host does not pull the GPU in
    expect(cli(['bench', '--list', '--suite', 'host']).stdout).not.toContain('gpu/cuda');
  });

  it('unsupported() names the missing driver where there is no GPU', async () => {
    const why = await gpuCudaSuite.unsupported(null);
    if (avail.ok) expect(why).toBeNull();
    else {
      expect(why).toContain('libcuda');
      expect(why).toContain(avail.reason!);
    }
  });

  it('steps() follows the plan for --quick, full and --size', () => {
    const quickSizes = REGISTER_SIZES.filter((s) => s <= 64 * MiB).length;
    // registration (4K, THP) per size + bandwidth (device, managed, pinned x3) + pinned munmap,
    // mprotect + managed CPU-after-GPU + HMM bandwidth x3 + HMM munmap, mprotect, CPU-after-GPU + first touch x4
    const rest = 5 + 3 + 3 + 3 + 4;
    expect(gpuCudaSuite.steps({ quick: true, sizes: [] })).toBe(2 * quickSizes + rest);
    expect(gpuCudaSuite.steps({ quick: false, sizes: [] })).toBe(2 * REGISTER_SIZES.length + rest);
    // 4K: its registration, device, managed, pinned-4K, the 4 KiB parts, HMM-4K
    expect(gpuCudaSuite.steps({ quick: true, sizes: ['4k'] })).toBe(quickSizes + 3 + 3 + 1 + 3 + 4);
    // 2M: THP registration, device, managed, pinned THP and hugetlb, HMM THP and hugetlb
    expect(gpuCudaSuite.steps({ quick: false, sizes: ['2M'] })).toBe(REGISTER_SIZES.length + 4 + 2);
    // 1G: only the memory without a host page size
    expect(gpuCudaSuite.steps({ quick: true, sizes: ['1G'] })).toBe(2);
  });

  it('expectedXor is the xor of pattern + i', () => {
    for (const pattern of [0x6d6c_0000_1000_0000n, 0x1_0000_0000n, 5n, 0xffff_ffff_0000_0003n])
      for (const words of [1, 2, 3, 4, 5, 17, 64, 1000]) {
        let x = 0n;
        for (let i = 0; i < words; i++) x ^= BigInt.asUintN(64, pattern + BigInt(i));
        expect(expectedXor(pattern, words), `${pattern} ${words}`).toBe(x);
      }
    expect(() => expectedXor(0xffff_fff0n, 32)).toThrow(RangeError);
  });
});

describe('bench --suite gpu/cuda --quick', () => {
  it('exits 0 and records the suite (skipped with the reason without a GPU)', () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-gpu-cuda-'));
    const r = cli(['bench', '--suite', 'gpu/cuda', '--quick', '--out', out], avail.ok ? 180_000 : 60_000);
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(validateResults(json)).toEqual([]);
    expect(json.suites).toHaveLength(1);
    const s = json.suites[0];
    if (!avail.ok) {
      expect(s).toMatchObject({ id: 'gpu/cuda', status: 'skipped', kernel: null });
      expect(s.reason).toContain('libcuda');
      expect(s.measurements).toEqual([]);
      expect(r.stderr).toMatch(/gpu\/cuda: skipped: no CUDA: .*libcuda/);
      return;
    }
    expect(s.status).toBe('complete');
    expect(s.checks.find((c) => c.name === 'CUDA device')?.status).toBe('pass');
    expect(s.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(s.measurements.length).toBeGreaterThan(0);
  }, 200_000);
});
