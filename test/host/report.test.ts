// The report pipeline end to end on a real measurement: time MADV_POPULATE_WRITE
// on fresh mappings, write results.json / KTAP / report.html, validate against
// the schema, and render the page in headless Chromium.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { runBench } from '../../src/bench/runner.js';
import { DEFAULT_KERNELS } from '../../src/vm/kernels.js';
import type { Suite } from '../../src/bench/suite.js';
import { repeatUntilStable, roundRatio, toMeasurement } from '../../src/measure/repeat.js';
import { machineInfo } from '../../src/report/machine.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { writeRun, type WrittenRun } from '../../src/report/write.js';
import { chromium, chromiumFlags, decodePng, MIN_COLOURED, renderCanvases } from './chromium.js';

const C = native.mmConstants;

function populateOnce(length: number, advice = C.MADV_POPULATE_WRITE): number {
  const addr = native.mmap(0n, length, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0);
  try {
    const t0 = process.hrtime.bigint();
    native.madvise(addr, length, advice);
    return Number(process.hrtime.bigint() - t0);
  } finally {
    native.munmap(addr, length);
  }
}

async function realResults(): Promise<Results> {
  const sizes = [64 << 10, 256 << 10, 1 << 20];
  const measurements = [];
  for (const size of sizes) {
    const r = await repeatUntilStable(() => Array.from({ length: 8 }, () => populateOnce(size)), { minRounds: 3, maxRounds: 5, budgetMs: 2000 });
    measurements.push(toMeasurement({ id: `populate/${size}`, title: `MADV_POPULATE_WRITE ${size >> 10} KiB`, unit: 'ns', params: { size, mode: 'populate' } }, r));
  }
  const [small, , big] = measurements;
  return {
    schema: 'mirrorlab/results',
    version: 1,
    run: { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), complete: true, argv: [], quick: true, filters: {} },
    machine: machineInfo(),
    suites: [
      {
        id: 'report-selftest',
        title: 'populate cost',
        environment: 'host',
        kernel: null,
        status: 'complete',
        durationMs: 1,
        measurements,
        comparisons: [{ id: 'big/small', title: '1 MiB over 64 KiB', a: big.id, b: small.id, ratio: roundRatio(big, small) }],
        checks: [
          { name: 'populate returned', status: 'pass' },
          { name: 'hugetlb pool', status: 'skip', reason: 'not needed' },
        ],
        plots: [
          { kind: 'histogram', title: 'populate 64 KiB', measurement: small.id },
          { kind: 'curve', title: 'populate cost versus size', x: 'size', series: 'mode', measurements: measurements.map((m) => m.id) },
          { kind: 'bars', title: 'populate cost by size', label: 'size', measurements: measurements.map((m) => m.id) },
        ],
      },
    ],
    kernelComparisons: [],
  };
}

/** How many distinct colours a screenshot shows. */
function distinctColours(png: Buffer): number {
  const { data, channels } = decodePng(png);
  const colours = new Set<number>();
  for (let i = 0; i + 2 < data.length; i += channels) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return colours.size;
}

