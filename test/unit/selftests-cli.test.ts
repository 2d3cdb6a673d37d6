// `mirrorlab selftests` refuses an unknown kernel, suite or option with the
// known names and exit status 2, before anything boots.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands.js';

describe('mirrorlab selftests arguments', () => {
  afterEach(() => vi.restoreAllMocks());
  const stderr = (): string[] => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    return lines;
  };

  it('refuses an unknown kernel, naming the known ones', async () => {
    const err = stderr();
    expect(await run(['selftests', '--kernel', '9.9'])).toBe(2);
    expect(err.join('\n')).toMatch(/unknown kernel "9\.9" \(kernels: 6\.1, 6\.12/);
  });

  it('refuses an unknown suite, naming the known ones', async () => {
    const err = stderr();
    expect(await run(['selftests', '--kernel', '6.12', '--suite', 'hmm-tests', '--suite', 'nope'])).toBe(2);
    expect(err.join('\n')).toMatch(/unknown suite "nope" \(suites: hmm-tests, .*khugepaged\)/);
  });

  it('refuses a bad --repeat and an unknown option', async () => {
    stderr();
    expect(await run(['selftests', '--repeat', '0'])).toBe(2);
    expect(await run(['selftests', '--bogus'])).toBe(2);
  });
});
