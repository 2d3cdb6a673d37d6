// Stable case ids for the guest tests, in the style of IGT and the kernel's
// hmm-tests: a test's name is a short id ("munmap-partial@gup") that keeps
// its history in results/guest.{ktap,json} when the finding is reworded; the
// finding itself is the description, carried in task.meta. The kernel is not
// part of the id: it is the KTAP suite the case runs in.
import type { TestOptions } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** What the case shows, in words (the test name is its id). */
    description?: string;
    /** The kernel series the test ran on (guest helpers, or caseOf for tests outside a per-kernel describe). */
    kernel?: string;
    /** Guest console lines printed while the test ran (guest helpers). */
    guestLog?: string;
  }
}

/**
 * The id grammar: kebab-case words (lower case, digits), then one '@variant'
 * per parameter of the case (mode, backing, entry size...), each kebab-case:
 * "read-write@gup-longterm", "dontneed-write@hmm@hugetlb-2m". KTAP-safe: no
 * spaces, no '#'.
 */
export const CASE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:@[a-z0-9]+(?:-[a-z0-9]+)*)*$/;

/** An id from a name and its variants: caseId('munmap-partial', 'gup') is "munmap-partial@gup" (variants lower-cased). */
export function caseId(name: string, ...variants: string[]): string {
  return [name, ...variants.map((v) => v.toLowerCase())].join('@');
}

/**
 * The arguments of it() for a case: its id as the test name and its
 * description in task.meta (the runner copies options.meta into task.meta at
 * collection, so skipped tests carry it too; vitest 3 types that option only
 * on its custom-task API, and test/unit/case-ids.test.ts fails if a vitest
 * update stops copying it), with the test options given:
 *   it(...caseOf(caseId('munmap-partial', mode), `${mode}: munmap of one page ...`), async () => { ... })
 * `kernel` is for a test outside a per-kernel describe; the reporter groups by it.
 */
export function caseOf(id: string, description: string, options: TestOptions & { kernel?: string } = {}): [string, TestOptions] {
  if (!CASE_ID.test(id)) throw new Error(`case id ${JSON.stringify(id)} does not follow the grammar ${CASE_ID}`);
  const { kernel, ...rest } = options;
  const meta = kernel ? { description, kernel } : { description };
  return [id, { ...rest, meta } as TestOptions];
}
