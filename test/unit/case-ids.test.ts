// Every guest test is a case with a stable id (test/guest/cases.ts): the id
// follows the grammar, is unique per file and kernel, and carries its
// description; the KTAP reporter names results by id, description first.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CASE_ID, caseId, caseOf } from '../guest/cases.js';
import { kernelOfTest, ktapFileLines } from '../guest/ktap-reporter.js';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

interface Collected {
  file: string;
  fullName: string;
  name: string;
  meta: { description?: string; kernel?: string };
}

/**
 * Collects (does not run) test/guest/*.test.ts with vitest in a child process:
 * names and task.meta, for every kernel. All files in one worker without
 * isolation: the sources they import are loaded once instead of once per
 * file (5 s of CPU instead of 18; what is collected is the same).
 */
function collectGuestTests(): Collected[] {
  const script = `
    import { createVitest } from 'vitest/node';
    const v = await createVitest('test', { watch: false, reporters: [], isolate: false, maxWorkers: 1 });
    const r = await v.collect(['test/guest/']);
    const out = [];
    for (const m of r.testModules)
      for (const t of m.children.allTests()) out.push({ file: m.moduleId, fullName: t.fullName, name: t.name, meta: t.meta() });
    await v.close();
    process.stdout.write('\\n@@' + JSON.stringify(out));
  `;
  const env = { ...process.env };
  delete env.MIRRORLAB_KERNEL; // every kernel of the matrix
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.slice(out.lastIndexOf('\n@@') + 3)) as Collected[];
}
let collected: Collected[] | undefined;
/** The guest tests, collected once for this file (seconds). */
const guestTests = (): Collected[] => (collected ??= collectGuestTests());

describe('case id grammar', () => {
  it('accepts kebab-case words with @variants, nothing else', () => {
    for (const ok of ['bad-args', 'munmap-partial@gup', 'misleading-pin@hmm@hugetlb-2m', 'fork-cow@thp@child-first', 'crash@hung-task'])
      expect(ok).toMatch(CASE_ID);
    for (const bad of ['', 'Bad-args', 'munmap partial', 'munmap-partial@', '@gup', 'a--b', '-a', 'a#b', 'a@gup@', 'a_b', 'a.b'])
      expect(bad).not.toMatch(CASE_ID);
  });
  it('caseId lower-cases variants; caseOf refuses an id off the grammar and carries description and kernel', () => {
    expect(caseId('misleading-pin', 'hmm', 'hugetlb-1G')).toBe('misleading-pin@hmm@hugetlb-1g');
    expect(() => caseOf('gup: munmap', 'x')).toThrow(/grammar/);
    expect(caseOf('boot', 'boots', { timeout: 5, kernel: '6.1' })).toEqual(['boot', { timeout: 5, meta: { description: 'boots', kernel: '6.1' } }]);
  });
});

describe('guest test cases', () => {
  let tests: Collected[] = [];
  beforeAll(() => {
    tests = guestTests();
  }, 120_000);

  it('every guest test file is collected', () => {
    const files = new Set(tests.map((t) => path.basename(t.file)));
    for (const f of ['mirrordrm.test.ts', 'fakevram.test.ts', 'vm.test.ts', 'vm-crash.test.ts', 'mirrordrm-bench.test.ts']) expect(files).toContain(f);
  });

  it('every test is named by an id in the grammar and carries its description', () => {
    const off = tests.filter((t) => !CASE_ID.test(t.name) || !t.meta.description).map((t) => `${path.basename(t.file)}: ${t.fullName}`);
    expect(off).toEqual([]);
  });

  it('ids are unique per file and kernel', () => {
    const seen = new Map<string, string>();
    const dups: string[] = [];
    for (const t of tests) {
      const key = `${path.basename(t.file)} ${kernelOfTest(t.fullName, t.meta.kernel) ?? '-'} ${t.name}`;
      if (seen.has(key)) dups.push(`${key}: "${seen.get(key)}" and "${t.fullName}"`);
      seen.set(key, t.fullName);
    }
    expect(dups).toEqual([]);
  });
}, 120_000);

