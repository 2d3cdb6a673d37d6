// `mirrorlab bench` as a user runs it: `node dist/cli/main.js bench` in a
// child process with the host suites (--quick: seconds), without a terminal,
// on a pseudo-terminal (script(1)), interrupted with SIGINT, and with filters
// that select nothing. The report.html of the real run is rendered in
// headless Chromium and every plot's canvas is looked at.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { toCsv, toJunit, toKcidb, toMarkdown } from '../../src/report/exports/index.js';
import { validateResults } from '../../src/report/validate.js';
import { haveXmllint, havePythonJsonschema, kcidbValidate, parseCsv, xmlWellFormed, xpath } from '../fixtures/export-checks.js';
import { chromium, MIN_COLOURED, renderCanvases } from './chromium.js';

const main = path.join(repoRoot, 'dist/cli/main.js');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-bench-cli-'));
const HOST_SUITES = ['host/faults', 'host/uffd-roundtrip', 'host/hugepages'];
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b[[\]()#;?]*[0-9;]*[A-Za-z]?/;

/** src/**.ts files whose dist/**.js is missing or older: the test runs dist, so a stale build would test old code. */
function staleBuild(): string[] {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const f = path.join(dir, e.name);
      if (e.isDirectory()) walk(f);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const js = path.join(repoRoot, 'dist', path.relative(path.join(repoRoot, 'src'), f)).replace(/\.ts$/, '.js');
        if (!existsSync(js) || statSync(js).mtimeMs < statSync(f).mtimeMs) stale.push(path.relative(repoRoot, f));
      }
    }
  };
  walk(path.join(repoRoot, 'src'));
  return stale;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawn `node dist/cli/main.js bench ...` with pipes (no TTY); onStderr sees stderr as it grows. */
function bench(args: string[], onStderr?: (stderr: string, kill: (s: NodeJS.Signals) => void) => void, timeoutMs = 90_000): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, 'bench', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench ${args.join(' ')} still running after ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, (s) => child.kill(s));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function validateCli(file: string) {
  return spawnSync(process.execPath, [main, 'validate', file], { cwd: repoRoot, encoding: 'utf8' });
}

// LineProgress's three line formats (src/report/progress.ts).
const SUITE_LINE = /^\[\s*\d+\.\ds\] suite (\d+)\/(\d+) (\S+) \((\d+) steps\)$/;
const STEP_LINE = /^\[\s*\d+\.\ds\]   (\S+) (\d+)\/(\d+) .+$/;
// A suite run on a disturbed machine says so after its status: "done (disturbed: steal 7.3% ...)".
const END_LINE = /^\[\s*\d+\.\ds\] (\S+): (done(?: \(disturbed: .+\))?|skipped: .+|incomplete.*|failed.*) in \d+\.\ds$/;

