// scripts/kernel-series is the one kernel list: the TypeScript side and the
// shell side (scripts/kernel-series.sh, used by kernels.sh and
// build-modules.sh) must read it the same way, also with rows added to it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { DEFAULT_KERNELS, KERNEL_SERIES, KNOWN_KERNELS, kernelSeries, parseKernelSeriesFile } from '../../src/vm/kernels.js';

const FORKY = '7.9   forky     linux-image-amd64       no   forky,testing   # a later suite\n';

/** Runs a function of scripts/kernel-series.sh in `dir` (a copy of scripts/ or scripts/ itself). */
function shell(dir: string, call: string): { out: string; status: number } {
  try {
    return { out: execFileSync('bash', ['-c', `source ${dir}/kernel-series.sh; ${call}`], { encoding: 'utf8' }).trim(), status: 0 };
  } catch (e) {
    return { out: '', status: (e as { status: number }).status };
  }
}

describe('kernel series list', () => {
  it('names 6.1, 6.12 and 7.2 (sid), all default', () => {
    expect(KERNEL_SERIES).toEqual(['6.1', '6.12', '7.2']);
    expect(DEFAULT_KERNELS).toEqual(['6.1', '6.12', '7.2']);
  });

  it('kernelSeries() accepts a series and refuses an unknown name with the known ones', () => {
    expect(kernelSeries('6.12')).toBe('6.12');
    expect(kernelSeries('sid')).toBe('7.2');
    expect(() => kernelSeries('5.10')).toThrow(expect.objectContaining({
      code: 'ERR_INVALID_ARG_VALUE',
      argument: 'kernel',
      message: 'unknown kernel "5.10" (kernels: 6.1, 6.12, 7.2 (sid)); kernels we build: SERIES-test, SERIES-debug, SERIES-test+PATCHES',
    }));
  });

  it('the shell side reads the same defaults and the same series', () => {
    const scripts = path.join(repoRoot, 'scripts');
    expect(shell(scripts, 'default_series').out.split('\n')).toEqual([...DEFAULT_KERNELS]);
    expect(shell(scripts, 'known_series').out).toBe(KNOWN_KERNELS.replaceAll(', ', ' '));
    expect(shell(scripts, 'series_of sid').out).toBe('7.2');
    expect(shell(scripts, 'series_of 6.12').out).toBe('6.12');
    expect(shell(scripts, 'series_of 5.10').status).not.toBe(0);
    expect(shell(scripts, 'series_column 6.12 3').out).toBe('linux-image-6.12-amd64');
  });

  it('a non-default row with an alias: both sides keep the defaults and resolve the alias', () => {
    const text = readFileSync(path.join(repoRoot, 'scripts/kernel-series'), 'utf8') + FORKY;
    const lines = parseKernelSeriesFile(text, 'kernel-series');
    expect(lines.map((l) => [l.series, l.isDefault, l.aliases])).toEqual([
      ['6.1', true, []],
      ['6.12', true, []],
      ['7.2', true, ['sid']],
      ['7.9', false, ['forky', 'testing']],
    ]);
    expect(lines[3]).toMatchObject({ debianSuite: 'forky', metaPackage: 'linux-image-amd64' });

    const dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-kernel-series-'));
    try {
      for (const f of ['kernel-series', 'kernel-series.sh']) copyFileSync(path.join(repoRoot, 'scripts', f), path.join(dir, f));
      appendFileSync(path.join(dir, 'kernel-series'), FORKY);
      expect(shell(dir, 'default_series').out.split('\n')).toEqual(['6.1', '6.12', '7.2']);
      expect(shell(dir, 'known_series').out).toBe('6.1 6.12 7.2 (sid) 7.9 (forky,testing)');
      expect(shell(dir, 'series_of testing').out).toBe('7.9');
      expect(shell(dir, 'series_column 7.9 2').out).toBe('forky');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a malformed row is refused with its file and line', () => {
    expect(() => parseKernelSeriesFile('# c\n6.1 bookworm linux-image-amd64 maybe -\n', 'ks')).toThrow(/^ks:2: expected/);
    expect(() => parseKernelSeriesFile('6.1 bookworm\n', 'ks')).toThrow(/^ks:1: expected/);
  });
});