describe('the C selftest kernel-patches/mirrordrm/selftest/mirrordrm_test.c', () => {
  const source = fs.readFileSync(path.join(repo, 'kernel-patches/mirrordrm/selftest/mirrordrm_test.c'), 'utf8');
  const table = /static const struct mdrm_case cases\[\] = \{([^]*?)\n\};/.exec(source)?.[1] ?? '';
  const ids = [...table.matchAll(/^\t\{ "([^"]+)",/gm)].map((m) => m[1]);

  it('names its cases by ids in the same grammar, each once', () => {
    expect(ids.length).toBeGreaterThan(30);
    expect(ids.filter((id) => !CASE_ID.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('shares the ids of the cases the TypeScript suite also has', () => {
    const ts = new Set(guestTests().filter((t) => path.basename(t.file) === 'mirrordrm.test.ts').map((t) => t.name));
    const shared = ['read-write@gup', 'read-write@hmm', 'munmap-partial@gup', 'munmap-partial@hmm', 'mprotect-read@gup', 'mprotect-read@hmm',
      'mprotect-read@hmm@ro-downgrade', 'misleading-pin@gup', 'misleading-pin@hmm', 'misleading-pin@gup@repin', 'misleading-pin@hmm@hugetlb-1g',
      'fork-cow@child-first', 'exit-release', 'bad-args', 'two-files', 'race-mprotect@hmm', 'race-dontneed@hmm', 'race-dontneed@gup'];
    expect(shared.filter((id) => !ids.includes(id) || !ts.has(id))).toEqual([]);
  }, 120_000);
});

describe('KTAP lines of a test file', () => {
  const row = (id: string, kernel: string | null, status: 'pass' | 'fail' | 'skip', extra: object = {}) => ({
    file: 'test/guest/x.test.ts', id, description: `${id} # described`, name: id, kernel, status, durationMs: 1, errors: [], guestLog: null, skipReason: null, ...extra,
  });

  it('nests cases per kernel, the description and errors as diagnostic lines before the result (# kept there), no # in names', () => {
    const { lines, ok } = ktapFileLines('test/guest/x.test.ts', [
      row('a@gup', '6.1', 'pass'),
      row('a@gup', '6.12', 'fail', { errors: ['expected 1\nto be 2'] }),
      row('b', '6.1', 'skip', { skipReason: 'no #guest' }),
      row('host-only', null, 'pass'),
    ], false);
    expect(ok).toBe(false);
    expect(lines).toEqual([
      '    KTAP version 1',
      '    # Subtest: test/guest/x.test.ts',
      '    1..3',
      '        KTAP version 1',
      '        # Subtest: kernel 6.1',
      '        1..2',
      '        # a@gup: a@gup # described',
      '        ok 1 a@gup',
      '        # b: b # described',
      '        ok 2 b # SKIP no no.guest',
      '    ok 1 kernel 6.1',
      '        KTAP version 1',
      '        # Subtest: kernel 6.12',
      '        1..1',
      '        # a@gup: a@gup # described',
      '        # expected 1',
      '        # to be 2',
      '        not ok 1 a@gup',
      '    not ok 2 kernel 6.12',
      '    # host-only: host-only # described',
      '    ok 3 host-only',
      'not ok 1 test/guest/x.test.ts',
    ]);
  });

  it('a file whose module failed (a hook, say) is not ok even when every case passed', () => {
    expect(ktapFileLines('f', [row('a', '6.1', 'pass')], true).ok).toBe(false);
  });
});

describe('kernelOfTest with case ids', () => {
  it('finds the kernel in meta or the top-level describe, never in an id', () => {
    expect(kernelOfTest('mirrordrm on 6.12 > munmap-partial@gup')).toBe('6.12');
    expect(kernelOfTest('guest bench suites, --quick > fakevram-fault-counts', '6.1')).toBe('6.1');
    expect(kernelOfTest('guest bench suites, --quick > ctrl-c')).toBeNull();
  });
});
