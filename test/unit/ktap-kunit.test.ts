// Our KTAP read by the kernel's own parser: tools/testing/kunit/kunit.py parse,
// from Debian's linux-source (scripts/kunit-tool.sh puts it in the cache at
// setup). Both writers are fed hostile names: results.ktap (toKtap) and the
// guest test reporter's results/guest.ktap. kunit.py must find every test
// with its name and status, with no parse error and nothing "crashed"; the
// old unescaped form of the same results makes it report errors.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ktapDiagnostic, ktapName, toKtap } from '../../src/report/ktap.js';
import type { Results } from '../../src/report/results.js';
import { repoRoot } from '../../src/paths.js';
import { cacheRoot } from '../../src/vm/kernels.js';
import { hostileResults } from '../fixtures/hostile-results.js';
import { guestKtap, type Row } from '../guest/ktap-reporter.js';

const kunitPy = path.join(cacheRoot(), 'kunit', 'tools', 'testing', 'kunit', 'kunit.py');
const haveKunit = existsSync(kunitPy);
if (!haveKunit) console.warn(`skip: ${kunitPy} not found (scripts/setup.sh runs scripts/kunit-tool.sh to extract it from linux-source)`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-kunit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Group { name: string; test_cases: { name: string; status: string }[]; sub_groups: Group[]; misc: Record<string, number> }

/** kunit.py parse of a KTAP text: exit status, its summary line, and every test as "path: STATUS" from its JSON. */
function kunitParse(ktap: string, label: string) {
  const input = path.join(tmp, `${label}.ktap`);
  const json = path.join(tmp, `${label}.json`);
  writeFileSync(input, ktap);
  // kunit.py changes into the kernel tree it belongs to: absolute paths only.
  const r = spawnSync('python3', [kunitPy, 'parse', `--json=${json}`, input], { encoding: 'utf8' });
  const tests: string[] = [];
  const walk = (g: Group, prefix: string) => {
    for (const t of g.test_cases) tests.push(`${prefix}${t.name}: ${t.status}`);
    for (const s of g.sub_groups) walk(s, `${prefix}${s.name}.`);
  };
  let top: Group | null = null;
  if (existsSync(json)) {
    top = JSON.parse(readFileSync(json, 'utf8')) as Group;
    walk(top, '');
  }
  const summary = r.stdout.split('\n').find((l) => l.includes('Testing complete.'))?.replace(/^\[[\d:]+\] /, '') ?? null;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, summary, tests: tests.sort(), misc: top?.misc };
}

describe('KTAP text helpers', () => {
  it('a name is one line without # or surrounding spaces', () => {
    expect(ktapName('case #3\n  ok 1 x  ')).toBe('case no.3 ok 1 x');
    expect(ktapName(' \n ')).toBe('(unnamed)');
  });
  it('a diagnostic is a "# " line per line of text; "Subtest:" cannot open a subtest', () => {
    expect(ktapDiagnostic('a # b\r\n\nok 1 c  \n# Subtest: d\nSubtest: e')).toEqual(['# a # b', '# ok 1 c', '# # Subtest: d', '#  Subtest: e']);
  });
});

