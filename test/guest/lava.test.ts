// A mirrorlab job run end to end by LAVA's own dispatcher: `mirrorlab lava`
// writes the job and the qemu device file, lava-run deploys the kernel and
// the initramfs (appending its test overlay to the cpio), boots it with its
// qemu method, waits for our console shell and runs the standalone mirrordrm
// suite from the inline test definition. The test then reads what LAVA
// recorded and holds it against what the suite printed in the guest.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SUITES, lavaCaseName, parseCaseLines } from '../../src/guest/standalone-suites.js';
import { lavaTargetText, lavaTestCases, parseLavaLog } from '../../src/lava/log.js';
import { repoRoot } from '../../src/paths.js';
import { findOnPath, guestUnavailableReason, kernelSeries } from '../../src/vm/kernels.js';
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
    ensureGuestBuild([KERNEL]);
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
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
