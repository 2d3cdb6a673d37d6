// src/lava/results.ts on a real job log: test/fixtures/lava/mirrordrm-6.12.lava-run.txt
// is lava-run's stderr for `mirrorlab lava --kernel 6.12 --suite mirrordrm`
// (test/guest/lava.test.ts's flow), kept as it was written. Variants of it
// (a failed case, a cut-off job, a KVM boot command, a contradicting
// measurement) are made by editing its lines.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SUITES } from '../../src/guest/standalone-suites.js';
import { lavaTargetText, parseLavaLog } from '../../src/lava/log.js';
import { lavaResults, looksLikeLavaLog } from '../../src/lava/results.js';
import { mergeResults } from '../../src/report/merge.js';
import { validateResults } from '../../src/report/validate.js';
import { results as resultsFixture } from '../results-fixture.js';

const LOG = fs.readFileSync(path.join(__dirname, '../fixtures/lava/mirrordrm-6.12.lava-run.txt'), 'utf8');

/** The samples the guest printed for registration@gup in the fixture (its mirrorlab-samples line). */
const GUP_SAMPLES = [533.94140625, 298.6328125, 195.9765625, 283.505859375, 216.58203125];

/** The log with every line for which `keep` is false dropped. */
const without = (keep: (line: string) => boolean): string => LOG.split('\n').filter(keep).join('\n');