describe('report pipeline on a real measurement', () => {
  let results: Results;
  let written: WrittenRun;
  beforeAll(async () => {
    results = await realResults();
    written = writeRun(results, mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-report-')));
  });

  it('writes a results.json that the schema accepts, with the statistics users expect', () => {
    const json = JSON.parse(readFileSync(written.json, 'utf8'));
    expect(validateResults(json)).toEqual([]);
    const m = json.suites[0].measurements[0];
    expect(Object.keys(m.warm).sort()).toEqual(['max', 'mean', 'median', 'min', 'n', 'p90', 'p99', 'stddev']);
    expect(m.warm.min).toBeGreaterThan(0);
    expect(m.warm.min).toBeLessThanOrEqual(m.warm.median);
    expect(m.warm.median).toBeLessThanOrEqual(m.warm.max);
    expect(m.cold.n).toBe(8);
    expect(json.machine.kernelRelease).toBe(os.release());
  });

  it('the schema rejects a results file with a missing or wrong field', () => {
    const bad = JSON.parse(readFileSync(written.json, 'utf8'));
    delete bad.suites[0].measurements[0].warm;
    bad.suites[0].status = 'done';
    const problems = validateResults(bad);
    expect(problems.some((p) => p.includes("must have required property 'warm'"))).toBe(true);
    expect(problems.some((p) => p.startsWith('/suites/0/status'))).toBe(true);
  });

  it('writes KTAP with a subtest per suite and a SKIP directive', () => {
    const ktap = readFileSync(written.ktap, 'utf8').split('\n');
    expect(ktap[0]).toBe('KTAP version 1');
    expect(ktap).toContain('    ok 2 hugetlb pool # SKIP not needed');
    expect(ktap).toContain('ok 1 report-selftest');
  });

  it.skipIf(!chromium)('renders every plot of report.html in headless Chromium, offline', () => {
    const html = readFileSync(written.html, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=/); // self-contained: no external scripts
    const dom = execFileSync(chromium!, [...chromiumFlags, '--virtual-time-budget=5000', '--dump-dom', `file://${written.html}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(dom).toMatch(/data-charts-rendered="3"/);
    const shot = path.join(written.dir, 'report.png');
    const r = spawnSync(chromium!, [...chromiumFlags, '--virtual-time-budget=5000', '--window-size=1280,1400', `--screenshot=${shot}`, `file://${written.html}`], { stdio: 'ignore' });
    expect(r.status).toBe(0);
    // A page with three drawn charts has many colours; a blank or error page has a handful.
    expect(distinctColours(readFileSync(shot))).toBeGreaterThan(50);
    console.log(`report screenshot: ${shot}`);
  });
  if (!chromium) console.warn('skip: Chromium not installed (scripts/setup.sh installs Debian chromium)');
});

// A guest suite on every default kernel without booting QEMU: a suite declared
// 'guest' whose run() measures MADV_POPULATE_WRITE/READ on this host, so
// runBench plans it once per kernel in DEFAULT_KERNELS and fills
// kernelComparisons with its own code. The numbers are real host
// measurements under the guest kernel labels; what is under test is the
// two-kernel page (kernel-versus-kernel bars, ratio table, per-kernel plots).
const populateGuestSuite: Suite = {
  id: 'guest/populate',
  title: 'populate cost (host measurement labelled per guest kernel)',
  environment: 'guest',
  unsupported: async () => null,
  steps: () => 6,
  async run(ctx) {
    const ids: string[] = [];
    for (const [mode, advice] of [['write', C.MADV_POPULATE_WRITE], ['read', C.MADV_POPULATE_READ]] as const)
      for (const size of [64 << 10, 256 << 10, 1 << 20]) {
        const r = await repeatUntilStable(() => Array.from({ length: 8 }, () => populateOnce(size, advice)), ctx.repeat);
        const id = `populate/${mode}/${size}`;
        ctx.measurement(toMeasurement({ id, title: `MADV_POPULATE_${mode.toUpperCase()} ${size >> 10} KiB`, unit: 'ns', params: { size, mode } }, r));
        ids.push(id);
        ctx.step(id);
      }
    ctx.plot({ kind: 'histogram', title: `${ctx.kernel}: populate write 64 KiB`, measurement: ids[0] });
    ctx.plot({ kind: 'curve', title: `${ctx.kernel}: populate cost versus size`, x: 'size', series: 'mode', measurements: ids });
    ctx.plot({ kind: 'bars', title: `${ctx.kernel}: populate cost by size`, label: 'size', measurements: ids.slice(0, 3) });
  },
};

describe('report of a two-kernel run', () => {
  it.skipIf(!chromium)('kernelComparisons from runBench, and every chart (per kernel and kernel versus kernel) drawn in Chromium', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-report-2k-'));
    const { results, written } = await runBench({ suites: [populateGuestSuite], quick: true, outDir: dir, log: () => {} });
    expect(results.suites.map((s) => [s.kernel, s.status])).toEqual(DEFAULT_KERNELS.map((k) => [k, 'complete']));
    // One ratio per pair of kernels (6.1/6.12, 6.1/7.2, 6.12/7.2) per measurement both took,
    // in the README's orientation (older over newer).
    const pairs = DEFAULT_KERNELS.flatMap((a, i) => DEFAULT_KERNELS.slice(i + 1).map((b) => [a, b]));
    expect(pairs.length).toBeGreaterThan(0);
    expect(results.kernelComparisons.map((k) => [k.suite, k.measurement, k.a, k.b])).toEqual(
      pairs.flatMap(([a, b]) => results.suites[0].measurements.map((m) => ['guest/populate', m.id, a, b])),
    );
    for (const k of results.kernelComparisons) {
      expect(k.ratio.median, k.title).toBeGreaterThan(0);
      expect(k.ratio.lo).toBeLessThanOrEqual(k.ratio.hi);
    }
    expect(validateResults(JSON.parse(readFileSync(written.json, 'utf8')))).toEqual([]);
    const html = readFileSync(written.html, 'utf8');
    expect(html).toContain('<h2>Kernel versus kernel</h2>');
    expect(html.match(/<tr><td>guest\/populate<\/td>/g)).toHaveLength(results.kernelComparisons.length);

    const r = renderCanvases(written.html);
    console.log(`two-kernel report: ${r.canvases.map((c) => `${c.id} ${c.coloured}`).join(', ')}; control ${r.control.coloured}; ${r.screenshot}`);
    // the kernel-versus-kernel chart, then the suite's three plots on each kernel
    const expected = ['k-0', ...DEFAULT_KERNELS.flatMap((_, si) => [0, 1, 2].map((pi) => `c-${si}-${pi}`))];
    expect(r.rendered).toBe(expected.length);
    expect(r.canvases.map((c) => c.id)).toEqual(expected);
    expect(r.control.coloured).toBeLessThan(MIN_COLOURED);
    for (const c of r.canvases) {
      expect(c.pixels, `${c.id} inside the screenshot`).toBeGreaterThan(0.9 * c.w * c.h);
      expect(c.coloured, `${c.id} coloured pixels`).toBeGreaterThanOrEqual(MIN_COLOURED);
    }
  });
});
