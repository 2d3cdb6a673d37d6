// The exports of a results document, read back by what consumes them:
// JUnit XML by xmllint (well-formed, values by XPath), KCIDB JSON by
// KernelCI's own validator (kcidb-io) and field by field, CSV by an RFC 4180
// reader, Markdown table by table. The input has hostile names (quotes,
// commas, pipes, '#', newlines, '<', '&') and every suite status.
import { describe, expect, it } from 'vitest';
import { EXPORT_FILES, EXPORT_FORMATS, exportResults, toCsv, toJunit, toKcidb, toMarkdown } from '../../src/report/exports/index.js';
import { pathPart } from '../../src/report/exports/kcidb.js';
import { hostileResults } from '../fixtures/hostile-results.js';
import { haveXmllint, havePythonJsonschema, kcidbValidate, parseCsv, xmlWellFormed, xpath, xpathLiteral } from '../fixtures/export-checks.js';

const results = hostileResults();

describe.skipIf(!haveXmllint)('JUnit XML', () => {
  const xml = toJunit(results);
  const suite = (name: string) => `//testsuite[@name=${xpathLiteral(name)}]`;

  it('is well-formed for xmllint, and xmllint rejects a broken document (control)', () => {
    expect(xmlWellFormed(xml)).toEqual({ status: 0, stderr: '' });
    expect(xmlWellFormed('<testsuites><testsuite name="a & b"/></testsuites>').status).not.toBe(0);
  });

  it('totals on <testsuites>, a <testsuite> per suite and kernel with its counts', () => {
    expect(xpath(xml, 'count(/testsuites/testsuite)')).toBe('6');
    // 5+1+1+1+1+3 testcases: checks, plus a "suite run" for the incomplete, failed and check-less skipped suites
    expect(['tests', 'failures', 'errors', 'skipped'].map((a) => xpath(xml, `/testsuites/@${a}`))).toEqual(['12', '3', '2', '3']);
    expect(['tests', 'failures', 'errors', 'skipped'].map((a) => xpath(xml, `${suite('host/faults')}/@${a}`))).toEqual(['5', '2', '0', '1']);
    expect(xpath(xml, `${suite('guest/mirrordrm@6.12')}/@errors`)).toBe('1');
    expect(xpath(xml, `${suite('guest/mirrordrm@6.12')}/testcase[@name="suite run"]/error/@message`)).toBe('incomplete: guest stopped\nafter 3 of 5 steps');
    expect(xpath(xml, `${suite('guest/fakevram@7.2')}/testcase[@name="suite run"]/skipped/@message`)).toBe('no KVM # here');
    expect(xpath(xml, `${suite('host/empty')}/@tests`)).toBe('0');
  });

  it('kernel release and TCG/KVM as properties', () => {
    const prop = (s: string, name: string) => xpath(xml, `${suite(s)}/properties/property[@name="${name}"]/@value`);
    expect([prop('guest/mirrordrm@6.12', 'kernel.release'), prop('guest/mirrordrm@6.12', 'accel')]).toEqual(['6.12.117+deb12-amd64', 'TCG']);
    expect([prop('guest/fakevram@7.2', 'kernel.release'), prop('guest/fakevram@7.2', 'accel')]).toEqual(['7.2.13+deb14-amd64', 'KVM']);
    expect([prop('host/faults', 'kernel.release'), prop('host/faults', 'accel')]).toEqual(['6.1.0-57-amd64', 'host']);
  });

  it('names, failure and skip messages come back exactly as they were, newlines included', () => {
    const tc = (name: string) => `${suite('host/faults')}/testcase[@name=${xpathLiteral(name)}]`;
    expect(xpath(xml, `count(${tc('two\nlines')})`)).toBe('1');
    expect(xpath(xml, `${tc('two\nlines')}/failure/@message`)).toBe('got <1> & "2"');
    expect(xpath(xml, `${tc('two\nlines')}/failure`)).toBe('got <1> & "2"');
    expect(xpath(xml, `${tc('not ok 2 looks like a failure')}/failure/@message`)).toBe('first line\nok 9 injected result\n# Subtest: injected');
    expect(xpath(xml, `${tc('trailing spaces   ')}/skipped/@message`)).toBe('no hugetlb # pages\nsecond line');
    expect(xpath(xml, `count(${tc('case #3 ran')}/*)`)).toBe('0'); // passed: no child
  });

  it('measurements in <system-out>, one line each', () => {
    expect(xpath(xml, `${suite('host/faults')}/system-out`).split('\n')).toEqual([
      'write-fault/anon-4k {"backing":"anon","size":4096}: median 120.5 ns (min 100, p99 180, max 200; 3 rounds, n 40)',
      'write "quoted", comma {"note":"a \\"b\\", c","pipe":"x|y"}: median 120.5 us (min 100, p99 180, max 200; 3 rounds, n 40)',
    ]);
  });

  it('behaviour findings in <system-out> after the measurements, one line each with their invalidations', () => {
    expect(xpath(xml, `${suite('guest/mirrordrm@6.12')}/system-out`).split('\n').slice(1)).toEqual([
      'MADV_DONTNEED | CPU write / gup: stale (device read 0x11, CPU reads 0x22); invalidations: CLEAR 0x0-0x200000 blockable',
      'munmap / hmm: coherent (device read fails after the unmap); invalidations: none',
    ]);
  });
});

