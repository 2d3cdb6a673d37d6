// Results of the guest suite (test/guest/*) as KTAP and as a results JSON,
// written at the end of every vitest run that included guest files:
//   results/guest.ktap   KTAP version 1, one subtest block per test file
//   results/guest.json   per test: name, kernel, status, duration, errors, guest console excerpt
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
  name: string;
  kernel: string | null;
  status: 'pass' | 'fail' | 'skip';
  durationMs: number;
  errors: string[];
  guestLog: string | null;
}

export default class KtapReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const guest = modules.filter((m) => m.moduleId.includes(`${path.sep}test${path.sep}guest${path.sep}`));
    if (guest.length === 0) return;
    const rows: Row[] = [];
    const ktap: string[] = ['KTAP version 1', `1..${guest.length}`];
    guest.forEach((m, mi) => {
      const file = path.relative(process.cwd(), m.moduleId);
      const sub: string[] = [];
      let fileOk = true;
      let n = 0;
      for (const t of m.children.allTests()) {
        const r = t.result();
        const meta = t.meta() as { guestLog?: string; kernel?: string };
        const status = r.state === 'passed' ? 'pass' : r.state === 'failed' ? 'fail' : 'skip';
        const errors = (r.errors ?? []).map((e) => String(e.message ?? e));
        const kernel = kernelOfTest(t.fullName, meta.kernel);
        rows.push({
          file,
          name: t.fullName,
          kernel,
          status,
          durationMs: Math.round(t.diagnostic()?.duration ?? 0),
          errors,
          guestLog: meta.guestLog ?? null,
        });
        n++;
        const name = t.fullName.replace(/[#\n]/g, ' ');
        if (status === 'fail') {
          fileOk = false;
          sub.push(`    not ok ${n} ${name}`);
          for (const e of errors) for (const l of e.split('\n').slice(0, 60)) sub.push(`    # ${l}`);
        } else if (status === 'skip') {
          const note = r.state === 'skipped' && r.note ? ` ${r.note}` : '';
          sub.push(`    ok ${n} ${name} # SKIP${note}`);
        } else {
          sub.push(`    ok ${n} ${name}`);
        }
      }
      if (m.state() === 'failed') fileOk = false;
      ktap.push('    KTAP version 1', `    # Subtest: ${file}`, `    1..${n}`, ...sub);
      ktap.push(`${fileOk ? 'ok' : 'not ok'} ${mi + 1} ${file}`);
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
