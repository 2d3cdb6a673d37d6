// A LAVA job log of one of our jobs (src/lava/job.ts) as a results file, so
// `mirrorlab merge` can put a lab's jobs beside other runs. Everything comes
// from the log: LAVA's own records (the job's verdict, each test case's
// result, the download of artifacts/<series>/, the QEMU boot command) and
// what the standalone suite printed on the console (the guest's machine
// line, each measurement's samples, the problems behind a failed case).
import {
  STANDALONE_SUITES,
  lavaCaseName,
  parseMachineLines,
  parseSamplesLines,
  parseCaseLines,
  type SamplesLine,
} from '../guest/standalone-suites.js';
import type { MachineInfo } from '../report/machine.js';
import { RESULTS_SCHEMA_ID, RESULTS_VERSION, type Check, type Measurement, type Results, type SuiteResult } from '../report/results.js';
import { validateResults } from '../report/validate.js';
import { summarize } from '../stats/summary.js';
import { kernelSeries, type KernelSeries } from '../vm/kernels.js';
import { lavaTargetText, lavaTestCases, parseLavaLog, unescapeTarget, type LavaLogLine, type LavaTestCase } from './log.js';

/** Our test definitions are named "mirrorlab-<suite>"; LAVA puts "<index>_" before them. */
const DEFINITION = /^\d+_mirrorlab-(.+)$/;

/** LAVA's timestamps are UTC without a zone. */
const utc = (dt: string): string => (/[Z+]/.test(dt.slice(10)) ? dt : `${dt}Z`);

/** Which kernel series the job deployed: our jobs fetch artifacts/<series>/vmlinux (or vmlinuz). */
function deployedSeries(log: LavaLogLine[]): KernelSeries {
  for (const l of log) {
    const m = typeof l.msg === 'string' ? /^downloading \S*\/artifacts\/([^/\s]+)\/vmlinu[xz]$/.exec(l.msg) : null;
    if (m) return kernelSeries(m[1]);
  }
  throw new Error('no download of artifacts/<kernel>/vmlinux in the log: not a job written by mirrorlab lava');
}

/** KVM when the boot command asks for it, else TCG (the device's QEMU options are in LAVA's "Boot command" line). */
function accelOf(log: LavaLogLine[]): 'tcg' | 'kvm' {
  const boot = log.find((l) => typeof l.msg === 'string' && l.msg.startsWith('Boot command: '));
  return boot && /(-accel\s+kvm|accel=kvm|-enable-kvm)/.test(boot.msg as string) ? 'kvm' : 'tcg';
}

function machineOf(text: string): MachineInfo {
  const lines = parseMachineLines(text);
  if (lines.length !== 1) {
    throw new Error(
      lines.length ? `${lines.length} mirrorlab-machine lines in the log, expected one` : 'no mirrorlab-machine line in the log: the guest ran a standalone suite that does not print its machine',
    );
  }
  return lines[0] as MachineInfo;
}

/** One measured case: its samples as the guest printed them, checked against what LAVA recorded. */
function measurementOf(id: string, lava: LavaTestCase, samples: SamplesLine | undefined): Measurement {
  const unit = lava.units ?? samples?.units;
  if (!unit) throw new Error(`case ${id}: a measurement without units`);
  let values: number[];
  if (samples) {
    if (samples.units !== unit) throw new Error(`case ${id}: LAVA recorded ${unit}, the guest printed samples in ${samples.units}`);
    // The case's measurement is the samples' median to 0.1: a log whose two disagree was not written by one run.
    const median = summarize(samples.samples).median;
    if (Math.round(median * 10) / 10 !== lava.measurement) throw new Error(`case ${id}: LAVA recorded ${lava.measurement} ${unit}, the samples' median is ${median}`);
    values = samples.samples;
  } else {
    // Only LAVA's one number: reported as what it is, one value.
    values = [lava.measurement!];
  }
  const [name, mode] = id.split('@');
  const warm = summarize(values);
  return {
    id,
    title: samples ? `${name}${mode ? `, ${mode}` : ''} (${values.length} samples in one round)` : `${name}${mode ? `, ${mode}` : ''} (LAVA's measurement only)`,
    unit,
    better: 'lower',
    params: mode ? { mode } : {},
    // One round, no settling: the guest took its samples once, so nothing says they are stable.
    roundMedians: [warm.median],
    stable: false,
    tolerance: 0,
    warm,
    samples: values,
    samplesTotal: values.length,
  };
}

/** The problems a failed case printed on the console ("mirrorlab-case <id>: ..."). */
function problemsOf(text: string, id: string): string[] {
  const prefix = `mirrorlab-case ${id}: `;
  return text.split('\n').flatMap((l) => (l.startsWith(prefix) ? [l.slice(prefix.length).trim()] : []));
}

/**
 * The results of one job from its log (lava-run's stderr, or lava-server's
 * output.yaml). Throws when the log is not one of our jobs or contradicts
 * itself; the result is checked against the results schema.
 */
