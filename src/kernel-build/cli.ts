// mirrorlab kernel build --series S [--flavour test|debug] [--patches NAME] [--check]
// mirrorlab kernel list
// Builds a guest kernel of our own (scripts/kernel-build.sh does the work:
// source package, fragments, patches, build root, cache) and names it as a
// kernel series the other commands take: 7.2-test, 7.2-debug, 7.2-test+NAME.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { repoRoot } from '../paths.js';
import { BUILD_FLAVOURS, KNOWN_KERNELS, cacheRoot, kernelSeries } from '../vm/kernels.js';

/** Where patch series live: kernel-patches/series/<NAME>/series. */
export const PATCH_SERIES_DIR = path.join(repoRoot, 'kernel-patches', 'series');

/** The patch series in the tree, by name. */
export function patchSeriesNames(): string[] {
  if (!fs.existsSync(PATCH_SERIES_DIR)) return [];
  return fs
    .readdirSync(PATCH_SERIES_DIR)
    .filter((n) => fs.existsSync(path.join(PATCH_SERIES_DIR, n, 'series')))
    .sort();
}

export const kernelSpec = {
  name: 'kernel',
  summary: 'Builds a guest kernel of our own from a series\' Debian source: a flavour (test: GUP_TEST; debug: KASAN, lockdep, DEBUG_VM, DEBUG_LIST, KCOV, kmemleak), optionally with a patch series; or lists the built ones.',
  positionals: { names: 'build|list', min: 1, max: 1 },
  options: {
    series: { type: 'string', arg: 'S', help: `the Debian series whose linux-source is built (${KNOWN_KERNELS})` },
    flavour: { type: 'string', values: BUILD_FLAVOURS, default: 'test', arg: 'F', help: 'kernel-patches/configs/<F>.config over guest.config' },
    patches: { type: 'string', arg: 'NAME', help: 'apply kernel-patches/series/NAME/ (its series file names the patches in order)' },
    check: { type: 'boolean', help: 'check everything and print whether it is built; build nothing' },
  },
  notes: `The result is a kernel for --kernel everywhere: SERIES-FLAVOUR, or SERIES-FLAVOUR+NAME with
--patches (SERIES+NAME is short for the test flavour). A second call with the same inputs
(source, fragments, patches, compiler) returns at once; a failed build leaves the cache as it was.
exit status: 0 built (or cached), 1 the build failed (the reason is printed), 2 a usage error.`,
} as const satisfies CommandSpec;

interface BuiltManifest {
  series: string;
  release: string;
  flavour: string;
  patches: string;
  buildSeconds: number;
  incrementalFrom: string | null;
  created: string;
}

function listBuilt(): number {
  const dir = path.join(cacheRoot(), 'kernels');
  const rows: string[] = [];
  for (const n of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    const f = path.join(dir, n, 'manifest.json');
    if (!fs.existsSync(path.join(dir, n, '.complete')) || !fs.existsSync(f)) continue;
    const m = JSON.parse(fs.readFileSync(f, 'utf8')) as Partial<BuiltManifest>;
    if (!m.flavour) continue; // a Debian kernel (scripts/kernels.sh)
    rows.push(`${n}  ${m.release}  built ${m.created} in ${Math.round((m.buildSeconds ?? 0) / 60)} min${m.incrementalFrom ? ` (incremental from ${m.incrementalFrom})` : ''}`);
  }
  console.log(rows.length ? rows.join('\n') : 'no kernels built (mirrorlab kernel build --series S --flavour test|debug)');
  console.log(`patch series: ${patchSeriesNames().join(', ') || '(none)'}`);
  return 0;
}

export function kernelCommand(argv: string[]): number {
  const { values, positionals } = parseCommand(kernelSpec, argv);
  const [action] = positionals;
  if (action === 'list') return listBuilt();
  if (action !== 'build') throw new UsageError('kernel', `unknown action ${JSON.stringify(action)} (build or list)`);
  if (!values.series) throw new UsageError('kernel', '--series is required (for example --series 7.2)');
  let series: string;
  try {
    series = kernelSeries(values.series);
  } catch (e) {
    throw new UsageError('kernel', (e as Error).message);
  }
  if (series.includes('-') || series.includes('+')) throw new UsageError('kernel', `--series names a Debian series (${KNOWN_KERNELS}), not a built kernel: ${values.series}`);
  if (values.patches !== undefined && !patchSeriesNames().includes(values.patches)) {
    throw new UsageError('kernel', `unknown patch series ${JSON.stringify(values.patches)} (in kernel-patches/series/: ${patchSeriesNames().join(', ') || 'none'})`);
  }
  const args = [...(values.check ? ['--check'] : []), series, values.flavour, ...(values.patches ? [values.patches] : [])];
  // Progress and errors go straight through; the script's last line is the result.
  const r = spawnSync(path.join(repoRoot, 'scripts', 'kernel-build.sh'), args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status === 2) return 2;
  if (r.status !== 0) return 1;
  const out = r.stdout.trim();
  if (values.check) {
    console.log(out.startsWith('/') ? `built: ${out}` : `not built (key ${out})`);
    return 0;
  }
  const name = path.basename(out);
  console.log(`${out}\nuse it as --kernel ${name}`);
  return 0;
}
