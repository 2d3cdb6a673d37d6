// The guest/behaviour suite through the bench runner with --quick on each
// kernel: the findings of the GUP-versus-HMM matrix, each outcome and its
// invalidation records as the scenario tests (mirrordrm.test.ts) establish
// them, valid against the schema.
import { caseOf } from './cases.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBench } from '../../src/bench/runner.js';
import { guestBehaviourSuite } from '../../src/bench/suites/guest-behaviour.js';
import type { Finding, Results, SuiteResult } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { ensureGuestBuild, kernels, skipReason } from './helpers.js';
import { kernelInfo } from '../../src/vm/kernels.js';

const matrix = kernels().filter((k) => !skipReason(k));
const PAGE = 4096;

describe.skipIf(matrix.length === 0)('guest/behaviour, --quick', () => {
  let results: Results;
  beforeAll(async () => {
    await ensureGuestBuild(matrix);
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-behaviour-'));
    const lines: string[] = [];
    const run = await runBench({ suites: [guestBehaviourSuite], kernels: matrix, quick: true, outDir, log: (l) => lines.push(l) });
    console.log(lines.join('\n'));
    results = JSON.parse(readFileSync(run.written.json, 'utf8')) as Results;
  }, 600_000);

  const suite = (kernel: string): SuiteResult => {
    const s = results.suites.find((x) => x.kernel === kernel);
    if (!s) throw new Error(`no guest/behaviour@${kernel} in the results`);
    return s;
  };

  for (const kernel of matrix) {
    it(...caseOf('behaviour-matrix', `${kernel}: findings per event and mode from what the device read against the CPU, with the records behind each`, { kernel }), () => {
      expect(validateResults(results)).toEqual([]);
      const s = suite(kernel);
      expect(s.status, s.reason).toBe('complete');
      expect(s.guest?.release).toBe(kernelInfo(kernel).release);
      expect(s.checks.filter((c) => c.status !== 'pass')).toEqual([]);
      const f = s.findings!;
      const events = [...new Set(f.map((x) => x.event))];
      expect(events).toEqual(['MADV_DONTNEED, then a CPU write', 'munmap of 1 page of 4', 'mprotect(PROT_READ)', 'mprotect(PROT_READ), driver keeps read-only access', 'fork, child writes, then parent writes']);
      for (const e of events) expect(f.filter((x) => x.event === e).map((x) => x.mode), e).toEqual(['gup', 'gup-longterm', 'hmm']);
      const at = (event: string, mode: string): Finding => f.find((x) => x.event === event && x.mode === mode)!;
      const cells = (event: string) => ['gup', 'gup-longterm', 'hmm'].map((m) => [at(event, m).outcome, at(event, m).detail]);
      for (const x of f) console.log(`[${s.guest!.release}] ${x.event} / ${x.mode}: ${x.outcome}: ${x.detail}; ${JSON.stringify(x.records)}`);

      // the misleading pin: pins keep the old page, HMM refaults the new one
      expect(cells('MADV_DONTNEED, then a CPU write')).toEqual([
        ['stale', 'device read 0x11, the CPU reads 0x22'],
        ['stale', 'device read 0x11, the CPU reads 0x22'],
        ['coherent', 'device read 0x22, the CPU reads 0x22'],
      ]);
      for (const m of ['gup', 'gup-longterm', 'hmm']) expect(at('MADV_DONTNEED, then a CPU write', m).records).toEqual([{ event: 'CLEAR', start: 0, end: 2 * PAGE, blockable: true }]);

      expect(cells('munmap of 1 page of 4')).toEqual([
        ['stale', 'device read 0x01 from a page the CPU no longer maps'],
        ['stale', 'device read 0x01 from a page the CPU no longer maps'],
        ['error', 'device access failed with EFAULT; the CPU no longer maps the page'],
      ]);
      for (const m of ['gup', 'gup-longterm', 'hmm']) expect(at('munmap of 1 page of 4', m).records).toEqual([{ event: 'UNMAP', start: PAGE, end: 2 * PAGE, blockable: true }]);

      // a writable HMM object refaults with HMM_PFN_REQ_WRITE on a read-only VMA
      expect(cells('mprotect(PROT_READ)').map(([o]) => o)).toEqual(['coherent', 'coherent', 'error']);
      expect(at('mprotect(PROT_READ)', 'hmm').detail).toBe('device access failed with EPERM; the CPU reads 0x02');
      // the read-only downgrade works where the kernel can say the update is read-only (6.1)
      expect(at('mprotect(PROT_READ), driver keeps read-only access', 'hmm').outcome).toBe(kernel === '6.1' ? 'coherent' : 'error');
      for (const e of ['mprotect(PROT_READ)', 'mprotect(PROT_READ), driver keeps read-only access'])
        for (const m of ['gup', 'gup-longterm', 'hmm']) expect(at(e, m).records).toEqual([{ event: 'PROTECTION_VMA', start: 0, end: 4 * PAGE, blockable: true }]);

      // FOLL_PIN pages are copied for the child at fork: pins stay coherent; HMM refaults
      expect(cells('fork, child writes, then parent writes')).toEqual(new Array(3).fill(['coherent', 'device read 0x32, the CPU reads 0x32']));
      for (const m of ['gup', 'gup-longterm', 'hmm']) expect(at('fork, child writes, then parent writes', m).records[0]).toEqual({ event: 'PROTECTION_PAGE', start: 0, end: PAGE, blockable: true });
    });
  }
});
