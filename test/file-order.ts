// The order test files start in (vitest `sequence.sequencer`): the files
// that run alone first, then those that run beside each other (guest, unit
// and some host files), the longest first by their measured times
// (file-groups.ts). With the others first, each waits only for the one
// before it; were they mixed in, a file that must run alone would hold a
// worker idle while it waited for a long guest file on the other. Longest
// first leaves the short files for the end, where they fill the gap beside
// the last long one. The host files that run beside guests are spread out
// among the rest: two of them next to each other would start together, and
// one would hold its worker idle while it waited for the other's host lock.
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { expectedSeconds, holdsHostLock, runsBesideOthers, spreadAmong } from './file-groups.js';

export default class FileOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const byVitest = await super.sort(files);
    const root = this.ctx.config.root;
    const rel = (f: TestSpecification): string => path.relative(root, f.moduleId);
    const alone = byVitest.filter((f) => !runsBesideOthers(rel(f)));
    // a stable sort: files of equal expected time keep vitest's order
    const beside = byVitest.filter((f) => runsBesideOthers(rel(f))).sort((a, b) => expectedSeconds(rel(b)) - expectedSeconds(rel(a)));
    const host = beside.filter((f) => holdsHostLock(rel(f)));
    const rest = beside.filter((f) => !holdsHostLock(rel(f)));
    return [...alone, ...spreadAmong(rest, host)];
  }
}
