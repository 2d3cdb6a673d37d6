// mirrorlab merge with LAVA job logs among its inputs: the captured lava-run
// log (test/fixtures/lava/), a second job made from it with slower gup
// samples, and a results.json, told apart by content and folded into one
// valid results file, KTAP and report.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lavaResults } from '../../src/lava/results.js';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { results as resultsFixture } from '../results-fixture.js';

const cli = path.join(repoRoot, 'dist/cli/main.js');
const mirrorlab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const FIXTURE = path.join(repoRoot, 'test/fixtures/lava/mirrordrm-6.12.lava-run.txt');
const GUP_SAMPLES = '533.94140625,298.6328125,195.9765625,283.505859375,216.58203125';

describe('mirrorlab merge with LAVA job logs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-merge-lava-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a results.json and two job logs: every suite labelled, the jobs converted as src/lava/results.ts does, a / b of the shared measurements', () => {
    const host = path.join(dir, 'host.json');
    fs.writeFileSync(host, JSON.stringify(resultsFixture([{ id: 'host/faults', measurements: [{ id: 'fault/anon-4K/touch', rounds: [100, 110, 120] }] }])));
    // lava-server's output.yaml form ("- " before each record), gup samples doubled and LAVA's median with them
    const second = path.join(dir, 'output.yaml');
    const log = fs.readFileSync(FIXTURE, 'utf8');
    const doubled = GUP_SAMPLES.split(',').map((x) => Number(x) * 2).join(',');
    fs.writeFileSync(second, log.replace(GUP_SAMPLES, doubled).replace('"measurement": ! "283.5"', '"measurement": ! "567"').split('\n').map((l) => (l ? `- ${l}` : l)).join('\n'));

    const out = path.join(dir, 'merged');
    const r = mirrorlab('merge', host, FIXTURE, second, '--out', out, '--name', `${FIXTURE}=tcg-a`, '--name', `${second}=tcg-b`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`fixture (${host}), tcg-a (${FIXTURE}), tcg-b (${second}): 3 suites, 4 ratios`);

    const m = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;
    expect(validateResults(m)).toEqual([]);
    expect(m.suites.map((s) => [s.label, s.id, s.kernel, s.status])).toEqual([
      ['fixture', 'host/faults', null, 'complete'],
      ['tcg-a', 'lava/mirrordrm', '6.12', 'complete'],
      ['tcg-b', 'lava/mirrordrm', '6.12', 'complete'],
    ]);
    // the job's suite and machine exactly as the converter makes them
    const direct = lavaResults(log);
    expect({ ...m.suites[1], label: undefined }).toEqual({ ...direct.suites[0], label: undefined });
    expect(m.runs!.map((x) => [x.label, x.machine.hostname, x.machine.cpuModel])).toEqual([
      ['fixture', 'fixture', 'fixture CPU'],
      ['tcg-a', 'mirrorlab-guest', 'QEMU TCG CPU version 2.5+'],
      ['tcg-b', 'mirrorlab-guest', 'QEMU TCG CPU version 2.5+'],
    ]);
    expect(m.machineComparisons!.map((c) => [c.suite, c.kernel, c.measurement, c.a, c.b, c.ratio.median])).toEqual([
      ['lava/mirrordrm', '6.12', 'registration@gup', 'tcg-a', 'tcg-b', 0.5],
      ['lava/mirrordrm', '6.12', 'registration@gup-longterm', 'tcg-a', 'tcg-b', 1],
      ['lava/mirrordrm', '6.12', 'registration@gup-get', 'tcg-a', 'tcg-b', 1],
      ['lava/mirrordrm', '6.12', 'registration@hmm', 'tcg-a', 'tcg-b', 1],
    ]);
    const ktap = fs.readFileSync(path.join(out, 'results.ktap'), 'utf8');
    expect(ktap).toMatch(/^ok 2 tcg-a:lava\/mirrordrm@6\.12$/m);
    expect(ktap).toMatch(/^ok 3 tcg-b:lava\/mirrordrm@6\.12$/m);
    // each case a subtest of its job's suite
    expect(ktap).toMatch(/^ {4}ok 14 registration@gup$/m);
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<th>tcg-a median</th><th>tcg-b median</th><th>tcg-a / tcg-b</th>');
  });

  it('a log that is not one of our jobs, or neither a log nor JSON: exit 1 naming the file and the reason', () => {
    const noMachine = path.join(dir, 'old-guest.txt');
    fs.writeFileSync(noMachine, fs.readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => !l.includes('mirrorlab-machine:')).join('\n'));
    const a = mirrorlab('merge', FIXTURE, noMachine, '--out', path.join(dir, 'x'));
    expect(a.status).toBe(1);
    expect(a.stderr).toContain(`mirrorlab merge: ${noMachine} (a LAVA job log): no mirrorlab-machine line in the log`);
    const text = path.join(dir, 'notes.txt');
    fs.writeFileSync(text, 'just some notes\n');
    const b = mirrorlab('merge', FIXTURE, text, '--out', path.join(dir, 'y'));
    expect(b.status).toBe(1);
    expect(b.stderr).toContain(`mirrorlab merge: ${text}: neither a results file nor a LAVA job log`);
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'y'))).toBe(false);
  });
});
