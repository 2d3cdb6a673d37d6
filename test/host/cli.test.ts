import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { COMMAND_NAMES, run } from '../../src/cli/commands.js';
import { toCsv, toJunit, toKcidb, toMarkdown } from '../../src/report/exports/index.js';
import { hostileResults } from '../fixtures/hostile-results.js';
import { results } from '../results-fixture.js';
const fixtureResults = results;

// The CLI from its TypeScript source (vite-node), so the test never runs a stale build.
const viteNode = path.join(repoRoot, 'node_modules/.bin/vite-node');
function cli(args: string[], input?: string) {
  const r = spawnSync(viteNode, [path.join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', input, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mirrorlab CLI', () => {
  async function runCaptured(args: string[]) {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const status = await run(args);
      return { status, stdout: out.join('\n') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it('probe prints findings with their sources, exit 0', async () => {
    const r = await runCaptured(['probe']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^THP\s+enabled \[\w+\]/m);
    expect(r.stdout).toMatch(/from \/sys\/kernel\/mm\/transparent_hugepage/);
  });

  it('probe --json parses and matches sysfs, exit 0', () => {
    const r = cli(['probe', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('mirrorlab-probe/2');
    const f = '/sys/kernel/mm/transparent_hugepage/enabled';
    if (existsSync(f)) expect(j.thp.value.enabled).toBe(/\[(\S+)\]/.exec(readFileSync(f, 'utf8'))![1]);
  });

  it('faults --quick --json measures and checks fault counts, exit 0', async () => {
    const r = await runCaptured(['faults', '--quick', '--json', '--samples', '--rounds', '1', '--repetitions', '2']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.schema).toBe('mirrorlab-host-faults/1');
    const w4k = j.cases.find((c: any) => c.name === '4K write');
    expect(w4k.faults.min).toBe(w4k.expectedFaults);
    expect(w4k.cold.n).toBe(w4k.length / 4096);
    expect(w4k.samples.map((x: number[]) => x.length)).toEqual([w4k.length / 4096, w4k.length / 4096]);
    expect(j.reference[0].comparison.faultsAgree).toBe(true);
    for (const s of j.skipped) console.warn(`faults skipped ${s.name}: ${s.reason}`);
  });

  it('an unknown command exits 2 with usage (process exit status)', () => {
    const a = cli(['frobnicate']);
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/^usage: mirrorlab/);
    expect(a.stderr).toMatch(/unknown command: frobnicate/);
  });

  it('bad options exit 2, help exits 0 (run() returns the exit status main passes to process.exit)', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      expect(await run(['probe', '--bogus'])).toBe(2);
      expect(err.mock.calls.flat().join('\n')).toMatch(/bogus/);
      expect(await run(['faults', '--rounds', 'x'])).toBe(2);
      expect(await run(['faults', '--repetitions', '1'])).toBe(2);
      expect(await run([])).toBe(2);
      expect(await run(['help'])).toBe(0);
      expect(log.mock.calls.flat().join('\n')).toMatch(/^usage: mirrorlab/);
    } finally {
      err.mockRestore();
      log.mockRestore();
    }
  });

  it('repl: the library is loaded as `ml`', () => {
    const r = cli(['repl'], "ml.libc().call('getpid', 'i32') === process.pid\nml.probeThp().value.enabled !== undefined\n");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mirrorlab> true\nmirrorlab> true/);
  });
});

describe('mirrorlab export', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-export-'));
  const results = hostileResults();
  const file = path.join(dir, 'results.json');
  writeFileSync(file, JSON.stringify(results));

  async function quiet(args: string[]) {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      return { status: await run(args), stderr: err.mock.calls.flat().join('\n') };
    } finally {
      err.mockRestore();
    }
  }

  it('--out FILE: each format written as its writer makes it from the parsed file', async () => {
    for (const [format, expected] of [['junit', toJunit(results)], ['kcidb', JSON.stringify(toKcidb(results), null, 1) + '\n'], ['csv', toCsv(results)], ['md', toMarkdown(results)]] as const) {
      const out = path.join(dir, `out.${format}`);
      expect(await quiet(['export', '--format', format, file, '--out', out])).toEqual({ status: 0, stderr: '' });
      expect(readFileSync(out, 'utf8'), format).toBe(expected);
    }
  });

  it('without --out: the export on standard output (process exit status 0)', () => {
    const r = cli(['export', '--format', 'csv', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(toCsv(results));
  });

  it('usage errors (a missing file included) exit 2, an invalid results file exits 1, each with the reason', async () => {
    expect(await quiet(['export', file])).toMatchObject({ status: 2, stderr: expect.stringContaining('--format is required') });
    expect(await quiet(['export', '--format', 'xml', file])).toMatchObject({ status: 2, stderr: expect.stringContaining('unknown --format "xml" (one of: junit, kcidb, csv, md)') });
    expect(await quiet(['export', '--format', 'csv'])).toMatchObject({ status: 2, stderr: expect.stringContaining('expected 1 argument (RESULTS.json), got 0') });
    expect((await quiet(['export', '--format', 'csv', '--bogus', file])).status).toBe(2);
    // a missing input is a usage error, as for compare and validate
    expect(await quiet(['export', '--format', 'csv', path.join(dir, 'missing.json')])).toMatchObject({ status: 2, stderr: expect.stringContaining(`no such file: ${path.join(dir, 'missing.json')}`) });
    const invalid = path.join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ ...results, suites: [{ id: 'x' }] }));
    expect(await quiet(['export', '--format', 'md', invalid])).toMatchObject({ status: 1, stderr: expect.stringContaining('not a mirrorlab results file') });
  });
});

