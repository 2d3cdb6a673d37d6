// A mirrorlab job run end to end by LAVA's own dispatcher: `mirrorlab lava`
// writes the job and the qemu device file, lava-run deploys the kernel and
// the initramfs (appending its test overlay to the cpio), boots it with its
// qemu method, waits for our console shell and runs the standalone mirrordrm
// suite from the inline test definition. The test then reads what LAVA
// recorded and holds it against what the suite printed in the guest; then
// converts the log into a results file (src/lava/results.ts) and merges it,
// through the CLI, with an earlier job's log (test/fixtures/lava/).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SUITES, lavaCaseName, parseCaseLines, parseMachineLines, parseSamplesLines } from '../../src/guest/standalone-suites.js';
import { lavaTargetText, lavaTestCases, parseLavaLog } from '../../src/lava/log.js';
import { lavaResults } from '../../src/lava/results.js';
import { repoRoot } from '../../src/paths.js';
import type { Results } from '../../src/report/results.js';
import { validateResults } from '../../src/report/validate.js';
import { findOnPath, guestUnavailableReason, kernelInfo, kernelSeries } from '../../src/vm/kernels.js';
import { caseOf } from './cases.js';
import { ensureGuestBuild } from './helpers.js';

/** Runs a command to its end (killed after timeoutMs): exit status and output. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGTERM' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

const KERNEL = kernelSeries(process.env.MIRRORLAB_KERNEL?.split(',')[0] || '6.12');
const SUITE = 'mirrordrm';
const reason = !findOnPath('lava-run') ? 'lava-run not installed (lava-dispatcher; scripts/setup.sh installs it)' : guestUnavailableReason(KERNEL);
if (reason) console.warn(`lava test skipped: ${reason}`);

describe.skipIf(reason !== null)(`LAVA: ${SUITE} on ${KERNEL} through lava-run`, () => {
  const description = `lava-run deploys, boots and tests the ${SUITE} job of mirrorlab lava; LAVA records every case of the suite with the result and measurement the guest reported`;
  it(...caseOf('lava-run@mirrordrm', description, { timeout: 900_000, kernel: KERNEL }), async () => {
    await ensureGuestBuild([KERNEL]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-lava-'));
    try {
      const cli = path.join(repoRoot, 'dist/cli/main.js');
      const listing = execFileSync(process.execPath, [cli, 'lava', '--kernel', KERNEL, '--suite', SUITE, '--out', dir], { encoding: 'utf8' });
      const job = path.join(dir, `${SUITE}-${KERNEL}.yaml`);
      expect(listing).toContain(`job ${SUITE} on ${KERNEL}: ${job}`);
      // Asynchronously: a blocked event loop would starve vitest's worker RPC for the minute the job takes.
      const r = await run('lava-run', ['--job-id', String(process.pid), '--output-dir', path.join(dir, 'out'), '--device', path.join(dir, 'device-qemu.yaml'), job], 600_000);
      // lava-run writes its log (one record per line) to stderr.
      const log = parseLavaLog(r.stderr + r.stdout);
      const cases = lavaTestCases(log);
      const jobResult = cases.find((c) => c.definition === 'lava' && c.case === 'job');
      if (r.status !== 0 || jobResult?.result !== 'pass') console.log(r.stderr.split('\n').slice(-60).join('\n'));
      expect(r.status).toBe(0);
      expect(jobResult?.result).toBe('pass');
      expect(fs.readFileSync(path.join(dir, 'out/result.yaml'), 'utf8')).toMatch(/^result: pass$/m);
      // LAVA's own records of the deploy and the boot: our ramdisk went through its cpio overlay
      expect(log.some((l) => String(l.msg).startsWith("Modifying '") && String(l.msg).includes('initramfs.cpio'))).toBe(true);
      expect(lavaTargetText(log)).toMatch(/^mirrorlab-init: shell on the console at [\d.]+s$/m);

      // What the suite printed in the guest, case by case, in the suite's order.
      const reported = parseCaseLines(lavaTargetText(log));
      expect(reported.map((c) => c.id)).toEqual(STANDALONE_SUITES[SUITE].cases);
      for (const c of reported) expect(c, c.id).toMatchObject({ result: 'pass' });
      // ... and what LAVA made of it: the same names (escaped), results and measurements.
      const ours = cases.filter((c) => c.definition === `0_mirrorlab-${SUITE}`);
      expect(ours.map((c) => c.case)).toEqual(reported.map((c) => lavaCaseName(c.id)));
      expect(ours.map((c) => c.case)).toContain('read-write_gup-longterm');
      for (const [i, c] of ours.entries()) {
        const want = reported[i];
        expect(c.result, c.case).toBe(want.result);
        if (want.measurement === undefined) expect(c.measurement, c.case).toBeUndefined();
        else {
          expect(c.measurement, c.case).toBe(want.measurement);
          expect(c.units, c.case).toBe('ns/page');
          expect(c.measurement!, c.case).toBeGreaterThan(0);
        }
      }
      expect(ours.filter((c) => c.measurement !== undefined).map((c) => c.case)).toEqual(['registration_gup', 'registration_gup-longterm', 'registration_gup-get', 'registration_hmm']);

      // The log as a results file: the guest's machine line, the suite on
      // this kernel under TCG, each case a check, each measurement its samples.
      const text = lavaTargetText(log);
      const machineLines = parseMachineLines(text);
      expect(machineLines).toHaveLength(1);
      const results = lavaResults(r.stderr);
      expect(validateResults(results)).toEqual([]);
      expect(results.machine).toEqual(machineLines[0]);
      expect(results.machine).toMatchObject({ hostname: 'mirrorlab-guest', cores: 2, kernelRelease: kernelInfo(KERNEL).release, virtualization: { hypervisor: true } });
      // -m 2048, less what the kernel keeps for itself
      expect(results.machine.memoryBytes).toBeGreaterThan(1536 * 2 ** 20);
      expect(results.machine.memoryBytes).toBeLessThanOrEqual(2048 * 2 ** 20);
      const suite = results.suites[0];
      expect(results.suites).toHaveLength(1);
      expect(suite).toMatchObject({ id: `lava/${SUITE}`, kernel: KERNEL, guest: { release: kernelInfo(KERNEL).release, accel: 'tcg' }, status: 'complete' });
      expect(suite.checks).toEqual(reported.map((c) => ({ name: c.id, status: c.result })));
      const samples = parseSamplesLines(text);
      const measured = reported.filter((c) => c.measurement !== undefined);
      expect(samples.map((s) => s.id)).toEqual(measured.map((c) => c.id));
      expect(suite.measurements.map((m) => m.id)).toEqual(measured.map((c) => c.id));
      for (const [i, m] of suite.measurements.entries()) {
        expect(m.samples, m.id).toEqual(samples[i].samples);
        expect(m.warm, m.id).toMatchObject({ n: 5, min: samples[i].min, median: samples[i].median, p99: samples[i].p99, max: samples[i].max });
        expect(Math.round(m.warm.median * 10) / 10, m.id).toBe(measured[i].measurement);
        expect(m.unit, m.id).toBe('ns/page');
      }

      // ... merged through the CLI with an earlier job (the checked-in log): both labelled, a / b of the medians they share.
      const logFile = path.join(dir, 'lava-run.txt');
      fs.writeFileSync(logFile, r.stderr);
      const earlier = path.join(repoRoot, 'test/fixtures/lava/mirrordrm-6.12.lava-run.txt');
      const merged = path.join(dir, 'merged');
      const m = spawnSync(process.execPath, [cli, 'merge', logFile, earlier, '--out', merged, '--name', `${logFile}=now`, '--name', `${earlier}=earlier`], { encoding: 'utf8' });
      expect(m.stderr).toBe('');
      expect(m.status).toBe(0);
      const mr = JSON.parse(fs.readFileSync(path.join(merged, 'results.json'), 'utf8')) as Results;
      expect(validateResults(mr)).toEqual([]);
      expect(mr.suites.map((s) => [s.label, s.id, s.kernel])).toEqual([
        ['now', `lava/${SUITE}`, KERNEL],
        ['earlier', `lava/${SUITE}`, '6.12'],
      ]);
      const before = lavaResults(fs.readFileSync(earlier, 'utf8')).suites[0].measurements;
      // the earlier job ran on 6.12: the same suite and kernel only there
      const shared = KERNEL === '6.12' ? suite.measurements : [];
      expect(mr.machineComparisons!.map((c) => [c.measurement, c.a, c.b])).toEqual(shared.map((x) => [x.id, 'now', 'earlier']));
      for (const c of mr.machineComparisons!) {
        const now = suite.measurements.find((x) => x.id === c.measurement)!;
        expect(c.ratio.median, c.measurement).toBeCloseTo(now.warm.median / before.find((x) => x.id === c.measurement)!.warm.median, 12);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
