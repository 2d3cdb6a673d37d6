// Value checks shared by several commands' option specs: kernel series and
// page sizes are spelled the same everywhere (6.1, 6.12, 7.2; 4K, 2M, 1G).
import { normalizeSize } from '../bench/suites/common.js';
import { ArgumentError } from '../errors.js';
import { kernelSeries } from '../vm/kernels.js';

/** An unknown kernel series, with the known ones ("6.1, 6.12, 7.2 (sid)"). */
export function kernelProblem(name: string): string | undefined {
  try {
    kernelSeries(name);
    return undefined;
  } catch (e) {
    if (e instanceof ArgumentError) return e.message;
    throw e;
  }
}

export const SIZES = ['4K', '2M', '1G'] as const;

/** An unknown page size; other spellings of a known one (4k, 2MiB, 1GB) are fine. */
export function sizeProblem(name: string): string | undefined {
  return (SIZES as readonly string[]).includes(normalizeSize(name)) ? undefined : `unknown size ${JSON.stringify(name)} (sizes: ${SIZES.join(', ')})`;
}
