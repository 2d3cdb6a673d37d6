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

interface Row {
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

/** KTAP allows anything but '#' and newlines in a name or a diagnostic line. */
const ktapText = (s: string): string => s.replace(/[#\n]/g, ' ');

/**
 * KTAP lines of one test: its description and errors as diagnostic lines
 * directly before its result line (as the KTAP spec asks), indented by `ind`.
 */
function caseLines(r: Row, n: number, ind: string): string[] {
  const lines: string[] = [];
  if (r.description) lines.push(`${ind}# ${r.id}: ${ktapText(r.description)}`);
  if (r.status === 'fail') for (const e of r.errors) for (const l of e.split('\n').slice(0, 60)) lines.push(`${ind}# ${l.replace(/\r/g, '')}`);
  const result = r.status === 'fail' ? 'not ok' : 'ok';
  const skip = r.status === 'skip' ? ` # SKIP${r.skipReason ? ` ${ktapText(r.skipReason)}` : ''}` : '';
  lines.push(`${ind}${result} ${n} ${ktapText(r.id)}${skip}`);
  return lines;
}

/**
 * The KTAP subtest of one test file: tests that ran on a kernel grouped in a
 * nested subtest per kernel ("kernel 6.12"), so that a case's id stays the
 * same across kernels; tests without a kernel directly in the file's subtest.
 */
export function ktapFileLines(file: string, rows: Row[], fileFailed: boolean): { lines: string[]; ok: boolean } {
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
  const lines = [`${ind}KTAP version 1`, `${ind}# Subtest: ${ktapText(file)}`, `${ind}1..${groups.length}`];
  let ok = !fileFailed;
  groups.forEach((g, gi) => {
    if (!('rows' in g)) {
      lines.push(...caseLines(g, gi + 1, ind));
      if (g.status === 'fail') ok = false;
      return;
    }
    const name = `kernel ${g.kernel}`;
    lines.push(`${ind}${ind}KTAP version 1`, `${ind}${ind}# Subtest: ${name}`, `${ind}${ind}1..${g.rows.length}`);
    g.rows.forEach((r, i) => lines.push(...caseLines(r, i + 1, ind + ind)));
    const groupOk = g.rows.every((r) => r.status !== 'fail');
    if (!groupOk) ok = false;
    lines.push(`${ind}${groupOk ? 'ok' : 'not ok'} ${gi + 1} ${name}`);
  });
  return { lines, ok };
}

export default class KtapReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const guest = modules.filter((m) => m.moduleId.includes(`${path.sep}test${path.sep}guest${path.sep}`));
    if (guest.length === 0) return;
    const rows: Row[] = [];
    const ktap: string[] = ['KTAP version 1', `1..${guest.length}`];
    guest.forEach((m, mi) => {
      const file = path.relative(process.cwd(), m.moduleId);
      const fileRows: Row[] = [];
      for (const t of m.children.allTests()) {
        const r = t.result();
        const meta = t.meta();
        fileRows.push({
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
      const { lines, ok } = ktapFileLines(file, fileRows, m.state() === 'failed');
      ktap.push(...lines, `${ok ? 'ok' : 'not ok'} ${mi + 1} ${ktapText(file)}`);
      rows.push(...fileRows);
    });
    const counts = { pass: 0, fail: 0, skip: 0 };
    for (const r of rows) counts[r.status]++;
    ktap.push(`# totals: pass:${counts.pass} fail:${counts.fail} skip:${counts.skip}`);
    const dir = process.env.MIRRORLAB_RESULTS || path.join(process.cwd(), 'results');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'guest.ktap'), ktap.join('\n') + '\n');
    fs.writeFileSync(
      path.join(dir, 'guest.json'),
      JSON.stringify({ version: 1, finished: new Date().toISOString(), totals: counts, tests: rows }, null, 2) + '\n',
    );
    console.log(`guest results: ${path.join(dir, 'guest.ktap')}, ${path.join(dir, 'guest.json')}`);
  }
}