describe('docs/cli.md REPL example', () => {
  // `node` in the repository, then `const m = await import('mirrorlab')` (self-reference by package name).
  it.skipIf(!existsSync(path.join(repoRoot, 'dist/index.js')))('import("mirrorlab") works in a plain node REPL from the repository', async () => {
    const child = spawn(process.execPath, ['-i'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (re.test(out)) {
            clearInterval(t);
            resolve();
          }
        }, 20);
        setTimeout(() => {
          clearInterval(t);
          reject(new Error(`timed out waiting for ${re}; output: ${out}`));
        }, 30_000);
      });
    await waitFor(/> $/);
    child.stdin.write("const m = await import('mirrorlab')\n");
    await waitFor(/undefined\n> $/);
    child.stdin.write("m.libc().call('sysconf', 'i64', ['i32'], [30])\n");
    await waitFor(/4096\n> $/);
    child.stdin.end('.exit\n');
    await new Promise((r) => child.on('exit', r));
    expect(out).not.toMatch(/Uncaught/);
  });
});

// As a user runs it: `node dist/cli/main.js` (npm run build:ts first).
const main = path.join(repoRoot, 'dist/cli/main.js');
function mirrorlab(args: string[], cwd = repoRoot) {
  const r = spawnSync(process.execPath, [main, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('mirrorlab options and exit status (node dist/cli/main.js)', () => {
  beforeAll(() => {
    if (!existsSync(main)) throw new Error(`${main} missing: run npm run build:ts`);
  });
  const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

  it('--help and -h print each command\'s usage, exit 0', () => {
    expect(COMMAND_NAMES.sort()).toEqual(['bench', 'compare', 'export', 'faults', 'fuzz', 'kernel', 'lava', 'merge', 'probe', 'repl', 'selftests', 'uffd-roundtrip', 'validate', 'vm']);
    for (const cmd of COMMAND_NAMES) {
      for (const flag of ['--help', '-h']) {
        const r = mirrorlab([cmd, flag]);
        expect(r.status, `${cmd} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^usage: mirrorlab ${cmd}( |$)`));
        expect(r.stdout).toMatch(/^ {2}-h, --help +this text$/m);
        expect(r.stderr).toBe('');
      }
    }
    // The options a command's help lists are the ones it takes.
    const bench = mirrorlab(['bench', '--help']).stdout;
    for (const o of ['--suite ID', '--kernel 6.1|6.12|7.2', '--size 4K|2M|1G', '--quick', '--out DIR', '--list']) expect(bench).toContain(`  ${o} `);
    expect(mirrorlab(['compare', '--help']).stdout).toMatch(/^ {2}--format F +text \(a table\), md \(a Markdown table\) or json \(the report\) \(one of text, md, json; default text\)$/m);
    expect(mirrorlab(['uffd-roundtrip', '--help']).stdout).toMatch(/^ {2}--pages N +fresh pages touched per run \(>= 1; default 256\)$/m);
  });

  it('mirrorlab --help lists every command; --version and -V print package.json\'s version from any directory', () => {
    const h = mirrorlab(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^usage: mirrorlab <command> \[options\]/);
    for (const cmd of COMMAND_NAMES) expect(h.stdout).toMatch(new RegExp(`^ {2}${cmd} `, 'm'));
    for (const flag of ['--version', '-V']) {
      const v = mirrorlab([flag], os.tmpdir());
      expect(v.status).toBe(0);
      expect(v.stdout).toBe(`${version}\n`);
    }
  });

  it('every usage error: exit 2, "mirrorlab <cmd>: <problem>" and the --help hint, nothing run', () => {
    const cases: [string[], string][] = [
      [['probe', '--bogus'], 'unknown option --bogus'],
      [['probe', '--json=yes'], '--json takes no value'],
      [['probe', 'extra'], 'unexpected argument "extra"'],
      [['repl', 'x'], 'unexpected argument "x"'],
      [['uffd-roundtrip', '--pages', 'abc'], '--pages must be an integer >= 1, got "abc"'],
      [['uffd-roundtrip', '--pages', '0'], '--pages must be an integer >= 1, got "0"'],
      [['uffd-roundtrip', '--pages', '-3'], '--pages must be an integer >= 1, got "-3"'],
      [['uffd-roundtrip', '--pages', '1.5'], '--pages must be an integer >= 1, got "1.5"'],
      [['uffd-roundtrip', '--pages'], '--pages needs a value (--pages N)'],
      [['uffd-roundtrip', '--runs', '2', '--runs', '3'], '--runs given more than once'],
      [['faults', '--repetitions', '1'], '--repetitions must be an integer >= 2, got "1"'],
      [['faults', '--samples'], '--samples needs --json (the samples only go into the JSON report)'],
      // The filters are checked before --list: a typo never looks like success.
      [['bench', '--kernel', '5.10', '--list'], 'unknown kernel "5.10" (kernels: 6.1, 6.12, 7.2 (sid))'],
      [['bench', '--size', '3X', '--list'], 'unknown size "3X" (sizes: 4K, 2M, 1G)'],
      [['bench', '--suite', 'host/fault', '--list'], 'unknown suite "host/fault" (suites: host/faults, '],
      [['bench', '--out'], '--out needs a value (--out DIR)'],
      [['compare', 'a.json'], 'expected 2 arguments (A.json B.json), got 1'],
      [['compare', 'a.json', 'b.json', '--format', 'xml'], 'unknown --format "xml" (one of: text, md, json)'],
      [['compare', 'a.json', 'b.json', '--threshold', '-1'], '--threshold must be a number >= 0, got "-1"'],
      [['validate'], 'expected at least 1 argument (FILE.json...), got 0'],
      [['vm'], 'no command to run: mirrorlab vm [options] -- COMMAND [ARGS...]'],
      [['vm', '--accel', 'hvf', '--', 'true'], 'unknown --accel "hvf" (one of: tcg, kvm, auto)'],
      [['vm', '--kernel', '6.1,7.2', '--', 'true'], 'a command runs on one kernel, not 6.1,7.2 (several are for --bench-boot)'],
      [['vm', '--timeout', '0', '--', 'true'], '--timeout must be a number > 0, got "0"'],
      [['selftests', '--repeat', '0'], '--repeat must be an integer >= 1, got "0"'],
      [['selftests', '--suite', 'nope', '--list'], 'unknown suite "nope" (suites: hmm-tests, '],
    ];
    for (const [args, problem] of cases) {
      const r = mirrorlab(args);
      const cmd = args[0];
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      const lines = r.stderr.split('\n');
      expect(lines[0].startsWith(`mirrorlab ${cmd}: ${problem}`), `${args.join(' ')}: ${r.stderr}`).toBe(true);
      expect(lines.slice(1)).toEqual([`see: mirrorlab ${cmd} --help`, '']);
    }
  });

  it('--out that cannot be written: exit 2 with the reason before anything runs (bench, merge, lava, export)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-out-'));
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    // Root writes through 0555 directories, not through a read-only mount.
    const ro = path.join(dir, 'ro');
    mkdirSync(ro);
    const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'mirrorlab-test', ro]).status === 0;
    const results = path.join(dir, 'results.json');
    writeFileSync(results, JSON.stringify(fixtureResults([{ id: 'host/faults', measurements: [{ id: 'm', rounds: [1, 2, 3] }] }])));
    try {
      const cases: [string[], string][] = [
        [['bench', '--suite', 'host/faults', '--quick', '--out', '/dev/null'], '--out /dev/null: exists and is a character device, not a directory'],
        [['bench', '--suite', 'host/faults', '--quick', '--out', file], `--out ${file}: exists and is a regular file, not a directory`],
        [['bench', '--suite', 'host/faults', '--quick', '--out', `${file}/run/1`], `--out ${file}/run/1: ${file} is a regular file, not a directory`],
        [['merge', results, '--out', '/dev/null'], '--out /dev/null: exists and is a character device, not a directory'],
        [['lava', '--kernel', '6.12', '--suite', 'mirrordrm', '--out', `${file}/jobs`], `--out ${file}/jobs: ${file} is a regular file, not a directory`],
        [['export', '--format', 'csv', results, '--out', '/dev/null'], '--out /dev/null: exists and is a character device, not a regular file'],
        [['export', '--format', 'csv', results, '--out', dir], `--out ${dir}: is a directory (give a file name)`],
        [['export', '--format', 'csv', results, '--out', `${file}/x.csv`], `--out ${file}/x.csv: ${file} is a regular file, not a directory`],
      ];
      if (mounted)
        cases.push(
          [['bench', '--suite', 'host/faults', '--quick', '--out', ro], `--out ${ro}: cannot create files in ${ro} (EROFS: read-only file system)`],
          [['bench', '--suite', 'host/faults', '--quick', '--out', `${ro}/new/run`], `--out ${ro}/new/run: cannot create files in ${ro} (EROFS: read-only file system)`],
          [['export', '--format', 'md', results, '--out', `${ro}/r.md`], `--out ${ro}/r.md: cannot create files in ${ro} (EROFS: read-only file system)`],
        );
      else console.warn('--out on a read-only mount not tried: needs root to mount a tmpfs');
      for (const [args, problem] of cases) {
        const r = mirrorlab(args);
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stdout, args.join(' ')).toBe('');
        expect(r.stderr, args.join(' ')).toBe(`mirrorlab ${args[0]}: ${problem}\nsee: mirrorlab ${args[0]} --help\n`);
      }
      // Nothing was created on the way: the file is still a file, /dev/null still a device.
      expect(readFileSync(file, 'utf8')).toBe('x');
      expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    } finally {
      if (mounted) spawnSync('umount', [ro]);
    }
  });

  it('validate and compare: a missing input is a usage error (2), an unreadable or invalid one a failure (1), with the path', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-cli-'));
    const missing = path.join(dir, 'missing.json');
    const good = path.join(dir, 'good.json');
    const notJson = path.join(dir, 'not.json');
    const invalid = path.join(dir, 'invalid.json');
    writeFileSync(good, JSON.stringify(results([{ id: 'host/faults', measurements: [{ id: 'fault/4K/mirrorlab', rounds: [100, 101, 102] }] }])));
    writeFileSync(notJson, '{"schema": ');
    writeFileSync(invalid, JSON.stringify({ schema: 'mirrorlab/results', version: 1 }));
    for (const args of [['validate', missing], ['validate', good, missing], ['compare', missing, good], ['compare', good, missing]]) {
      const r = mirrorlab(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`mirrorlab ${args[0]}: no such file: ${missing}\nsee: mirrorlab ${args[0]} --help\n`);
      expect(r.stdout).toBe('');
    }
    const v = mirrorlab(['validate', good, notJson, invalid]);
    expect(v.status).toBe(1);
    expect(v.stdout).toBe(`${good}: valid (mirrorlab/results v1)\n`);
    expect(v.stderr).toMatch(new RegExp(`^${notJson}: INVALID\n {2}not JSON: `, 'm'));
    expect(v.stderr).toMatch(new RegExp(`^${invalid}: INVALID\n {2}/: must have required property 'run'`, 'm'));
    for (const bad of [notJson, invalid]) {
      const c = mirrorlab(['compare', good, bad]);
      expect(c.status).toBe(1);
      expect(c.stderr.split('\n')[0]).toBe(`mirrorlab compare: ${bad}: not a valid mirrorlab results file:`);
      expect(c.stdout).toBe('');
    }
  });

  it('compare --format text|md|json prints the same comparison three ways; exit 1 when something got slower', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-cli-'));
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    // b is 3x slower; only its observed values and the slower figures differ from a.
    const m = (rounds: number[], verified: string) => [{ id: 'fault/thp/touch', params: { backing: 'thp', length: 2097152 }, observed: { verifiedRuns: verified }, rounds }];
    writeFileSync(a, JSON.stringify(results([{ id: 'host/hugepages', measurements: m([100, 101, 102], '21/21') }])));
    writeFileSync(b, JSON.stringify(results([{ id: 'host/hugepages', measurements: m([300, 303, 306], '20/21') }])));
    const key = 'host/hugepages/fault/thp/touch{backing=thp,length=2097152}';

    const text = mirrorlab(['compare', a, b]);
    expect(text.status).toBe(1);
    expect(text.stdout.split('\n')).toEqual([
      `${'measurement'.padEnd(key.length)}  unit  a median  b median    b/a  verdict      noise a/b`,
      `${key}    ns       101       303  3.000   slower  rounds/rounds`,
      '',
      '1 slower, 0 faster beyond noise',
      '',
    ]);
    expect(mirrorlab(['compare', a, b, '--format', 'text']).stdout).toBe(text.stdout);

    const md = mirrorlab(['compare', a, b, '--format=md']);
    expect(md.status).toBe(1);
    expect(md.stdout.split('\n').slice(0, 3)).toEqual([
      '| measurement | unit | a median | b median | b/a | verdict | noise a/b |',
      '| --- | --- | ---: | ---: | ---: | --- | --- |',
      `| ${key} | ns | 101 | 303 | 3.000 | slower | rounds/rounds |`,
    ]);

    const json = mirrorlab(['compare', '--format', 'json', a, b]);
    expect(json.status).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      threshold: 0.05,
      regressions: 1,
      improvements: 0,
      rows: [{ key, suite: 'host/hugepages', kernel: null, id: 'fault/thp/touch', params: { backing: 'thp', length: 2097152 }, unit: 'ns', a: 101, b: 303, ratio: 3, verdict: 'slower', spread: { a: 'rounds', b: 'rounds' } }],
      clockMismatches: [],
      disturbed: { a: [], b: [] },
    });
    const same = mirrorlab(['compare', a, a, '--format', 'json']);
    expect(same.status).toBe(0);
    expect(JSON.parse(same.stdout).rows[0].verdict).toBe('same');
  });

  it('bench --list with known filters lists what they select, exit 0', () => {
    const r = mirrorlab(['bench', '--list', '--suite', 'host', '--kernel', '6.12', '--size', '2m']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['host/faults host', 'host/uffd-roundtrip host', 'host/hugepages host']);
  });
});
