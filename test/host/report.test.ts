// The report pipeline end to end on a real measurement: time MADV_POPULATE_WRITE
// on fresh mappings, write results.json / KTAP / report.html, validate against
// the schema, and render the page in headless Chromium.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/addon.js';
import { runBench } from '../../src/bench/runner.js';
import { DEFAULT_KERNELS } from '../../src/vm/kernels.js';
import type { Suite } from '../../src/bench/suite.js';
import { repeatUntilStable, roundRatio, toMeasurement } from '../../src/measure/repeat.js';
import { machineInfo } from '../../src/report/machine.js';
import type { Measurement, Results, SuiteResult } from '../../src/report/results.js';
import { chartSpecs } from '../../src/report/html.js';
import { isNoisy, roundRange } from '../../src/report/units.js';
import { validateResults } from '../../src/report/validate.js';
import { writeRun, type WrittenRun } from '../../src/report/write.js';
import { chromium, chromiumFlags, decodePng, MIN_COLOURED, renderCanvases, type CanvasPixels } from './chromium.js';

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
  const repeats = [];
  for (const size of sizes) {
    const r = await repeatUntilStable(() => Array.from({ length: 8 }, () => populateOnce(size)), { minRounds: 3, maxRounds: 5, budgetMs: 2000 });
    repeats.push(r);
    measurements.push(toMeasurement({ id: `populate/${size}`, title: `MADV_POPULATE_WRITE ${size >> 10} KiB`, unit: 'ns', params: { size, mode: 'populate' } }, r));
  }
  const [small, , big] = measurements;
  // The 1 MiB samples again as a rate (GiB/s): a second unit, which a chart must not share with ns.
  const rateOf = (ns: number) => ((1 << 20) / ns / 2 ** 30) * 1e9;
  const r1M = repeats[2];
  const rate: Measurement = toMeasurement(
    { id: 'populate-rate/1048576', title: 'MADV_POPULATE_WRITE 1 MiB, rate', unit: 'GiB/s', better: 'higher', params: { size: 1 << 20, mode: 'rate' } },
    { ...r1M, cold: r1M.cold.map(rateOf), warm: r1M.warm.map(rateOf), roundMedians: r1M.roundMedians.map(rateOf) },
  );
  // Deliberately noisy: each round populates twice the size of the one before, so its
  // round medians really span more than 2x, which the report must flag.
  const doubling = toMeasurement(
    { id: 'populate/doubling', title: 'MADV_POPULATE_WRITE, size doubling each round', unit: 'ns', params: { size: 0, mode: 'doubling' } },
    await repeatUntilStable((i) => Array.from({ length: 4 }, () => populateOnce((64 << 10) << i)), { minRounds: 4, maxRounds: 4, budgetMs: 5000 }),
  );
  measurements.push(rate, doubling);
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
          { kind: 'curve', title: 'populate cost versus size', x: 'size', series: 'mode', measurements: [small.id, measurements[1].id, big.id] },
          { kind: 'bars', title: 'populate cost by size', label: 'size', measurements: [small.id, measurements[1].id, big.id] },
          { kind: 'bars', title: 'populate 1 MiB: time and rate', label: 'mode', measurements: [big.id, rate.id] },
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

  it('no chart mixes units: every dataset is in its axis unit; a plot over ns and GiB/s becomes two charts', () => {
    const specs = chartSpecs(results);
    expect(specs.map((c) => c.target)).toEqual(['c-0-0', 'c-0-1', 'c-0-2', 'c-0-3', 'c-0-3-1']);
    for (const c of specs) {
      for (const d of c.datasets) expect(d.unit, `${c.target}: ${d.label}`).toBe(c.yUnit);
      expect(c.yTitle, c.target).toContain(c.yUnit);
    }
    const [time, rateChart] = specs.filter((c) => c.title.startsWith('populate 1 MiB: time and rate'));
    expect(time.yUnit).toMatch(/^(ns|µs|ms)$/);
    expect(rateChart.yUnit).toMatch(/^(MiB|GiB)\/s$/);
    // the histogram's bins in a unit that keeps their labels short, never exponents
    const hist = specs[0];
    expect(hist.xTitle).toMatch(/^(ns|µs|ms) \(log bins/);
    for (const l of hist.labels) expect(String(l)).not.toMatch(/e[+-]?\d/);
    for (const mk of hist.markers ?? []) expect(mk.label).toMatch(/^p(50|99) [\d.,]+ (ns|µs|ms)$/);
  });

  it('marks exactly the measurements whose round medians span more than 2x as noisy', () => {
    const html = readFileSync(written.html, 'utf8');
    const doubling = results.suites[0].measurements.find((m) => m.id === 'populate/doubling')!;
    const [lo, hi] = roundRange(doubling)!;
    expect(hi / lo).toBeGreaterThan(2); // four rounds from 256 KiB to 2 MiB
    for (const m of results.suites[0].measurements) {
      const row = new RegExp(`<tr><td>${m.title.replace(/[()]/g, '\\$&')}</td>.*?</tr>`).exec(html)?.[0];
      expect(row, m.title).toBeDefined();
      const r = roundRange(m)!;
      expect(row!.includes('badge noisy'), `${m.title}: rounds ${r[0]} .. ${r[1]}`).toBe(isNoisy(r[0], r[1]));
    }
  });

  it.skipIf(!chromium)('renders every plot of report.html in headless Chromium, offline', () => {
    const html = readFileSync(written.html, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=/); // self-contained: no external scripts
    const dom = execFileSync(chromium!, [...chromiumFlags, '--virtual-time-budget=5000', '--dump-dom', `file://${written.html}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(dom).toMatch(/data-charts-rendered="5"/);
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

/** guest/behaviour on 6.1, 6.12 and 7.2 as `mirrorlab bench --suite guest/behaviour` recorded it (TCG guests). */
const recordedBehaviour = JSON.parse(readFileSync(fileURLToPath(new URL('fixtures/guest-behaviour.json', import.meta.url)), 'utf8')) as { recorded: string; suites: SuiteResult[] };

describe('report of a two-kernel run', () => {
  it.skipIf(!chromium)('kernelComparisons from runBench; summary on the first screen, the behaviour matrix, kernel tables per unit, every chart drawn with readable axes', async () => {
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

    // The same run with the behaviour matrix a real guest/behaviour run recorded (fixture below).
    const withMatrix: Results = { ...results, suites: [...results.suites, ...recordedBehaviour.suites] };
    const page = writeRun(withMatrix, mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-report-matrix-')));
    const html = readFileSync(page.html, 'utf8');
    expect(html).toContain('<h2>Kernel versus kernel</h2>');
    expect(html.match(/<tr><td>guest\/populate<\/td>/g)).toHaveLength(results.kernelComparisons.length);
    // kernel versus kernel: one table per unit (all ns here, scaled), a column per kernel with its release
    expect(html.match(/<table class="kvk" data-unit="[^"]+">/g)).toHaveLength(1);
    // links to the files beside report.html, relative
    expect(html).toContain('<a href="results.json">results.json</a>');
    expect(html).toContain('<a href="results.ktap">results.ktap</a>');
    // each guest run says its release and accelerator beside its figures
    for (const s of recordedBehaviour.suites) expect(html).toContain(`guest ${s.kernel}: ${s.guest!.release}, ${s.guest!.accel.toUpperCase()}`);
    // the matrix: a cell per event, mode and kernel, each with the outcome and the records the run gave
    const findings = recordedBehaviour.suites.flatMap((s) => s.findings!);
    // (kernels that behaved the same share a row: a cell counts once per kernel of its row)
    const perOutcome: Record<string, number> = {};
    for (const row of html.match(/<tr data-kernels="[^"]*">.*?<\/tr>/g) ?? []) {
      const kernels = /data-kernels="([^"]*)"/.exec(row)![1].split(' ').length;
      for (const [, outcome] of row.matchAll(/<td class="cell (\w+)">/g)) perOutcome[outcome] = (perOutcome[outcome] ?? 0) + kernels;
    }
    const expectedOutcomes: Record<string, number> = {};
    for (const f of findings) expectedOutcomes[f.outcome] = (expectedOutcomes[f.outcome] ?? 0) + 1;
    expect(perOutcome).toEqual(expectedOutcomes);
    // the misleading pin, the same on every kernel: one row, the gup cell stale with the CLEAR behind it
    const dontneed = /<tr data-kernels="([^"]*)"><th class="event" rowspan="1">MADV_DONTNEED, then a CPU write<\/th><td class="kernels">[^]*?<\/td><td class="cell (\w+)"><span class="badge \w+">\w+<\/span> <span class="detail">([^<]*)<\/span><div class="recs">([^<]*)<\/div>/.exec(html);
    expect(dontneed?.slice(1)).toEqual(['6.1 6.12 7.2', 'stale', 'device read 0x11, the CPU reads 0x22', 'CLEAR [+0 B, +8 KiB)']);
    // the read-only downgrade differs: 6.1 keeps the HMM object readable, 6.12 and 7.2 cannot
    expect(html).toMatch(/<th class="event" rowspan="2">mprotect\(PROT_READ\), driver keeps read-only access <span class="badge differs">kernels differ<\/span>/);

    const r = renderCanvases(page.html);
    console.log(`two-kernel report: ${r.canvases.map((c) => `${c.id} ${c.coloured}`).join(', ')}; control ${r.control.coloured}; sections ${r.sections.map((x) => `${x.id} y=${x.y.toFixed(0)} h=${x.h.toFixed(0)} coloured ${x.coloured}`).join(', ')}; ${r.screenshot}`);
    // the suite's three plots on each kernel; the behaviour suites have none
    const expected = DEFAULT_KERNELS.flatMap((_, si) => [0, 1, 2].map((pi) => `c-${si}-${pi}`));
    expect(r.rendered).toBe(expected.length);
    expect(r.canvases.map((c) => c.id)).toEqual(expected);
    expect(r.control.coloured).toBeLessThan(MIN_COLOURED);
    for (const c of r.canvases) {
      expect(c.pixels, `${c.id} inside the screenshot`).toBeGreaterThan(0.9 * c.w * c.h);
      expect(c.coloured, `${c.id} coloured pixels`).toBeGreaterThanOrEqual(MIN_COLOURED);
    }
    // every axis label Chart.js drew is readable: no exponent
    expect(Object.keys(r.ticks).sort()).toEqual([...expected].sort());
    for (const [id, t] of Object.entries(r.ticks)) {
      expect(t.y.length, `${id} y ticks`).toBeGreaterThan(1);
      for (const label of [...t.x, ...t.y]) expect(label, `${id} axis label`).not.toMatch(/e[+-]?\d/);
    }
    const section = (id: string): CanvasPixels => {
      const x = r.sections.find((s) => s.id === id);
      if (!x) throw new Error(`no section ${id} on the page`);
      return x;
    };
    // the summary is the first thing on the page and fits in the first screen (1280x900),
    // its verdict badges drawn; the matrix comes right after it
    const summary = section('summary');
    expect(r.sections[0].id).toBe('summary');
    expect(summary.y + summary.h).toBeLessThan(900);
    expect(summary.coloured).toBeGreaterThan(1000);
    expect(r.sections[1].id).toBe('behaviour');
    // the matrix is drawn: a coloured outcome badge per cell (each some hundred pixels)
    const matrix = section('behaviour');
    expect(matrix.pixels).toBeGreaterThan(0.9 * matrix.w * matrix.h);
    expect(matrix.coloured).toBeGreaterThan(findings.length * 200);
  });
});
