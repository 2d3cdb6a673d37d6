// The standalone suites (standalone-suites.ts) as they run in the guest: each
// case calls the same scenario functions the host-driven tests call over the
// agent (src/guest/mirrordrm/) and checks their outcome here, in the guest,
// against what test/guest/mirrordrm.test.ts asserts. Started from a shell:
//
//   node /mirrorlab/dist/guest/standalone-main.js [--lava] SUITE
//
// Prints the guest's machine information ("mirrorlab-machine:"), then one
// "mirrorlab-case:" line per case, each measured case's samples and their
// statistics on a "mirrorlab-samples:" line before it; with --lava it also records
// each case with lava-test-case (on PATH in a LAVA test shell).
import { spawnSync } from 'node:child_process';
import { MIRROR_MODES, type MirrorMode } from '../mirror/types.js';
import { machineInfo } from '../report/machine.js';
import { summarize } from '../stats/summary.js';
import { PAGE } from './common.js';
import { STANDALONE_SUITES, formatCaseLine, formatMachineLine, formatSamplesLine, lavaCaseName, type CaseLine } from './standalone-suites.js';

/** A case's verdict: the problems found (none: pass), or a measurement and the samples it summarizes. */
interface Verdict {
  problems: string[];
  measurement?: number;
  samples?: number[];
}

type Check = () => Promise<Verdict>;

const isGup = (m: MirrorMode): boolean => m !== 'hmm';

