// KCIDB (KernelCI's common report database) JSON, schema version 5.3: a
// checkout and a build per kernel the run tested (Debian's packaged kernels
// for the guests, the host's own kernel for host suites), and under each
// build a test per suite, per check and per measurement. Every object's
// origin is "mirrorlab" and its id "mirrorlab:<run start>:...". Test paths
// are dotted, "mirrorlab.<suite id by '/'>[.check.<name>|.measurement.<id by '/'>]",
// each part reduced to the letters, digits, '_' and '-' KCIDB allows.
// Statuses: a check PASS/FAIL/SKIP; a suite PASS, FAIL (a check failed),
// SKIP, or ERROR (it failed or stopped before the end: the tested code's
// status is unknown); a measurement DONE with its median as `number` and
// the rest of its statistics in misc.
// tests: test/vendor/kcidb-io (KernelCI's own validator) checks the output.
import type { Results, SuiteResult } from '../results.js';
import { accelOf, kernelRelease, suiteName } from './common.js';

export const KCIDB_VERSION = { major: 5, minor: 3 } as const;
const ORIGIN = 'mirrorlab';

type Status = 'PASS' | 'FAIL' | 'ERROR' | 'SKIP' | 'DONE';

export interface KcidbTest {
  id: string;
  build_id: string;
  origin: string;
  path: string;
  status: Status;
  comment?: string;
  log_excerpt?: string;
  start_time?: string;
  duration?: number;
  number?: { value: number; unit: string };
  environment?: { comment: string; misc: Record<string, unknown> };
  misc?: Record<string, unknown>;
}

export interface Kcidb {
  version: typeof KCIDB_VERSION;
  checkouts: { id: string; origin: string; comment: string; start_time: string; valid: boolean; misc: Record<string, unknown> }[];
  builds: { id: string; checkout_id: string; origin: string; comment: string; architecture: string; start_time: string; status: Status; misc: Record<string, unknown> }[];
  tests: KcidbTest[];
}

/** One part of a KCIDB test path: runs of anything outside [A-Za-z0-9_-] become one '_'. */
export function pathPart(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || '_';
}

const suitePath = (s: SuiteResult) => ['mirrorlab', ...s.id.split('/').map(pathPart)].join('.');

function suiteStatus(s: SuiteResult): Status {
  if (s.status === 'failed' || s.status === 'incomplete') return 'ERROR';
  if (s.status === 'skipped') return 'SKIP';
  return s.checks.some((c) => c.status === 'fail') ? 'FAIL' : 'PASS';
}

export function toKcidb(r: Results): Kcidb {
  const run = `${ORIGIN}:${r.run.startedAt}`;
  const out: Kcidb = { version: KCIDB_VERSION, checkouts: [], builds: [], tests: [] };
  const builds = new Map<string, string>();
  const buildOf = (s: SuiteResult): string => {
    const release = kernelRelease(r, s);
    const known = builds.get(release);
    if (known) return known;
    const id = `${run}:${release}`;
    const what = s.guest ? `Debian's packaged kernel ${release}, run in QEMU guests` : `the host's kernel ${release}`;
    out.checkouts.push({ id, origin: ORIGIN, comment: what, start_time: r.run.startedAt, valid: true, misc: { kernel_release: release, series: s.kernel ?? null } });
    // Not built here: the build record says which kernel binary the tests ran on.
    out.builds.push({ id, checkout_id: id, origin: ORIGIN, comment: what, architecture: 'x86_64', start_time: r.run.startedAt, status: 'PASS', misc: { kernel_release: release, prebuilt: true } });
    builds.set(release, id);
    return id;
  };
  const environment = (s: SuiteResult) => ({
    comment: s.guest ? `QEMU ${accelOf(s)} guest on ${r.machine.hostname}` : `host ${r.machine.hostname}`,
    misc: { accel: accelOf(s), hostname: r.machine.hostname, cpu_model: r.machine.cpuModel, cores: r.machine.cores, memory_bytes: r.machine.memoryBytes },
  });
  for (const s of r.suites) {
    const build_id = buildOf(s);
    const base = `${run}:${suiteName(s)}`;
    const path = suitePath(s);
    out.tests.push({
      id: base,
      build_id,
      origin: ORIGIN,
      path,
      status: suiteStatus(s),
      comment: s.title,
      ...(s.reason ? { log_excerpt: s.reason } : {}),
      start_time: r.run.startedAt,
      duration: s.durationMs / 1000,
      environment: environment(s),
      misc: { suite: s.id, kernel: s.kernel, suite_status: s.status, mirrorlab_version: r.machine.mirrorlabVersion, git_commit: r.machine.gitCommit },
    });
    for (const c of s.checks)
      out.tests.push({
        id: `${base}:check:${c.name}`,
        build_id,
        origin: ORIGIN,
        path: `${path}.check.${pathPart(c.name)}`,
        status: c.status === 'pass' ? 'PASS' : c.status === 'fail' ? 'FAIL' : 'SKIP',
        comment: c.name,
        ...(c.reason ? { log_excerpt: c.reason } : {}),
        environment: environment(s),
      });
    for (const m of s.measurements)
      out.tests.push({
        id: `${base}:measurement:${m.id}`,
        build_id,
        origin: ORIGIN,
        path: `${path}.measurement.${m.id.split('/').map(pathPart).join('.')}`,
        status: 'DONE',
        comment: m.title,
        number: { value: m.warm.median, unit: m.unit },
        environment: environment(s),
        misc: {
          unit: m.unit,
          better: m.better,
          params: m.params,
          warm: m.warm,
          ...(m.cold ? { cold: m.cold } : {}),
          rounds: m.roundMedians.length,
          round_medians: m.roundMedians,
          stable: m.stable,
        },
      });
  }
  return out;
}
