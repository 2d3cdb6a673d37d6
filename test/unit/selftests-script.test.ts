// scripts/selftests.sh checks every series it is given before it downloads or
// builds anything: an unknown one exits with status 2 and the known names.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { KNOWN_KERNELS } from '../../src/vm/kernels.js';

const script = path.join(repoRoot, 'scripts/selftests.sh');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-selftests-'));
// A cache the script must not create: nothing is built when a name is wrong.
const cache = path.join(tmp, 'cache');

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function selftests(...args: string[]) {
  return spawnSync('bash', [script, ...args], { encoding: 'utf8', env: { ...process.env, MIRRORLAB_CACHE: cache } });
}

describe('scripts/selftests.sh arguments', () => {
  const known = KNOWN_KERNELS.replaceAll(', ', ' ');

  it('refuses an unknown series with status 2 and the known names, before any work', () => {
    const r = selftests('5.10');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`selftests: error: unknown series '5.10' (known: ${known})\n`);
    expect(existsSync(cache)).toBe(false);
  });

  it('checks every name first: a known series before an unknown one is not built', () => {
    const r = selftests('7.2', 'bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown series 'bogus'");
    expect(existsSync(cache)).toBe(false);
  });

  it('--help prints the usage and the known names, status 0', () => {
    const r = selftests('--help');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('scripts/selftests.sh [SERIES...]');
    expect(r.stderr).toContain(`series: ${known}`);
    expect(existsSync(cache)).toBe(false);
  });
});
