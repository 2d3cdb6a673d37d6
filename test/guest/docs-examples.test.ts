// Runs the `ts guest` and `ts vm` examples of README.md and docs/*.md (see
// test/docs-examples.ts). `ts guest` examples run inside one guest per
// kernel with mirrordrm and fakevram loaded: compiled by TypeScript (node 20
// in the guest has no `using` syntax), then run by node in /mirrorlab, where
// `import ... from 'mirrorlab'` finds the library. `ts vm` examples are host
// code that boots its own guest; they run in the test process.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestUnavailableReason, kernelSeries } from '../../src/vm/index.js';
import { allExamples, exampleId, exampleTitle, runExampleHere, throwingAssert } from '../docs-examples.js';
import { caseOf } from './cases.js';
import { ensureGuestBuild, kernels, sharedVm, skipReason } from './helpers.js';

const examples = allExamples();
const guestExamples = examples.filter((e) => e.kind === 'guest');
const vmExamples = examples.filter((e) => e.kind === 'vm');

// In the guest, a false console.assert must fail the example as it does on the host.
const GUEST_PRELUDE = `console.assert = ${throwingAssert.toString()};\n`;

function forGuest(code: string): string {
  const out = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  return GUEST_PRELUDE + out.outputText;
}

for (const series of kernels()) {
  const reason = skipReason(series);
  describe.skipIf(reason !== null)(`docs examples in a ${series} guest`, () => {
    beforeAll(() => ensureGuestBuild([series]), 600_000);
    const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));
    beforeAll(async () => {
      const vm = guest.vm;
      await vm.loadModule('fakevram', { kind: 'iomem', base: vm.iomem.base, size: vm.iomem.size });
    }, 60_000);

    for (const e of guestExamples) {
      it(...caseOf(exampleId(e, guestExamples), exampleTitle(e), { timeout: 300_000 }), async () => {
        const r = await guest.vm.exec('node', ['--input-type=module', '-e', forGuest(e.code)], { cwd: '/mirrorlab', timeoutMs: 280_000 });
        if (r.stdout) console.log(`[${series}] ${r.stdout.trimEnd()}`);
        expect(r.stderr, `${e.file}:${e.line}`).toBe('');
        expect(r.status, `${e.file}:${e.line}`).toBe(0);
      });
    }
  });
}

describe('docs examples booting their own guest (ts vm)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-docs-vm-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  for (const e of vmExamples) {
    const kernel = kernelSeries(/kernelSeries\('([\w.]+)'\)/.exec(e.code)?.[1] ?? '6.12');
    const reason = guestUnavailableReason(kernel);
    if (reason) console.warn(`${e.file}:${e.line} skipped: ${reason}`);
    it.skipIf(reason !== null)(...caseOf(exampleId(e, vmExamples), exampleTitle(e), { timeout: 300_000, kernel }), async () => {
      await ensureGuestBuild([kernel]);
      await runExampleHere(e, tmp);
    });
  }
});