describe.skipIf(!haveKunit)("the kernel's KTAP parser (kunit.py parse)", () => {
  it('reads results.ktap of hostile results: every test by name and status, no error, nothing crashed', () => {
    const k = kunitParse(toKtap(hostileResults()), 'results');
    expect(k.stdout).not.toMatch(/ERROR|CRASHED/);
    expect(k.summary).toBe('Testing complete. Ran 16 tests: passed: 7, failed: 5, skipped: 4');
    expect(k.misc).toMatchObject({ tests: 16, passed: 7, failed: 5, crashed: 0, skipped: 4, errors: 0 });
    expect(k.status).toBe(1); // failures: kunit.py exits 1 for a run with failed tests
    expect(k.tests).toEqual(
      [
        'host/faults.case no.3 ran: PASS',
        'host/faults.ok 7 looks like a result: PASS',
        'host/faults.not ok 2 looks like a failure: FAIL',
        'host/faults.trailing spaces: SKIP',
        'host/faults.two lines: FAIL',
        'guest/mirrordrm@6.12.pin no. count: PASS',
        'guest/fakevram@7.2: SKIP',
        'host/empty: PASS',
        'host/broken: FAIL',
        'guest/selftests@7.2.hmm-tests: SKIP',
        'guest/selftests@7.2.an ordinary check: PASS',
        'guest/selftests@7.2.cow.Basic COW no. 1: PASS',
        'guest/selftests@7.2.cow.vmsplice() + unmap: FAIL',
        'guest/selftests@7.2.cow.COW with THP: SKIP',
        'guest/selftests@7.2.cow.R/O longterm: PASS',
      ].sort(),
    );
    // The failure's reason is printed with the failed test, before its [FAILED] line.
    const lines = k.stdout.split('\n').map((l) => l.replace(/^\[[\d:]+\] /, ''));
    const failed = lines.indexOf('[FAILED] not ok 2 looks like a failure');
    expect(lines.slice(failed - 3, failed)).toEqual(['# first line', '# ok 9 injected result', '# # Subtest: injected']);
  });

  it('exits 0 for a run whose hostile-named checks all passed or were skipped', () => {
    const r: Results = hostileResults();
    r.suites = r.suites.filter((s) => s.id === 'guest/fakevram' || s.id === 'host/empty');
    r.suites.push({ ...r.suites[1], id: 'host/ok # fine', checks: [{ name: 'a\nb #1', status: 'pass' }, { name: 'not ok', status: 'skip', reason: 'x\ny' }] });
    const k = kunitParse(toKtap(r), 'passing');
    expect(k.stdout).not.toMatch(/ERROR|CRASHED/);
    expect(k.summary).toBe('Testing complete. Ran 4 tests: passed: 2, skipped: 2');
    expect(k.tests).toEqual(['guest/fakevram@7.2: SKIP', 'host/empty: PASS', 'host/ok no. fine.a b no.1: PASS', 'host/ok no. fine.not ok: SKIP']);
    expect(k.status).toBe(0);
  });

  it("reads the guest reporter's format: per file, per kernel, descriptions and errors before the result", () => {
    const row = (file: string, id: string, kernel: string | null, status: Row['status'], extra: Partial<Row> = {}): Row => ({
      file, id, description: `what ${id} # checks`, name: id, kernel, status, durationMs: 1, errors: [], guestLog: null, skipReason: null, ...extra,
    });
    const a = 'test/guest/a.test.ts';
    const text = guestKtap([
      {
        file: a,
        failed: false,
        rows: [
          row(a, 'read-write@gup', '6.1', 'pass'),
          row(a, 'read-write@gup', '6.12', 'fail', { errors: ['expected 1 to be 2\nok 3 read-write@gup\n# Subtest: x\n  at test/guest/a.test.ts:10'] }),
          row(a, 'pin #2', '6.12', 'skip', { skipReason: 'no THP # here\nat all' }),
          row(a, 'host side ', null, 'pass'),
        ],
      },
      { file: 'test/guest/empty.test.ts', failed: false, rows: [] },
      { file: 'test/guest/hook.test.ts', failed: true, rows: [row('h', 'only', '7.2', 'pass')] },
    ]);
    const k = kunitParse(text, 'guest');
    expect(k.stdout).not.toMatch(/ERROR|CRASHED/);
    expect(k.summary).toBe('Testing complete. Ran 7 tests: passed: 4, failed: 2, skipped: 1');
    expect(k.tests).toEqual(
      [
        'test/guest/a.test.ts.kernel 6.1.read-write@gup: PASS',
        'test/guest/a.test.ts.kernel 6.12.read-write@gup: FAIL',
        'test/guest/a.test.ts.kernel 6.12.pin no.2: SKIP',
        'test/guest/a.test.ts.host side: PASS',
        'test/guest/empty.test.ts: PASS',
        'test/guest/hook.test.ts.kernel 7.2.only: PASS',
      ].sort(),
    );
    // The hook failure of a file whose cases passed counts as a failure of the file.
    expect(k.misc).toMatchObject({ failed: 2, crashed: 0, errors: 0 });
  });

  it('negative control: the previous unescaped results.ktap of the same results makes kunit.py report errors and crashes', () => {
    // test/fixtures/ktap-unescaped.ktap: toKtap of hostileResults() before names
    // and reasons were escaped (commit 2de88d6).
    const k = kunitParse(readFileSync(path.join(repoRoot, 'test/fixtures/ktap-unescaped.ktap'), 'utf8'), 'unescaped');
    expect(k.stdout).toContain('[ERROR]');
    expect(k.stdout).toContain('[CRASHED]');
    expect(k.misc!.errors).toBeGreaterThan(0);
    expect(k.misc!.crashed).toBeGreaterThan(0);
    expect(k.tests).not.toContain('host/faults.case no.3 ran: PASS');
  });
});

describe('scripts/kunit-tool.sh', () => {
  const script = path.join(repoRoot, 'scripts/kunit-tool.sh');
  const tool = (args: string[], cache: string) => spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, MIRRORLAB_CACHE: cache } });

  it('refuses an unknown series or a second one with status 2, before any work', () => {
    const cache = path.join(tmp, 'no-cache');
    const r = tool(['5.10'], cache);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^kunit-tool: error: unknown series '5\.10' \(known: 6\.1 6\.12 7\.2 \(sid\)\)\n$/);
    expect(tool(['6.1', '6.12'], cache).status).toBe(2);
    expect(existsSync(cache)).toBe(false);
  });

  it.skipIf(!haveKunit)('does nothing when the cache holds the same source, and says which', () => {
    const r = tool([], cacheRoot());
    expect(r.status).toBe(0);
    const key = readFileSync(path.join(cacheRoot(), 'kunit', '.complete'), 'utf8').trim();
    expect(key).toMatch(/^linux-source-\d+\.\d+=\S+$/);
    expect(r.stderr).toBe(`kunit-tool: cached in ${path.join(cacheRoot(), 'kunit')} (${key})\n`);
  });
});
