// `mirrorlab bench` records how disturbed the machine was around each suite,
// and --runs N repeats the selection: the real CLI (node dist/cli/main.js) on
// the cheapest host suite, host/uffd-roundtrip --quick (about half a second
// a run).
//   1. --runs 2: results.json has run.repeats, the spread between runs beside
//      the spread within one for every measurement and ratio, and a
//      disturbance record per suite and run; the report and compare show them.
//   2. Under a generated load (one busy process more than there are CPUs,
//      for the whole run), the suite is flagged for cpu pressure: with more
//      runnable tasks than CPUs one is always waiting, so PSI "cpu some"
//      covers nearly all of the suite however long it takes (no timing in
//      the assertion).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';

const main = path.join(repoRoot, 'dist/cli/main.js');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-disturb-'));

function cli(args: string[]) {
  return spawnSync(process.execPath, [main, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
}

function bench(out: string, extra: string[] = []): Results {
  const r = cli(['bench', '--suite', 'host/uffd-roundtrip', '--quick', '--out', out, ...extra]);
  expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
}

/** `count` processes spinning on a CPU each, resolved once every one of them runs. */
async function busyProcesses(count: number): Promise<ChildProcess[]> {
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'process.stdout.write("busy\\n"); for (;;) {}'], { stdio: ['ignore', 'pipe', 'inherit'] }));
  await Promise.all(children.map((c) => new Promise<void>((resolve, reject) => {
    c.once('error', reject);
    c.stdout!.once('data', () => resolve());
  })));
  return children;
}

const pressureReadable = (() => {
  try {
    readFileSync('/proc/pressure/cpu', 'utf8');
    return true;
  } catch {
    return false;
  }
})();

describe('bench: disturbance records and --runs N', () => {
  it('--runs 2: both spreads for every measurement and ratio, a disturbance record per suite and run', () => {
    const dir = tmp();
    const r = bench(path.join(dir, 'out'), ['--runs', '2']);
    expect(validateResults(r)).toEqual([]);
    expect(r.run.repeats).toBe(2);
    expect(r.suites.map((s) => [s.id, s.status])).toEqual([['host/uffd-roundtrip', 'complete']]);
    const s = r.suites[0];
    expect(s.measurements.length).toBeGreaterThan(0);
    for (const m of s.measurements) {
      const br = m.betweenRuns!;
      expect(br.n, m.id).toBe(2);
      expect(br.runs.map((x) => x.run)).toEqual([1, 2]);
      // the record kept is one run's: its median and round range are that run's entry
      const kept = br.runs.find((x) => x.median === m.warm.median);
      expect(kept, `${m.id}: warm median ${m.warm.median} is one run's`).toBeDefined();
      expect([kept!.lo, kept!.hi]).toEqual([Math.min(...m.roundMedians), Math.max(...m.roundMedians)]);
      const medians = br.runs.map((x) => x.median).sort((a, b) => a - b);
      expect([br.min, br.median, br.max]).toEqual([medians[0], (medians[0] + medians[1]) / 2, medians[1]]);
    }
    expect(s.comparisons.length).toBeGreaterThan(0);
    for (const c of s.comparisons) expect(c.betweenRuns, c.id).toMatchObject({ n: 2, runs: [{ run: 1 }, { run: 2 }] });
    // one record per run, each with the machine's figures read (this kernel has /proc/stat and loadavg)
    expect(s.disturbance!.map((d) => d.run)).toEqual([1, 2]);
    for (const d of s.disturbance!) {
      expect(d.intervalMs).toBeGreaterThan(0);
      expect(d.cpus).toBe(os.availableParallelism());
      expect(d.load).not.toBe('unreadable');
      expect(d.cpuTime).not.toBe('unreadable');
      const t = d.cpuTime as Exclude<typeof d.cpuTime, 'unreadable'>;
      expect(Object.values(t).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    }
    const html = readFileSync(path.join(dir, 'out', 'report.html'), 'utf8');
    expect(html).toContain('<th>rounds lo .. hi</th><th>runs min .. max</th>');
    expect(html).toContain('Machine while it ran');
    // the badge counts this suite as disturbed exactly when one of its runs has a flag
    const disturbed = s.disturbance!.some((d) => d.flags.length > 0);
    expect(html).toContain(`id="disturbed-count">${disturbed ? '1 suite' : '0 suites'} disturbed</span>`);
    // compare says which spread it used for each side
    const cmp = cli(['compare', '--format', 'json', path.join(dir, 'out', 'results.json'), path.join(dir, 'out', 'results.json')]);
    expect(cmp.status).toBe(0);
    const rows = (JSON.parse(cmp.stdout) as { rows: { spread: { a: string; b: string } }[] }).rows;
    expect(rows.length).toBe(s.measurements.length);
    for (const row of rows) expect(['rounds', 'runs']).toContain(row.spread.a);
  });

  it.skipIf(!pressureReadable)('a run under a generated load is flagged for cpu pressure (skipped without /proc/pressure: CONFIG_PSI off)', async () => {
    const cpus = os.availableParallelism();
    const children = await busyProcesses(cpus + 1);
    const out = path.join(tmp(), 'out');
    let r: Results;
    try {
      r = bench(out);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
    const d = r.suites[0].disturbance![0];
    console.log(`under ${cpus + 1} busy processes on ${cpus} CPUs: ${d.flags.join('; ')}`);
    const p = d.pressure as Exclude<typeof d.pressure, 'unreadable'>;
    expect(p.cpu!.someShare).toBeGreaterThan(0.1);
    expect(d.flags.some((f) => /^cpu pressure: tasks waited for a CPU \d+\.\d% of the suite/.test(f))).toBe(true);
    // the busy processes are not this one nor its reaped children: they are the others
    const procs = d.processes as Exclude<typeof d.processes, 'unreadable'>;
    expect(procs.others).toBeGreaterThan(procs.self);
    // and the KTAP says so, as a diagnostic inside the suite's block
    const ktap = readFileSync(path.join(out, 'results.ktap'), 'utf8');
    expect(ktap).toMatch(/^ {4}# host\/uffd-roundtrip: disturbed: .*cpu pressure: tasks waited for a CPU/m);
  });
});