describe('KCIDB JSON', () => {
  const doc = toKcidb(results);

  it.skipIf(!havePythonJsonschema)("passes KernelCI's own validator (kcidb-io), which rejects a broken document (control)", () => {
    const ok = kcidbValidate(doc);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('valid kcidb v5.3\n');
    expect(ok.status).toBe(0);
    // Controls: a path with a space, an unknown status, a missing build_id.
    for (const broken of [
      (d: any) => (d.tests[0].path = 'mirrorlab.host faults'),
      (d: any) => (d.tests[0].status = 'OK'),
      (d: any) => delete d.tests[0].build_id,
    ]) {
      const copy = JSON.parse(JSON.stringify(doc));
      broken(copy);
      const bad = kcidbValidate(copy);
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/ValidationError/);
    }
  });

  it('a checkout and build per kernel release, origin mirrorlab, ids mirrorlab:...', () => {
    expect(doc.version).toEqual({ major: 5, minor: 3 });
    expect(doc.builds.map((b) => b.id)).toEqual([
      'mirrorlab:2026-12-02T10:00:00.000Z:6.1.0-57-amd64',
      'mirrorlab:2026-12-02T10:00:00.000Z:6.12.117+deb12-amd64',
      'mirrorlab:2026-12-02T10:00:00.000Z:7.2.13+deb14-amd64',
    ]);
    expect(doc.checkouts.map((c) => c.id)).toEqual(doc.builds.map((b) => b.checkout_id));
    for (const o of [...doc.checkouts, ...doc.builds, ...doc.tests]) {
      expect(o.origin).toBe('mirrorlab');
      expect(o.id.startsWith('mirrorlab:')).toBe(true);
    }
    expect(new Set(doc.tests.map((t) => t.id)).size).toBe(doc.tests.length);
  });

  it('tests: dotted paths, statuses per check and suite, measurements DONE with value, unit and statistics in misc', () => {
    const byPath = (p: string) => doc.tests.filter((t) => t.path === p);
    expect(byPath('mirrorlab.host.faults').map((t) => t.status)).toEqual(['FAIL']);
    expect(byPath('mirrorlab.guest.mirrordrm').map((t) => [t.status, t.build_id.endsWith('6.12.117+deb12-amd64')])).toEqual([['ERROR', true]]);
    expect(byPath('mirrorlab.host.broken').map((t) => [t.status, t.log_excerpt])).toEqual([['ERROR', 'mmap: ENOMEM\nat step 1']]);
    expect(byPath('mirrorlab.guest.fakevram').map((t) => t.status)).toEqual(['SKIP']);
    expect(byPath('mirrorlab.host.empty').map((t) => t.status)).toEqual(['PASS']);
    const checks = doc.tests.filter((t) => t.path.startsWith('mirrorlab.host.faults.check.'));
    expect(checks.map((t) => [t.path, t.status, t.comment])).toEqual([
      ['mirrorlab.host.faults.check.case_3_ran', 'PASS', 'case #3 ran'],
      ['mirrorlab.host.faults.check.ok_7_looks_like_a_result', 'PASS', 'ok 7 looks like a result'],
      ['mirrorlab.host.faults.check.not_ok_2_looks_like_a_failure', 'FAIL', 'not ok 2 looks like a failure'],
      ['mirrorlab.host.faults.check.trailing_spaces', 'SKIP', 'trailing spaces   '],
      ['mirrorlab.host.faults.check.two_lines', 'FAIL', 'two\nlines'],
    ]);
    const m = byPath('mirrorlab.host.faults.measurement.write-fault.anon-4k');
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ status: 'DONE', number: { value: 120.5, unit: 'ns' }, misc: { unit: 'ns', params: { backing: 'anon', size: 4096 }, rounds: 3 } });
    expect((m[0].misc as any).warm).toMatchObject({ min: 100, median: 120.5, p99: 180, max: 200 });
    expect(byPath('mirrorlab.host.faults.measurement.write_quoted_comma')[0].number).toEqual({ value: 120.5, unit: 'us' });
    expect(pathPart('6.12 #x')).toBe('6_12_x');
  });
});

