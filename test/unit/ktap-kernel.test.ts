// The guest results JSON names the kernel each test ran on.
import { describe, expect, it } from 'vitest';
import { kernelOfTest } from '../guest/ktap-reporter.js';

describe('kernelOfTest', () => {
  it('takes what the guest helpers recorded first', () => {
    expect(kernelOfTest('anything > at all', '6.12')).toBe('6.12');
  });
  it('finds a known series in the top-level describe, as a whole word', () => {
    expect(kernelOfTest('mirrordrm on 6.12 > gup: munmap')).toBe('6.12');
    expect(kernelOfTest('mirrordrm on 6.1 > gup: munmap')).toBe('6.1');
    expect(kernelOfTest('kernel 6.1 > fakevram > pte')).toBe('6.1');
    expect(kernelOfTest('guest 6.12: boot')).toBe('6.12');
  });
  it('does not read kernels out of test names below the top level, or unknown series', () => {
    expect(kernelOfTest('vm > the kernel says no > 6.1')).toBeNull();
    expect(kernelOfTest('hmm read-only downgrade: the kernel cannot say')).toBeNull();
    expect(kernelOfTest('mirrordrm on 6.10 > x')).toBeNull();
    expect(kernelOfTest('mirrordrm on 16.1 > x')).toBeNull();
  });
});
