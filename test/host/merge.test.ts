// mirrorlab merge on two real runs: `mirrorlab bench --quick --suite host/faults`
// twice, merged into one results file that validates, keeps both runs'
// suites under their labels and holds the right ratio for every measurement.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';

const cli = path.join(repoRoot, 'dist/cli/main.js');
const mirrorlab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const read = (f: string): Results => JSON.parse(fs.readFileSync(f, 'utf8')) as Results;

describe('mirrorlab merge', () => {
  let dir: string;
  let a: string;
  let b: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-merge-'));
    for (const run of ['a', 'b']) {
      execFileSync(process.execPath, [cli, 'bench', '--quick', '--suite', 'host/faults', '--out', path.join(dir, run)], { stdio: 'pipe' });
    }
    a = path.join(dir, 'a/results.json');
    b = path.join(dir, 'b/results.json');
  }, 120_000);

  it('two host/faults runs: a valid file with both runs labelled and a / b of every shared measurement', () => {
    const out = path.join(dir, 'merged');
    const r = mirrorlab('merge', a, b, '--out', out, '--name', `${a}=lab-a`, '--name', `${b}=lab-b`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const ra = read(a);
    const rb = read(b);
    const m = read(path.join(out, 'results.json'));
    expect(validateResults(m)).toEqual([]);
    expect(mirrorlab('validate', path.join(out, 'results.json')).status).toBe(0);
    expect(m.runs!.map((x) => [x.label, x.source, x.run.startedAt])).toEqual([
      ['lab-a', a, ra.run.startedAt],
      ['lab-b', b, rb.run.startedAt],
    ]);
    expect(m.suites.map((s) => [s.label, s.id])).toEqual([...ra.suites.map((s) => ['lab-a', s.id]), ...rb.suites.map((s) => ['lab-b', s.id])]);
    // the suites' data is untouched, only labelled
    expect({ ...m.suites[1], label: undefined }).toEqual({ ...rb.suites[0], label: undefined });

    const faultsA = ra.suites.find((s) => s.id === 'host/faults')!;
    const faultsB = rb.suites.find((s) => s.id === 'host/faults')!;
    expect(faultsA.measurements.length).toBeGreaterThan(0);
    expect(m.machineComparisons!.map((c) => c.measurement)).toEqual(faultsA.measurements.map((x) => x.id));
    for (const c of m.machineComparisons!) {
      const ma = faultsA.measurements.find((x) => x.id === c.measurement)!;
      const mb = faultsB.measurements.find((x) => x.id === c.measurement)!;
      expect(c).toMatchObject({ suite: 'host/faults', kernel: null, a: 'lab-a', b: 'lab-b', unit: ma.unit });
      expect(c.ratio.median).toBeCloseTo(ma.warm.median / mb.warm.median, 12);
      expect(c.ratio.lo).toBeCloseTo(Math.min(...ma.roundMedians) / Math.max(...mb.roundMedians), 12);
      expect(c.ratio.hi).toBeCloseTo(Math.max(...ma.roundMedians) / Math.min(...mb.roundMedians), 12);
      expect(c.ratio.lo).toBeLessThanOrEqual(c.ratio.median);
      expect(c.ratio.hi).toBeGreaterThanOrEqual(c.ratio.median);
    }

    // KTAP: one subtest per run's suite, named by its label
    const ktap = fs.readFileSync(path.join(out, 'results.ktap'), 'utf8');
    expect(ktap).toMatch(/^ok 1 lab-a:host\/faults$/m);
    expect(ktap).toMatch(/^ok 2 lab-b:host\/faults$/m);
    // HTML: a column per run and the ratio of the pair, for the first measurement
    const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h2>Runs compared</h2>');
    expect(html).toContain('<th>lab-a median</th><th>lab-b median</th><th>lab-a / lab-b</th>');
    expect(html).toContain(`<td>${faultsA.measurements[0].title}</td>`);
  });

  it('labels default to run1, run2 when both runs come from the same host', () => {
    const out = path.join(dir, 'defaults');
    const r = mirrorlab('merge', a, b, '--out', out);
    expect(r.status).toBe(0);
    expect(read(path.join(out, 'results.json')).runs!.map((x) => x.label)).toEqual(['run1', 'run2']);
  });

  it('bad input: usage errors (a missing file included) exit 2, invalid files exit 1 naming the file', () => {
    const one = mirrorlab('merge', a, '--out', path.join(dir, 'x'));
    expect(one.status).toBe(2);
    expect(one.stderr).toContain('mirrorlab merge: expected at least 2 arguments (A.json B.json ...), got 1');
    expect(mirrorlab('merge', a, b).stderr).toContain('--out is required');
    expect(mirrorlab('merge', a, b, '--out', dir, '--name', 'nope.json=x').status).toBe(2);
    expect(mirrorlab('merge', a, b, '--out', dir, '--bogus').status).toBe(2);
    const missing = mirrorlab('merge', a, path.join(dir, 'missing.json'), '--out', path.join(dir, 'm'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(`mirrorlab merge: no such file: ${path.join(dir, 'missing.json')}`);
    const same = mirrorlab('merge', a, b, '--out', path.join(dir, 'y'), '--name', `${a}=x`, '--name', `${b}=x`);
    expect(same.status).toBe(1);
    expect(same.stderr).toContain('label x given to two runs');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ schema: 'mirrorlab/results', version: 1 }));
    const invalid = mirrorlab('merge', a, bad, '--out', path.join(dir, 'z'));
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain(`${bad} is not a valid results file`);
    expect(fs.existsSync(path.join(dir, 'z'))).toBe(false);
    const merged = path.join(dir, 'merged/results.json');
    const again = mirrorlab('merge', merged, a, '--out', path.join(dir, 'w'));
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('is already a merge of lab-a, lab-b');
  });
});
