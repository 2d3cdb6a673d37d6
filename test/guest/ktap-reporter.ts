// Results of the guest suite (test/guest/*) as KTAP and as a results JSON,
// written at the end of every vitest run that included guest files:
//   results/guest.ktap   KTAP version 1: one subtest per test file, in it one
//                        subtest per kernel; each case named by its stable id
//                        (test/guest/cases.ts) with its description in a
//                        diagnostic line before its result line
//   results/guest.json   per test: id, description, name, kernel, status,
//                        duration, errors, skip reason, guest console excerpt
// ($MIRRORLAB_RESULTS changes the directory.) The console excerpt is what the
// test helpers put in task.meta.guestLog: the guest console lines printed
// while that test ran (the crash report itself for a crash).
import fs from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { ktapDiagnostic, ktapName } from '../../src/report/ktap.js';
import { KERNEL_SERIES } from '../../src/vm/kernels.js';

/**
 * The kernel series a test ran on: what the guest helpers recorded
 * (task.meta.kernel), else a known series named in its top-level describe
 * ("mirrordrm on 6.12", "kernel 6.1"), else null (a host-side test).
 */
export function kernelOfTest(fullName: string, metaKernel?: string): string | null {
  if (metaKernel) return metaKernel;
  const top = fullName.split(' > ')[0];
  // longest first, and whole words only: "6.1" must not match "6.12"
  const series = [...KERNEL_SERIES].sort((a, b) => b.length - a.length);
  return series.find((k) => new RegExp(`(^|[^\\w.])${k.replace(/\./g, '\\.')}($|[^\\w.])`).test(top)) ?? null;
}

export interface Row {
  file: string;
  /** The stable case id: the test's own name. */
  id: string;
  description: string | null;
  /** The full vitest name (describe titles > id). */
  name: string;
  kernel: string | null;
  status: 'pass' | 'fail' | 'skip';
  durationMs: number;
  errors: string[];
  guestLog: string | null;
  /** Why it was skipped, where vitest knows. */
  skipReason: string | null;
}

/**
 * KTAP lines of one test: its description and errors as diagnostic lines
 * directly before its result line (as the KTAP spec asks), indented by `ind`.
 */
function caseLines(r: Row, n: number, ind: string): string[] {
  const diagnostics: string[] = [];
  if (r.description) diagnostics.push(...ktapDiagnostic(`${r.id}: ${r.description}`));
  if (r.status === 'fail') for (const e of r.errors) diagnostics.push(...ktapDiagnostic(e.split('\n').slice(0, 60).join('\n')));
  const result = r.status === 'fail' ? 'not ok' : 'ok';
  const skip = r.status === 'skip' ? ` # SKIP${r.skipReason ? ` ${ktapName(r.skipReason)}` : ''}` : '';
  return [...diagnostics, `${result} ${n} ${ktapName(r.id)}${skip}`].map((l) => `${ind}${l}`);
}

/**
 * The KTAP subtest of one test file: tests that ran on a kernel grouped in a
 * nested subtest per kernel ("kernel 6.12"), so that a case's id stays the
 * same across kernels; tests without a kernel directly in the file's subtest.
 * A file without tests is its result line alone (no empty block).
 */
export function ktapFileLines(file: string, rows: Row[], fileFailed: boolean, n = 1): { lines: string[]; ok: boolean } {
  const groups: (Row | { kernel: string; rows: Row[] })[] = [];
  for (const r of rows) {
    if (r.kernel === null) {
      groups.push(r);
      continue;
    }
    const g = groups.find((x): x is { kernel: string; rows: Row[] } => 'rows' in x && x.kernel === r.kernel);
    if (g) g.rows.push(r);
    else groups.push({ kernel: r.kernel, rows: [r] });
  }
  const ind = '    ';
  const name = ktapName(file);
  const lines = [`${ind}KTAP version 1`, `${ind}# Subtest: ${name}`, `${ind}1..${groups.length}`];
  let ok = !fileFailed;
  groups.forEach((g, gi) => {
    if (!('rows' in g)) {
      lines.push(...caseLines(g, gi + 1, ind));
      if (g.status === 'fail') ok = false;
      return;
    }
    const kernel = `kernel ${g.kernel}`;
    lines.push(`${ind}${ind}KTAP version 1`, `${ind}${ind}# Subtest: ${kernel}`, `${ind}${ind}1..${g.rows.length}`);
    g.rows.forEach((r, i) => lines.push(...caseLines(r, i + 1, ind + ind)));
    const groupOk = g.rows.every((r) => r.status !== 'fail');
    if (!groupOk) ok = false;
    lines.push(`${ind}${groupOk ? 'ok' : 'not ok'} ${gi + 1} ${kernel}`);
  });
  const result = `${ok ? 'ok' : 'not ok'} ${n} ${name}`;
  return { lines: groups.length ? [...lines, result] : [result], ok };
}

/** The whole guest KTAP document: a subtest per test file, then the totals as a diagnostic. */
export function guestKtap(files: { file: string; rows: Row[]; failed: boolean }[]): string {
  const ktap = ['KTAP version 1', `1..${files.length}`];
  files.forEach((f, i) => ktap.push(...ktapFileLines(f.file, f.rows, f.failed, i + 1).lines));
  const counts = { pass: 0, fail: 0, skip: 0 };
  for (const r of files.flatMap((f) => f.rows)) counts[r.status]++;
  ktap.push(`# totals: pass:${counts.pass} fail:${counts.fail} skip:${counts.skip}`);
  return ktap.join('\n') + '\n';
}

export default class KtapReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const guest = modules.filter((m) => m.moduleId.includes(`${path.sep}test${path.sep}guest${path.sep}`));
    if (guest.length === 0) return;
    const files = guest.map((m) => {
      const file = path.relative(process.cwd(), m.moduleId);
      const rows: Row[] = [];
      for (const t of m.children.allTests()) {
        const r = t.result();
        const meta = t.meta();
        rows.push({
          file,
          id: t.name,
          description: meta.description ?? null,
          name: t.fullName,
          kernel: kernelOfTest(t.fullName, meta.kernel),
          status: r.state === 'passed' ? 'pass' : r.state === 'failed' ? 'fail' : 'skip',
          durationMs: Math.round(t.diagnostic()?.duration ?? 0),
          errors: (r.errors ?? []).map((e) => String(e.message ?? e)),
          guestLog: meta.guestLog ?? null,
          skipReason: r.state === 'skipped' && r.note ? r.note : null,
        });
      }
      return { file, rows, failed: m.state() === 'failed' };
    });
    const rows = files.flatMap((f) => f.rows);
    const counts = { pass: 0, fail: 0, skip: 0 };
    for (const r of rows) counts[r.status]++;
    const dir = process.env.MIRRORLAB_RESULTS || path.join(process.cwd(), 'results');
    fs.mkdirSync(dir, { recursive: true });
    // Atomically: two test runs finishing together leave one whole file each, never a mix.
    writeFileAtomic(path.join(dir, 'guest.ktap'), guestKtap(files));
    writeFileAtomic(
      path.join(dir, 'guest.json'),
      JSON.stringify({ version: 1, finished: new Date().toISOString(), totals: counts, tests: rows }, null, 2) + '\n',
    );
    console.log(`guest results: ${path.join(dir, 'guest.ktap')}, ${path.join(dir, 'guest.json')}`);
  }
}
