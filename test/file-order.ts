// The order test files start in (vitest `sequence.sequencer`): the files
// that run alone first, then those that run beside each other (guest and unit files),
// longest first. With the others first, each waits only for the one before
// it; were they mixed in, a file that must run alone would hold a worker idle
// while it waited for a long guest file on the other.
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { LONGEST_FIRST, runsBesideOthers } from './file-groups.js';

export default class FileOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const byVitest = await super.sort(files);
    const root = this.ctx.config.root;
    const rank = (f: TestSpecification): number => {
      const rel = path.relative(root, f.moduleId);
      if (!runsBesideOthers(rel)) return 0;
      const i = LONGEST_FIRST.indexOf(rel);
      return i >= 0 ? 1 + i : 1 + LONGEST_FIRST.length;
    };
    return byVitest
      .map((f, i) => ({ f, i, r: rank(f) }))
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .map((x) => x.f);
  }
}
