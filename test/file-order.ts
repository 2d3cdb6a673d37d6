// The order test files start in (vitest `sequence.sequencer`): the files
// that run alone first, then those that run beside each other (guest, unit
// and some host files), the longest first. With the others first, each waits
// only for the one before it; were they mixed in, a file that must run alone
// would hold a worker idle while it waited for a long guest file on the
// other. The host files that run beside guests are spread out among the
// rest: two of them next to each other would start together, and one would
// hold its worker idle while it waited for the other's host lock.
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { holdsHostLock, LONGEST_FIRST, runsBesideOthers, spreadAmong } from './file-groups.js';

export default class FileOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const byVitest = await super.sort(files);
    const root = this.ctx.config.root;
    const rel = (f: TestSpecification): string => path.relative(root, f.moduleId);
    const alone = byVitest.filter((f) => !runsBesideOthers(rel(f)));
    const longest = LONGEST_FIRST.flatMap((name) => byVitest.filter((f) => rel(f) === name));
    const beside = byVitest.filter((f) => runsBesideOthers(rel(f)) && !LONGEST_FIRST.includes(rel(f)));
    const host = beside.filter((f) => holdsHostLock(rel(f)));
    const rest = beside.filter((f) => !holdsHostLock(rel(f)));
    return [...alone, ...longest, ...spreadAmong(rest, host)];
  }
}
