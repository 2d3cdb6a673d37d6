// The bench runner with a real host suite (MADV_POPULATE_WRITE timing):
// results, skips with reasons, and a clean stop on abort with partial results.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { kernelSeries } from '../../src/vm/kernels.js';
import { native } from '../../src/addon.js';
import { compareCommand, validateCommand } from '../../src/bench/cli.js';
import { runBench } from '../../src/bench/runner.js';
import type { Suite } from '../../src/bench/suite.js';
import { repeatUntilStable, toMeasurement } from '../../src/measure/repeat.js';
import { validateResults } from '../../src/report/validate.js';

const C = native.mmConstants;

function populateNs(length: number): number {
  const addr = native.mmap(0n, length, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
  try {
    const t0 = process.hrtime.bigint();
    native.madvise(addr, length, C.MADV_POPULATE_WRITE);
    return Number(process.hrtime.bigint() - t0);
  } finally {
    native.munmap(addr, length);
  }
}

function populateSuite(sizes: number[], onStep?: (i: number) => void): Suite {
  return {
    id: 'populate',
    title: 'MADV_POPULATE_WRITE cost',
    environment: 'host',
    unsupported: async () => null,
    steps: () => sizes.length,
    async run(ctx) {
      for (const [i, size] of sizes.entries()) {
        if (ctx.signal.aborted) return;
        const r = await repeatUntilStable(() => [populateNs(size), populateNs(size)], ctx.repeat);
        ctx.measurement(toMeasurement({ id: `populate/${size}`, title: `populate ${size}`, unit: 'ns', params: { size } }, r));
        ctx.check({ name: `populate ${size} measured`, status: r.warm.every((v) => v > 0) ? 'pass' : 'fail' });
        ctx.step(`${size} bytes`);
        onStep?.(i);
      }
    },
  };
}

const skipped: Suite = {
  id: 'needs-gpu',
  title: 'needs a GPU',
  environment: 'guest',
  unsupported: async (kernel) => `no GPU in the ${kernel} guest`,
  steps: () => 1,
  run: async () => {
    throw new Error('must not run');
  },
};

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-bench-'));

describe('bench runner', () => {
  it('runs host suites once and guest suites per kernel, skipping with the reason', async () => {
    const run = await runBench({ suites: [populateSuite([4096, 65536]), skipped], quick: true, outDir: tmp(), log: () => {} });
    expect(run.results.suites.map((s) => [s.id, s.kernel, s.status])).toEqual([
      ['populate', null, 'complete'],
      ['needs-gpu', '6.1', 'skipped'],
      ['needs-gpu', '6.12', 'skipped'],
      ['needs-gpu', '7.2', 'skipped'],
    ]);
    expect(run.results.suites[1].reason).toBe('no GPU in the 6.1 guest');
    expect(run.results.run.complete).toBe(true);
    expect(run.results.run.quick).toBe(true);
    const json = JSON.parse(readFileSync(run.written.json, 'utf8'));
    expect(validateResults(json)).toEqual([]);
    expect(json.suites[0].measurements.map((m: { id: string }) => m.id)).toEqual(['populate/4096', 'populate/65536']);
    expect(readFileSync(run.written.ktap, 'utf8')).toContain('ok 2 needs-gpu@6.1 # SKIP no GPU in the 6.1 guest');
  });

  it('filters by suite and kernel', async () => {
    const run = await runBench({ suites: [populateSuite([4096]), skipped], suiteFilter: ['needs-gpu'], kernels: [kernelSeries('6.12')], quick: true, outDir: tmp(), log: () => {} });
    expect(run.results.suites.map((s) => `${s.id}@${s.kernel}`)).toEqual(['needs-gpu@6.12']);
    expect(run.results.run.filters).toEqual({ suite: ['needs-gpu'], kernel: ['6.12'] });
  });

  it('on abort keeps what was measured, marks the run incomplete and still writes valid files', async () => {
    const controller = new AbortController();
    const run = await runBench({
      // Two suites need two ids: results.json holds each suite once.
      suites: [populateSuite([4096, 8192, 16384], (i) => i === 0 && controller.abort()), { ...populateSuite([4096]), id: 'populate-again' }],
      quick: true,
      outDir: tmp(),
      signal: controller.signal,
      log: () => {},
    });
    expect(run.results.run.complete).toBe(false);
    expect(run.results.suites[0]).toMatchObject({ status: 'incomplete', reason: 'interrupted' });
    expect(run.results.suites[0].measurements).toHaveLength(1);
    expect(run.results.suites[1]).toMatchObject({ status: 'incomplete', reason: 'interrupted before it started' });
    expect(validateResults(JSON.parse(readFileSync(run.written.json, 'utf8')))).toEqual([]);
    expect(readFileSync(run.written.html, 'utf8')).toContain('INCOMPLETE');
  });

  it('compare and validate from the command line: exit statuses usable in CI', async () => {
    const run = await runBench({ suites: [populateSuite([65536])], quick: true, outDir: tmp(), log: () => {} });
    const dir = tmp();
    const a = path.join(dir, 'a.json');
    const slower = path.join(dir, 'slower.json');
    const broken = path.join(dir, 'broken.json');
    const data = JSON.parse(readFileSync(run.written.json, 'utf8'));
    writeFileSync(a, JSON.stringify(data));
    // The same run with every warm figure scaled past its own round-to-round
    // spread (twice the max/min of the round medians, at least 2x): compare
    // must call it slower. A plain 2x is not always beyond the noise of a
    // 64 KiB quick run on a loaded host (its rounds once spread more than 2x).
    const m = data.suites[0].measurements[0];
    const rounds: number[] = m.roundMedians.length ? m.roundMedians : [m.warm.median];
    const f = Math.max(2, (2 * Math.max(...rounds)) / Math.min(...rounds));
    for (const k of ['min', 'median', 'mean', 'p90', 'p99', 'max']) m.warm[k] *= f;
    m.roundMedians = m.roundMedians.map((v: number) => v * f);
    writeFileSync(slower, JSON.stringify(data));
    data.suites[0].status = 'finished';
    writeFileSync(broken, JSON.stringify(data));

    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...x: unknown[]) => void out.push(x.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation((...x: unknown[]) => void out.push(x.join(' ')));
    try {
      expect(compareCommand([a, a])).toBe(0);
      expect(out.join('\n')).toMatch(/0 slower, 0 faster/);
      out.length = 0;
      expect(compareCommand([a, slower])).toBe(1);
      expect(out.join('\n')).toMatch(/populate@?\/?populate\/65536.*slower/);
      // A file that is not a valid results file is a failure (1), as for validate; a missing one a usage error.
      out.length = 0;
      expect(compareCommand([a, broken])).toBe(1);
      expect(out.join('\n')).toContain(`mirrorlab compare: ${broken}: not a valid mirrorlab results file`);
      expect(() => compareCommand([a, path.join(dir, 'missing.json')])).toThrow(`no such file: ${path.join(dir, 'missing.json')}`);
      expect(validateCommand([a])).toBe(0);
      out.length = 0;
      expect(validateCommand([a, broken])).toBe(1);
      expect(out.join('\n')).toContain(`${broken}: INVALID`);
      expect(out.join('\n')).toContain('/suites/0/status');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });
});
