// Settings a measurement changed are put back even when the process exits
// before the disposers run (a second Ctrl-C calls process.exit at once). The
// child runs the built package (dist/): `npm run build:ts` after changing src/.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';
import { hugePool, thpSettings } from '../../src/memory/index.js';

const dist = path.join(repoRoot, 'dist/memory/index.js');
const fresh = (f: string) => existsSync(path.join(repoRoot, 'dist', f.replace(/\.ts$/, '.js'))) && statSync(path.join(repoRoot, 'dist', f.replace(/\.ts$/, '.js'))).mtimeMs >= statSync(path.join(repoRoot, 'src', f)).mtimeMs;
const reason = process.getuid?.() !== 0 ? 'needs root to change kernel settings' : !['memory/hugetlb.ts', 'memory/thp.ts', 'memory/restore-on-exit.ts'].every(fresh) ? 'dist/ is older than src/: run npm run build:ts' : null;
if (reason) console.warn(`restore-on-exit tests skipped: ${reason}`);

/** Runs `body` in a child node that imports dist/memory as `m`, then exits with process.exit(130). */
function child(body: string): { status: number | null; out: Record<string, unknown> } {
  const src = `import * as m from ${JSON.stringify(pathToFileURL(dist).href)};\n${body}\nprocess.exit(130);\n`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', src], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 130) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return { status: r.status, out: JSON.parse(r.stdout.trim().split('\n').pop()!) };
}

describe.skipIf(reason !== null)('settings restored at process.exit', () => {
  it('a hugetlb pool grown by reserveHugePages goes back to its size', (ctx) => {
    const before = hugePool('2M');
    if (!before) return ctx.skip();
    const want = before.free - before.resv + 2; // more than is free: the pool must grow
    const r = child(`const r = m.reserveHugePages('2M', ${want}); console.log(JSON.stringify({ added: r.added, nr: m.hugePool('2M').nr }));`);
    expect(r.out.added).toBeGreaterThanOrEqual(2);
    expect(r.out.nr).toBe(before.nr + (r.out.added as number));
    expect(hugePool('2M')!.nr).toBe(before.nr);
  });

  it('shmem_enabled set by setShmemThp is written back', (ctx) => {
    const before = thpSettings().shmemEnabled;
    if (!before) return ctx.skip();
    const other = before === 'advise' ? 'never' : 'advise';
    const r = child(`m.setShmemThp(${JSON.stringify(other)}); console.log(JSON.stringify({ now: m.thpSettings().shmemEnabled }));`);
    expect(r.out.now).toBe(other);
    expect(thpSettings().shmemEnabled).toBe(before);
  });
});