/** Collects "expected X, got Y" problems. */
function expectations() {
  const problems: string[] = [];
  const eq = (what: string, got: unknown, want: unknown): void => {
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  };
  return { problems, eq };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function mirrordrmChecks(): Promise<Record<string, Check>> {
  const sc = await import('./mirrordrm/index.js');
  const bench = await import('./mirrordrm-bench.js');
  // As the host-driven tests do: NUMA balancing rewrites protections in the
  // background and would add records to the exact-record cases.
  await sc.setNumaBalancing(0);
  const checks: Record<string, Check> = {
    'drm-probe': async () => {
      const { problems, eq } = expectations();
      const r = await sc.drmDevices();
      const ours = r.value.filter((d) => d.driver === 'mirrordrm');
      eq('mirrordrm nodes', ours.map((d) => d.path.replace(/\d+$/, '')), ['/dev/dri/card', '/dev/dri/renderD']);
      return { problems };
    },
  };
  for (const mode of MIRROR_MODES) {
    checks[`read-write@${mode}`] = async () => {
      const { problems, eq } = expectations();
      const r = await sc.readWrite(mode);
      eq('bytes read', r.length, 3 * PAGE);
      eq('mismatching bytes', r.mismatches, 0);
      eq('CPU bytes after the device write', r.cpu, [0xa5, 0xa5, r.expectNext]);
      eq('device accesses', r.stats.deviceAccesses, 2);
      eq('pages pinned', r.stats.pagesPinned, isGup(mode) ? 8 : 0);
      return { problems };
    };
    checks[`munmap-partial@${mode}`] = async () => {
      const { problems, eq } = expectations();
      const r = await sc.munmapPartial(mode);
      eq('records', r.records.map((x) => [x.event, x.relStart, x.relEnd, x.blockable]), [['UNMAP', PAGE, 2 * PAGE, true]]);
      eq('pages dropped', r.records[0]?.pagesDropped, 0);
      if (isGup(mode)) {
        // the pin is kept and marked stale: the device still reads the old page
        eq('kept stale', r.records[0]?.keptStale, true);
        eq('device read after munmap', r.after, { ok: true, value: [1] });
      } else {
        eq('device read after munmap', r.after.ok ? r.after : r.after.code, 'EFAULT');
      }
      return { problems };
    };
    checks[`misleading-pin@${mode}`] = async () => {
      const { problems, eq } = expectations();
      const r = await sc.misleadingPin(mode);
      eq('CPU byte', r.cpu, 0x22);
      eq('events', r.records.map((x) => x.event), ['CLEAR']);
      // gup keeps reading the page it pinned before MADV_DONTNEED, hmm refaults
      eq('device byte', r.device, isGup(mode) ? 0x11 : 0x22);
      return { problems };
    };
  }
  // Registration cost of a resident 2 MiB anonymous buffer: the median of 5
  // registrations per mode, modes interleaved (the guest/mirrordrm bench's rounds).
  let samples: Record<string, number[]> | null = null;
  const registration = async (): Promise<Record<string, number[]>> => {
    if (samples) return samples;
    const { id } = await bench.registrationOpen('anon', 2 << 20);
    try {
      samples = await bench.registrationRound(id, MIRROR_MODES, 5);
    } finally {
      await bench.registrationClose(id);
    }
    return samples;
  };
  for (const mode of MIRROR_MODES) {
    checks[`registration@${mode}`] = async () => {
      const s = (await registration())[mode] ?? [];
      const m = median(s);
      if (s.length !== 5 || !(m > 0)) return { problems: [`samples ${JSON.stringify(s)}`] };
      return { problems: [], measurement: Math.round(m * 10) / 10, samples: s };
    };
  }
  return checks;
}

const CHECKS: Record<string, () => Promise<Record<string, Check>>> = { mirrordrm: mirrordrmChecks };

/** Runs a suite's cases in order; each result goes to `report` as it is known. */
export async function runStandaloneSuite(name: string, report: (c: CaseLine) => void): Promise<CaseLine[]> {
  const suite = STANDALONE_SUITES[name];
  const make = CHECKS[name];
  if (!suite || !make) throw new Error(`unknown standalone suite ${JSON.stringify(name)} (suites: ${Object.keys(CHECKS).join(', ')})`);
  const checks = await make();
  const results: CaseLine[] = [];
  for (const id of suite.cases) {
    let line: CaseLine;
    try {
      const v = await checks[id]();
      for (const p of v.problems) console.error(`mirrorlab-case ${id}: ${p}`);
      line = { id, result: v.problems.length ? 'fail' : 'pass' };
      if (v.measurement !== undefined) Object.assign(line, { measurement: v.measurement, units: suite.units[id], ...(v.samples ? { samples: v.samples } : {}) });
    } catch (e) {
      console.error(`mirrorlab-case ${id}: ${(e as Error).stack ?? String(e)}`);
      line = { id, result: 'fail' };
    }
    results.push(line);
    report(line);
  }
  return results;
}

/** The command line: [--lava] SUITE. Exit 0 when every case passed, 1 otherwise, 2 for usage errors. */
export async function standaloneMain(argv: string[]): Promise<number> {
  const lava = argv[0] === '--lava';
  const args = lava ? argv.slice(1) : argv;
  if (args.length !== 1 || !STANDALONE_SUITES[args[0]]) {
    console.error(`usage: standalone-main.js [--lava] SUITE (suites: ${Object.keys(STANDALONE_SUITES).join(', ')})`);
    return 2;
  }
  // What the machine is, measured here in the guest: the LAVA log holds nothing else about it.
  console.log(formatMachineLine(machineInfo()));
  const results = await runStandaloneSuite(args[0], (c) => {
    if (c.samples) {
      const st = summarize(c.samples);
      console.log(formatSamplesLine({ id: c.id, units: c.units!, n: st.n, min: st.min, median: st.median, p99: st.p99, max: st.max, samples: c.samples }));
    }
    console.log(formatCaseLine(c));
    if (!lava) return;
    const extra = c.measurement !== undefined ? ['--measurement', String(c.measurement), '--units', c.units!] : [];
    const r = spawnSync('lava-test-case', [lavaCaseName(c.id), '--result', c.result, ...extra], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`lava-test-case ${c.id} failed (${r.status ?? r.error?.message})`);
  });
  return results.every((c) => c.result === 'pass') ? 0 : 1;
}