describe('a LAVA job log as results', () => {
  it('the fixture: machine from the guest line, one lava/mirrordrm suite on 6.12 under TCG, every case a passing check, the samples behind each measurement', () => {
    const r = lavaResults(LOG);
    expect(validateResults(r)).toEqual([]);
    expect(r.machine).toMatchObject({
      hostname: 'mirrorlab-guest',
      cpuModel: 'QEMU TCG CPU version 2.5+',
      cores: 2,
      memoryBytes: 2069680128,
      kernelRelease: '6.12.117+deb12-amd64',
      kernelConfigSource: null,
      thp: { enabled: 'always', defrag: 'madvise', shmemEnabled: 'never' },
      nodeVersion: 'v20.20.2',
      gitCommit: null,
    });
    expect(r.run).toEqual({
      startedAt: '2026-12-02T20:24:57.849485Z',
      finishedAt: '2026-12-02T20:25:12.607854Z',
      complete: true,
      argv: ['/usr/bin/node', 'dist/guest/standalone-main.js', '--lava', 'mirrordrm'],
      quick: false,
      filters: { suite: ['mirrordrm'], kernel: ['6.12'] },
    });
    expect(r.suites).toHaveLength(1);
    const s = r.suites[0];
    expect(s).toMatchObject({ id: 'lava/mirrordrm', environment: 'guest', kernel: '6.12', guest: { release: '6.12.117+deb12-amd64', accel: 'tcg' }, status: 'complete' });
    expect(s.reason).toBeUndefined();
    // STARTRUN at 20:25:06.693663, ENDRUN at 20:25:11.292306 (ms resolution)
    expect(s.durationMs).toBe(4599);
    expect(s.checks).toEqual(STANDALONE_SUITES.mirrordrm.cases.map((name) => ({ name, status: 'pass' })));
    expect(s.measurements.map((m) => [m.id, m.unit, m.params, m.warm.n])).toEqual([
      ['registration@gup', 'ns/page', { mode: 'gup' }, 5],
      ['registration@gup-longterm', 'ns/page', { mode: 'gup-longterm' }, 5],
      ['registration@gup-get', 'ns/page', { mode: 'gup-get' }, 5],
      ['registration@hmm', 'ns/page', { mode: 'hmm' }, 5],
    ]);
    const gup = s.measurements[0];
    expect(gup.samples).toEqual(GUP_SAMPLES);
    expect(gup.samplesTotal).toBe(5);
    expect(gup.warm).toMatchObject({ min: 195.9765625, median: 283.505859375, p99: 533.94140625, max: 533.94140625 });
    // one round, no settling: never claimed stable
    expect([gup.roundMedians, gup.stable]).toEqual([[283.505859375], false]);
    expect(s.measurements.map((m) => Math.round(m.warm.median * 10) / 10)).toEqual([283.5, 211, 176.3, 109]);
  });

  it("the console text reads back as the guest printed it (LAVA wrote each '\"' as '\\\"')", () => {
    expect(LOG).toContain('mirrorlab-machine: {\\\\\\"hostname\\\\\\":');
    const text = lavaTargetText(parseLavaLog(LOG));
    expect(text).toContain('mirrorlab-machine: {"hostname":"mirrorlab-guest","cpuModel":"QEMU TCG CPU version 2.5+",');
    expect(text).toContain(`mirrorlab-samples: {"id":"registration@gup","units":"ns/page","n":5,"min":195.9765625,"median":283.505859375,"p99":533.94140625,"max":533.94140625,"samples":[${GUP_SAMPLES.join(',')}]}`);
  });

  it('a failed case: a failing check with the problem the guest printed', () => {
    const log = LOG.replace(
      /("msg": "mirrorlab-case: read-write@hmm) pass"}/,
      '"msg": "mirrorlab-case read-write@hmm: device accesses: expected 2, got 3"}\n{"dt": "2026-12-02T20:25:09.000000", "lvl": "target", $1 fail"}',
    ).replace(/("case": "read-write_hmm", "definition": "0_mirrorlab-mirrordrm", .*"result": )"pass"/, '$1"fail"');
    const s = lavaResults(log).suites[0];
    expect(s.checks.find((c) => c.name === 'read-write@hmm')).toEqual({ name: 'read-write@hmm', status: 'fail', reason: 'device accesses: expected 2, got 3' });
    expect(s.checks.filter((c) => c.status === 'fail')).toHaveLength(1);
    // a failing case does not fail a LAVA job: the suite finished
    expect(s.status).toBe('complete');
  });

  it('a job cut off after registration@gup: the rest are failing checks, the suite incomplete', () => {
    let cut = false;
    const log = without((l) => {
      if (cut) return !l.includes('0_mirrorlab-mirrordrm') && !l.includes('"lvl": "target"') && !l.includes('"case": "job"');
      if (l.includes('"case": "registration_gup"')) cut = true;
      return true;
    });
    const r = lavaResults(log);
    expect(validateResults(r)).toEqual([]);
    const s = r.suites[0];
    expect(s.status).toBe('incomplete');
    expect(s.reason).toBe('3 of 17 cases not recorded; LAVA job result missing');
    expect(s.checks.filter((c) => c.status === 'fail').map((c) => [c.name, c.reason])).toEqual(
      ['registration@gup-longterm', 'registration@gup-get', 'registration@hmm'].map((n) => [n, 'not recorded: the job ended before this case']),
    );
    expect(s.measurements.map((m) => m.id)).toEqual(['registration@gup']);
    expect(s.durationMs).toBe(0);
    expect(r.run.complete).toBe(false);
  });

  it('a KVM boot command says kvm', () => {
    const r = lavaResults(LOG.replace('-accel tcg,thread=single -cpu max', '-accel kvm -cpu host'));
    expect(r.suites[0].guest).toEqual({ release: '6.12.117+deb12-amd64', accel: 'kvm' });
  });

  it('a measurement LAVA recorded without the samples line: one value, said so', () => {
    const m = lavaResults(without((l) => !l.includes('mirrorlab-samples: {\\\\\\"id\\\\\\":\\\\\\"registration@hmm'))).suites[0].measurements[3];
    expect([m.id, m.samples, m.warm.n, m.warm.median, m.title]).toEqual(['registration@hmm', [109], 1, 109, "registration, hmm (LAVA's measurement only)"]);
  });

  it('logs that are not one of our jobs, or contradict themselves, are refused with the reason', () => {
    expect(() => lavaResults('not a log\n')).toThrow('no LAVA log records');
    expect(() => lavaResults(without((l) => !l.includes('mirrorlab-machine:')))).toThrow('no mirrorlab-machine line in the log');
    expect(() => lavaResults(without((l) => !l.includes('"msg": "downloading ')))).toThrow('no download of artifacts/<kernel>/vmlinux');
    expect(() => lavaResults(LOG.replace('"measurement": ! "283.5"', '"measurement": ! "290.5"'))).toThrow(
      "case registration@gup: LAVA recorded 290.5 ns/page, the samples' median is 283.505859375",
    );
    expect(() => lavaResults(LOG.replace(/("case": "drm-probe", .*"result": )"pass"/, '$1"fail"'))).toThrow('case drm-probe: LAVA recorded fail, the guest printed pass');
    expect(() => lavaResults(LOG.replace(/0_mirrorlab-mirrordrm/g, '0_mirrorlab-nosuch'))).toThrow('unknown standalone suite "nosuch"');
  });

  it('told apart from a results.json by content', () => {
    expect(looksLikeLavaLog(LOG)).toBe(true);
    const json = resultsFixture([{ id: 'host/faults', measurements: [{ id: 'x', rounds: [1, 2, 3] }] }]);
    expect(looksLikeLavaLog(JSON.stringify(json, null, 2))).toBe(false);
    expect(looksLikeLavaLog(JSON.stringify(json))).toBe(false);
  });

  it('merged with a second job: both suites labelled, the ratio of every registration median', () => {
    const a = lavaResults(LOG);
    // a second job whose gup samples are twice as slow (LAVA's number kept in step)
    const slower = LOG.replace(GUP_SAMPLES.join(','), GUP_SAMPLES.map((x) => x * 2).join(',')).replace('"measurement": ! "283.5"', '"measurement": ! "567"');
    const b = lavaResults(slower);
    const m = mergeResults([
      { label: 'lab-a', source: 'a.txt', results: a },
      { label: 'lab-b', source: 'b.txt', results: b },
    ]);
    expect(validateResults(m)).toEqual([]);
    expect(m.suites.map((s) => [s.label, s.id, s.kernel])).toEqual([
      ['lab-a', 'lava/mirrordrm', '6.12'],
      ['lab-b', 'lava/mirrordrm', '6.12'],
    ]);
    expect(m.machineComparisons!.map((c) => [c.measurement, c.ratio.median])).toEqual([
      ['registration@gup', 0.5],
      ['registration@gup-longterm', 1],
      ['registration@gup-get', 1],
      ['registration@hmm', 1],
    ]);
  });
});