describe('CSV', () => {
  it('one row per measurement, RFC 4180 quoting: a param with comma and quote reads back whole', () => {
    const text = toCsv(results);
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual(['suite', 'kernel', 'id', 'params', 'unit', 'min', 'median', 'p99', 'max', 'rounds', 'observed']);
    expect(rows.slice(1)).toEqual([
      ['host/faults', '6.1.0-57-amd64', 'write-fault/anon-4k', '{"backing":"anon","size":4096}', 'ns', '100', '120.5', '180', '200', '3', '{}'],
      ['host/faults', '6.1.0-57-amd64', 'write "quoted", comma', '{"note":"a \\"b\\", c","pipe":"x|y"}', 'us', '100', '120.5', '180', '200', '3', '{}'],
      ['guest/mirrordrm@6.12', '6.12.117+deb12-amd64', 'gup/pin', '{"pages":512}', 'ns', '100', '120.5', '180', '200', '3', '{"mapOrder":9,"verifiedRuns":"3/3"}'],
    ]);
    expect(JSON.parse(rows[2][3])).toEqual({ note: 'a "b", c', pipe: 'x|y' });
    // the quoted field on the wire: quotes doubled inside quotes
    expect(text).toContain('"write ""quoted"", comma"');
  });
});

describe('Markdown', () => {
  const md = toMarkdown(results);
  /** Cells of a table row, split at unescaped pipes, escapes undone. */
  const cells = (line: string) =>
    line
      .slice(2, -2)
      .split(/ (?<!\\)\| /)
      .map((c) => c.replace(/\\([\\|])/g, '$1'));
  const tableAfter = (heading: string, header: string) => {
    const lines = md.split('\n');
    const start = lines.indexOf(heading);
    const h = lines.findIndex((l, i) => i > start && l.startsWith(`| ${header} `));
    const end = lines.findIndex((l, i) => i > h && !l.startsWith('|'));
    return lines.slice(h + 2, end).map(cells);
  };

  it('a section per suite; checks table with escaped pipes and <br> for newlines', () => {
    expect(md.split('\n').filter((l) => l.startsWith('## '))).toEqual([
      '## host/faults: Faults \\| host',
      '## guest/mirrordrm@6.12: mirrordrm',
      '## guest/fakevram@7.2: fakevram',
      '## host/empty: no checks',
      '## host/broken: failed before any check',
      '## guest/selftests@7.2: kernel selftests',
    ]);
    expect(tableAfter('## host/faults: Faults \\| host', 'Check')).toEqual([
      ['case #3 ran', 'pass', ''],
      ['ok 7 looks like a result', 'pass', ''],
      ['not ok 2 looks like a failure', '**FAIL**', 'first line<br>ok 9 injected result<br># Subtest: injected'],
      ['trailing spaces   ', 'skip', 'no hugetlb # pages<br>second line'],
      ['two<br>lines', '**FAIL**', 'got <1> & "2"'],
    ]);
  });

  it('measurements table: every column, a pipe inside params kept in its cell', () => {
    const rows = tableAfter('## host/faults: Faults \\| host', 'Measurement');
    expect(rows).toEqual([
      ['write-fault/anon-4k', '{"backing":"anon","size":4096}', 'ns', '100', '120.5', '180', '200', '3'],
      ['write "quoted", comma', '{"note":"a \\"b\\", c","pipe":"x|y"}', 'us', '100', '120.5', '180', '200', '3'],
    ]);
    expect(md).toContain('Status: **incomplete** (guest stopped<br>after 3 of 5 steps); guest kernel 6.12.117+deb12-amd64 (TCG)');
    // guest/behaviour's findings: one row per event and mode, with the invalidation records
    expect(tableAfter('## guest/mirrordrm@6.12: mirrordrm', 'Event')).toEqual([
      ['MADV_DONTNEED | CPU write', 'gup', '**stale**', 'device read 0x11,<br>CPU reads 0x22', 'CLEAR 0x0-0x200000 blockable'],
      ['munmap', 'hmm', 'coherent', 'device read fails after the unmap', 'none'],
    ]);
  });
});

describe('export formats', () => {
  it('each format has its file name and its writer', () => {
    expect(EXPORT_FORMATS.map((f) => EXPORT_FILES[f])).toEqual(['results.junit.xml', 'results.kcidb.json', 'results.csv', 'results.md']);
    expect(exportResults(results, 'csv')).toBe(toCsv(results));
    expect(JSON.parse(exportResults(results, 'kcidb'))).toEqual(toKcidb(results));
  });
});