describe('mirrorlab bench (node dist/cli/main.js)', () => {
  let dir: string;
  let run: Exit;
  let ms: number;
  beforeAll(async () => {
    const stale = staleBuild();
    if (stale.length) throw new Error(`dist/ is older than ${stale.slice(0, 5).join(', ')}: run npx tsc -p tsconfig.json first`);
    dir = path.join(tmp(), 'out');
    const t0 = Date.now();
    run = await bench(['--suite', 'host', '--quick', '--out', dir, '--export', 'junit,kcidb,csv,md']);
    ms = Date.now() - t0;
    console.log(`bench --suite host --quick: exit ${run.code} in ${ms} ms`);
  });

  it('without a terminal: plain progress lines, exit 0, complete results.json valid against the schema, KTAP and report', () => {
    const json = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
    const failedChecks = json.suites.flatMap((s) => [
      ...(s.status === 'failed' ? [`${s.id}: suite failed: ${s.reason}`] : []),
      ...s.checks.filter((c) => c.status === 'fail').map((c) => `${s.id}: ${c.name}: ${c.reason ?? ''}`),
    ]);
    expect({ code: run.code, signal: run.signal, failedChecks }).toEqual({ code: 0, signal: null, failedChecks: [] });

    // Progress goes to stderr, as plain lines only: no escape codes anywhere.
    expect(run.stderr).not.toMatch(ANSI);
    expect(run.stdout).not.toMatch(ANSI);
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines.filter((l) => !SUITE_LINE.test(l) && !STEP_LINE.test(l) && !END_LINE.test(l))).toEqual([]);
    const starts = lines.map((l) => SUITE_LINE.exec(l)).filter((m) => !!m);
    expect(starts.map((m) => [m[1], m[2], m[3]])).toEqual(HOST_SUITES.map((id, i) => [String(i + 1), '3', id]));
    for (const [, , , id, steps] of starts) {
      // Each suite reports exactly the steps it announced (a skipped suite announces 0), then ends.
      const stepLines = lines.map((l) => STEP_LINE.exec(l)).filter((m) => m?.[1] === id);
      expect(stepLines.map((m) => `${m![2]}/${m![3]}`), id).toEqual(Array.from({ length: Number(steps) }, (_, i) => `${i + 1}/${steps}`));
      expect(lines.some((l) => END_LINE.exec(l)?.[1] === id), `${id} end line`).toBe(true);
    }

    // The summary and where the files went, on stdout.
    expect(run.stdout).toMatch(/^suite\s+measurement\s+unit\s+cold\s+min\s+median\s+p99\s+max\s+n$/m);
    expect(run.stdout).toContain(`results: ${path.join(dir, 'results.json')}`);

    expect(validateResults(json)).toEqual([]);
    const v = validateCli(path.join(dir, 'results.json'));
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/: valid \(mirrorlab\/results v1\)/);
    expect(json.run).toMatchObject({ complete: true, quick: true, argv: ['bench', '--suite', 'host', '--quick', '--out', dir, '--export', 'junit,kcidb,csv,md'], filters: { suite: ['host'] } });
    expect(json.run.finishedAt).not.toBeNull();
    expect(json.machine.kernelRelease).toBe(os.release());
    expect(json.suites.map((s) => [s.id, s.kernel])).toEqual(HOST_SUITES.map((id) => [id, null]));
    for (const s of json.suites) {
      expect(['complete', 'skipped'], `${s.id}: ${s.status} ${s.reason ?? ''}`).toContain(s.status);
      if (s.status === 'skipped') console.warn(`${s.id} skipped here: ${s.reason}`);
      else expect(s.measurements.length, s.id).toBeGreaterThan(0);
    }
    expect(json.suites.some((s) => s.status === 'complete')).toBe(true);

    const ktap = readFileSync(path.join(dir, 'results.ktap'), 'utf8').split('\n');
    expect(ktap.slice(0, 2)).toEqual(['KTAP version 1', '1..3']);
    HOST_SUITES.forEach((id, i) => expect(ktap.some((l) => l === `ok ${i + 1} ${id}` || l.startsWith(`ok ${i + 1} ${id} # SKIP`)), id).toBe(true));
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toContain('INCOMPLETE');
  });

  it('--export: results.junit.xml, results.kcidb.json, results.csv and results.md of the same run beside results.json', () => {
    const json = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    for (const f of ['results.junit.xml', 'results.kcidb.json', 'results.csv', 'results.md']) expect(run.stdout).toContain(`export:  ${path.join(dir, f)}`);
    // Each file is what its writer makes of the results.json written beside it.
    expect(read('results.junit.xml')).toBe(toJunit(json));
    expect(JSON.parse(read('results.kcidb.json'))).toEqual(toKcidb(json));
    expect(read('results.csv')).toBe(toCsv(json));
    expect(read('results.md')).toBe(toMarkdown(json));
    // And reads back as the real measurements: a CSV row per measurement with its warm median.
    const rows = parseCsv(read('results.csv')).slice(1);
    expect(rows.map((r) => [r[0], r[2], Number(r[6])])).toEqual(json.suites.flatMap((s) => s.measurements.map((m) => [s.id, m.id, m.warm.median])));
    expect(rows.length).toBeGreaterThan(0);
    if (haveXmllint) {
      const xml = read('results.junit.xml');
      expect(xmlWellFormed(xml).status).toBe(0);
      expect(xpath(xml, 'count(/testsuites/testsuite)')).toBe(String(json.suites.length));
      expect(xpath(xml, '/testsuites/testsuite[1]/properties/property[@name="kernel.release"]/@value')).toBe(os.release());
    }
    if (havePythonJsonschema) expect(kcidbValidate(JSON.parse(read('results.kcidb.json'))).status).toBe(0);
  });

  it.skipIf(!chromium)('report.html of that run: every plot drawn in headless Chromium (pixels inside each canvas)', () => {
    const json = JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as Results;
    // The charts report.html promises: one per plot whose measurements are in the suite (a histogram needs 2 samples).
    const expected = json.suites.flatMap((s, si) =>
      s.plots.flatMap((p, pi) => {
        const has = (id: string) => s.measurements.find((m) => m.id === id);
        const ok = p.kind === 'histogram' ? (has(p.measurement)?.samples.filter((v) => v > 0).length ?? 0) >= 2 : p.measurements.some(has);
        return ok ? [`c-${si}-${pi}`] : [];
      }),
    );
    expect(expected.length).toBeGreaterThan(0);
    const t0 = Date.now();
    const r = renderCanvases(path.join(dir, 'report.html'));
    console.log(`rendered ${r.canvases.length} charts in ${Date.now() - t0} ms; screenshot ${r.screenshot}`);
    expect(r.rendered).toBe(expected.length);
    expect(r.canvases.map((c) => c.id)).toEqual(expected);
    // The control chart (axes and legend, no data) stays under the bar a drawn chart must clear.
    expect(r.control.pixels).toBeGreaterThan(0);
    expect(r.control.coloured).toBeLessThan(MIN_COLOURED);
    for (const c of r.canvases) {
      expect(c.w * c.h, c.id).toBeGreaterThan(100 * 100);
      expect(c.pixels, `${c.id} inside the screenshot`).toBe((Math.floor(c.x + c.w) - 2 - (Math.ceil(c.x) + 2)) * (Math.floor(c.y + c.h) - 2 - (Math.ceil(c.y) + 2)));
      expect(c.coloured, `${c.id} coloured pixels`).toBeGreaterThanOrEqual(MIN_COLOURED);
    }
  });
  if (!chromium) console.warn('skip: Chromium not installed (scripts/setup.sh installs Debian chromium)');

  it('SIGINT part-way: exit 130 promptly, results.json written and marked incomplete, hugetlb pools as before', async () => {
    const pools = () =>
      ['hugepages-2048kB', 'hugepages-1048576kB'].map((p) => {
        const f = `/sys/kernel/mm/hugepages/${p}/nr_hugepages`;
        return existsSync(f) ? readFileSync(f, 'utf8').trim() : null;
      });
    const before = pools();
    const out = path.join(tmp(), 'out');
    let sentAt = 0;
    // Interrupt once the 2 MiB hugetlb case is under way (its pool is grown then), before the 1 GiB case.
    const r = await bench(['--suite', 'host/hugepages', '--quick', '--out', out], (stderr, kill) => {
      if (!sentAt && /host\/hugepages \d+\/\d+ hugetlb-2M touch/.test(stderr)) {
        sentAt = Date.now();
        kill('SIGINT');
      }
    });
    const afterMs = Date.now() - sentAt;
    console.log(`SIGINT to exit: ${afterMs} ms`);
    expect(sentAt, `no hugetlb-2M step line seen:\n${r.stderr}`).toBeGreaterThan(0);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 130, signal: null });
    expect(afterMs).toBeLessThan(5000);
    expect(r.stderr).toContain('interrupted: finishing the current step, writing partial results');
    expect(r.stderr).toMatch(/host\/hugepages: incomplete: interrupted(?: \(disturbed: .+\))? in \d+\.\ds/);

    const file = path.join(out, 'results.json');
    const json = JSON.parse(readFileSync(file, 'utf8')) as Results;
    expect(validateResults(json)).toEqual([]);
    expect(validateCli(file).status).toBe(0);
    expect(json.run.complete).toBe(false);
    expect(json.suites).toHaveLength(1);
    expect(json.suites[0]).toMatchObject({ id: 'host/hugepages', status: 'incomplete', reason: 'interrupted' });
    const ids = json.suites[0].measurements.map((m) => m.id);
    expect(ids).toContain('clear/memset'); // what was measured before the interrupt is kept
    expect(ids.some((id) => id.includes('hugetlb-1G'))).toBe(false); // the case after it never ran
    expect(readFileSync(path.join(out, 'results.ktap'), 'utf8')).toContain('# host/hugepages: incomplete: interrupted');
    expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('<b>INCOMPLETE</b>');
    expect(pools()).toEqual(before);
  });

  it('an unknown --suite, --kernel, --size or --export exits 2 with the known names, before running anything', async () => {
    const cases: [string[], RegExp][] = [
      [['--suite', 'host/fault'], /unknown suite "host\/fault" \(suites: host\/faults, .*; groups: host, guest, gpu\)/],
      [['--suite', 'host/faults', '--size', '3X'], /unknown size "3X" \(sizes: 4K, 2M, 1G\)/],
      [['--suite', 'guest', '--kernel', '5.4'], /unknown kernel "5.4" \(kernels: 6.1, 6.12, 7.2 \(sid\)\)/],
      [['--suite', 'host/faults', '--export', 'csv,xml'], /unknown --export "xml" \(one of: junit, kcidb, csv, md\)/],
    ];
    for (const [args, message] of cases) {
      const out = path.join(tmp(), 'out');
      const r = await bench([...args, '--quick', '--out', out]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^mirrorlab bench: ${message.source}`));
      expect(r.stderr).toContain('\nsee: mirrorlab bench --help');
      expect(existsSync(out), `${args.join(' ')}: nothing written`).toBe(false);
    }
    // The same names spelled another way are accepted: a size in any case or with iB.
    const ok = await bench(['--suite', 'host/faults', '--size', '4kib', '--quick', '--out', path.join(tmp(), 'out')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/suite 1\/1 host\/faults \(1 steps\)/);
  });

  const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
  if (!script) console.warn('bench TTY test skipped: no script(1) (util-linux) to give the command a pseudo-terminal');
  it.skipIf(!script)('on a terminal (script(1) pseudo-terminal): cli-progress bars instead of lines, exit 0', () => {
    const out = path.join(tmp(), 'out');
    // script's pty is 80 columns, where cli-progress cuts the bar lines after "elapsed": make it wide.
    const cmd = `stty cols 160 rows 40; ${[process.execPath, main, 'bench', '--suite', 'host/faults', '--quick', '--out', out].map((a) => `'${a}'`).join(' ')}`;
    const r = spawnSync(script!, ['-qefc', cmd, '/dev/null'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const tty = r.stdout;
    expect(tty).toContain('\x1b[?25l'); // cli-progress hides the cursor ...
    expect(tty).toContain('\x1b[?25h'); // ... and shows it again at the end
    expect(tty).toMatch(/all suites {15}\[[█░]+\] 1\/1 \| \d+s elapsed \| eta \d+s \| done/);
    expect(tty).toMatch(/host\/faults {14}\[█+\] 3\/3 \| \d+s elapsed \| eta \d+s \| done/);
    expect(tty).not.toMatch(/suite 1\/1 host\/faults \(\d+ steps\)/); // not the plain lines
    expect(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')).run.complete).toBe(true);
  });
  if (!script) console.warn('skip: script(1) from util-linux not installed: the terminal progress test needs a pseudo-terminal');
});