export function lavaResults(logText: string): Results {
  const log = parseLavaLog(logText);
  if (!log.length) throw new Error('no LAVA log records (lines like {"dt": ..., "lvl": ..., "msg": ...})');
  const cases = lavaTestCases(log);
  const definitions = [...new Set(cases.map((c) => c.definition).filter((d) => DEFINITION.test(d)))];
  // A job that recorded no case of ours still says which definition it started.
  const started = log.find((l) => l.lvl === 'target' && typeof l.msg === 'string' && /^<LAVA_SIGNAL_STARTRUN \d+_mirrorlab-\S+ /.test(l.msg));
  const definition = definitions[0] ?? (started ? (started.msg as string).split(' ')[1] : undefined);
  if (!definition) throw new Error('no mirrorlab test definition in the log (test cases of "<n>_mirrorlab-<suite>")');
  if (definitions.length > 1) throw new Error(`several mirrorlab test definitions in one job (${definitions.join(', ')}): not a job written by mirrorlab lava`);
  const suiteName = DEFINITION.exec(definition)![1];
  const suite = STANDALONE_SUITES[suiteName];
  if (!suite) throw new Error(`test definition ${definition}: unknown standalone suite ${JSON.stringify(suiteName)}`);

  const text = lavaTargetText(log);
  const machine = machineOf(text);
  const series = deployedSeries(log);
  const samples = new Map(parseSamplesLines(text).map((s) => [s.id, s]));
  const printed = new Map(parseCaseLines(text).map((c) => [c.id, c]));
  const recorded = new Map(cases.filter((c) => c.definition === definition).map((c) => [c.case, c]));

  const checks: Check[] = [];
  const measurements: Measurement[] = [];
  const missing: string[] = [];
  for (const id of suite.cases) {
    const lava = recorded.get(lavaCaseName(id));
    if (!lava) {
      missing.push(id);
      checks.push({ name: id, status: 'fail', reason: 'not recorded: the job ended before this case' });
      continue;
    }
    // LAVA's record is the verdict; the console line says the same or the log is not one run.
    const line = printed.get(id);
    if (line && line.result !== lava.result) throw new Error(`case ${id}: LAVA recorded ${lava.result}, the guest printed ${line.result}`);
    if (lava.result === 'pass' || lava.result === 'skip') checks.push({ name: id, status: lava.result });
    else {
      const problems = problemsOf(text, id);
      checks.push({ name: id, status: 'fail', reason: problems.length ? problems.join('; ') : `LAVA result ${lava.result}` });
    }
    if (lava.measurement !== undefined) measurements.push(measurementOf(id, lava, samples.get(id)));
  }

  const job = cases.find((c) => c.definition === 'lava' && c.case === 'job');
  const jobPassed = job?.result === 'pass';
  const signal = (kind: string) => log.find((l) => l.lvl === 'target' && typeof l.msg === 'string' && l.msg.startsWith(`<LAVA_SIGNAL_${kind} ${definition} `));
  const [start, end] = [signal('STARTRUN'), signal('ENDRUN')];
  const durationMs = start && end ? Math.max(0, Date.parse(utc(end.dt)) - Date.parse(utc(start.dt))) : 0;
  const status: SuiteResult['status'] = missing.length === suite.cases.length ? 'failed' : missing.length || !jobPassed ? 'incomplete' : 'complete';
  const reasons = [
    ...(missing.length ? [`${missing.length} of ${suite.cases.length} cases not recorded`] : []),
    ...(jobPassed ? [] : [`LAVA job result ${job?.result ?? 'missing'}`]),
  ];
  const result: SuiteResult = {
    id: `lava/${suiteName}`,
    title: `${suiteName} in a LAVA job: ${suite.description}`,
    environment: 'guest',
    kernel: series,
    guest: { release: machine.kernelRelease, accel: accelOf(log) },
    status,
    ...(reasons.length ? { reason: reasons.join('; ') } : {}),
    durationMs,
    measurements,
    comparisons: [],
    checks,
    plots: measurements.length > 1 ? [{ kind: 'bars', title: `${series}: ${suiteName} measurements in the LAVA job`, label: 'mode', measurements: measurements.map((m) => m.id) }] : [],
  };
  // The guest's command, as the test shell traced it.
  const command = log.find((l) => l.lvl === 'target' && typeof l.msg === 'string' && /^\+ \S*node \S*standalone-main\.js /.test(l.msg));
  const results: Results = {
    schema: RESULTS_SCHEMA_ID,
    version: RESULTS_VERSION,
    run: {
      startedAt: utc(log[0].dt),
      finishedAt: utc(log[log.length - 1].dt),
      complete: status === 'complete',
      argv: command ? unescapeTarget(command.msg as string).slice(2).split(/\s+/) : [],
      quick: false,
      filters: { suite: [suiteName], kernel: [series] },
    },
    machine,
    suites: [result],
    kernelComparisons: [],
  };
  const problems = validateResults(results);
  if (problems.length) throw new Error(`the job's results are not schema-valid (the machine line is the usual suspect):\n  ${problems.slice(0, 10).join('\n  ')}`);
  return results;
}

/** Whether a file's text is a LAVA job log (rather than a results.json): its first record parses as one. */
export function looksLikeLavaLog(text: string): boolean {
  return parseLavaLog(text.slice(0, 64 * 1024)).length > 0;
}
