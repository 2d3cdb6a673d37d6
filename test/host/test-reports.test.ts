// What a vitest run leaves for CI besides its console output: vitest's JUnit
// reporter (vitest.config.ts) writes tests.junit.xml into $MIRRORLAB_RESULTS
// (results/ by default, ignored by git), one <testcase> per test run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { haveXmllint, xmlWellFormed, xpath } from '../fixtures/export-checks.js';

describe('JUnit XML of a test run', () => {
  it.skipIf(!haveXmllint)('a vitest run writes tests.junit.xml with a testcase per test, each passed', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-junit-'));
    const file = 'test/unit/stats.test.ts';
    const r = spawnSync(path.join(repoRoot, 'node_modules/.bin/vitest'), ['run', file], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, MIRRORLAB_RESULTS: dir, NO_COLOR: '1' },
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const passed = Number(/Tests\s+(\d+) passed/.exec(r.stdout)?.[1]);
    expect(passed).toBeGreaterThan(0);
    const junit = path.join(dir, 'tests.junit.xml');
    expect(existsSync(junit)).toBe(true);
    const xml = readFileSync(junit, 'utf8');
    expect(xmlWellFormed(xml).status).toBe(0);
    expect(xpath(xml, '/testsuites/@name')).toBe('mirrorlab');
    expect(xpath(xml, `count(//testsuite[@name="${file}"]/testcase)`)).toBe(String(passed));
    expect(xpath(xml, `count(//testsuite[@name="${file}"]/testcase[failure or error or skipped])`)).toBe('0');
    expect(xpath(xml, `//testsuite[@name="${file}"]/testcase[1]/@file`)).toBe(file);
  });
});
