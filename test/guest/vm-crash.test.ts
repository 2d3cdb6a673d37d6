// Crash detection, proven with the test-only mltrigger module (loaded nowhere
// else), and a guest that stops answering. No QEMU may survive either.
import { caseId, caseOf } from './cases.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureGuestBuild, kernels, ourQemuPids, processAlive, skipReason } from './helpers.js';
import { kernelConfig } from '../../src/vm/kernels.js';
import { Vm } from '../../src/vm/vm.js';
import { VmCrashError, VmTimeoutError } from '../../src/vm/crash.js';
import { selftest } from '../../src/guest/index.js';

const matrix = kernels();

/**
 * Runs a shell command that makes the guest kernel report a crash. The
 * command may return before the report reaches the host; the crash must then
 * fail whatever comes next, close() included. Resolves to that error, or null.
 */
async function trigger(vm: Vm, script: string): Promise<unknown> {
  return vm
    .exec('sh', ['-c', script])
    .then(() => vm.close())
    .then(
      () => null,
      (e: unknown) => e,
    );
}
beforeAll(() => ensureGuestBuild(matrix.filter((k) => !skipReason(k))), 600_000);

/**
 * The first line of mltrigger's WARN report. 6.1 and 6.12 print
 * "WARNING: CPU: 1 PID: 141 at <path>/mltrigger.c:68 mltrigger_write+0x.../0x... [mltrigger]";
 * 7.2 puts the location first and the task last:
 * "WARNING: mltrigger.c:68 at mltrigger_write+0x10b/0x170 [mltrigger], CPU#1: sh/141".
 */
function warnHeader(kernel: string): RegExp {
  return ['6.1', '6.12'].includes(kernel)
    ? /WARNING: CPU: \d+ PID: \d+ at .*mltrigger/
    : /WARNING: mltrigger\.c:\d+ at mltrigger_write\+0x[0-9a-f]+\/0x[0-9a-f]+ \[mltrigger\], CPU#\d+: sh\/\d+/;
}

describe.each(matrix)('kernel %s', (kernel) => {
  const reason = skipReason(kernel);

  it.skipIf(reason !== null)(...caseOf('crash@warn', 'catches a WARN raised by mltrigger and reports the console excerpt', { timeout: 180_000 }), async (ctx) => {
    const vm = await Vm.boot({ kernel, modules: ['mltrigger'] });
    try {
      const nodes = await vm.exec('sh', ['-c', 'ls -l /dev/mltrigger /sys/kernel/debug/mltrigger/trigger; cat /dev/mltrigger']);
      expect(nodes.status).toBe(0);
      expect(nodes.stdout).toMatch(/^crw------- .* \/dev\/mltrigger$/m);
      expect(nodes.stdout).toContain('/sys/kernel/debug/mltrigger/trigger');
      expect(nodes.stdout.trim().split('\n').pop()).toBe('0');
      expect(vm.error).toBeNull();

      const outcome = await trigger(vm, 'echo warn > /dev/mltrigger');
      expect(outcome).toBeInstanceOf(VmCrashError);
      const err = outcome as VmCrashError;
      expect(err.kind).toBe('warning');
      expect(err.kernel).toBe(kernel);
      expect(err.console).toContain('mltrigger: warning requested by user space (count 1)');
      expect(err.console).toMatch(warnHeader(kernel));
      expect(err.message).toContain('--- guest console ---');
      (ctx.task.meta as Record<string, unknown>).guestLog = err.console;
      await expect(vm.close()).rejects.toBe(err);
      await expect(vm.exec('true')).rejects.toBe(err);
      expect(processAlive(vm.pid!)).toBe(false);
    } finally {
      await vm.kill();
    }
    expect(ourQemuPids()).toEqual([]);
  });

  // The other kinds the detector knows, raised for real: an Oops from BUG()
  // (the writing task dies, the kernel carries on) and a hung task report.
  const raised = [
    { what: 'bug', setup: '', kind: 'bug', lines: [/kernel BUG at .*mltrigger\.c:\d+/, /mltrigger: BUG requested by user space/, /invalid opcode/] },
    { what: 'hang', setup: 'echo 1 > /proc/sys/kernel/hung_task_timeout_secs; ', kind: 'hung-task', lines: [/INFO: task sh:\d+ blocked for more than \d+ seconds?/, /mltrigger/] },
  ];
  for (const r of raised) {
    it.skipIf(reason !== null)(...caseOf(caseId('crash', r.kind), `catches ${r.kind === 'bug' ? 'an Oops (BUG) raised' : 'a hung task made'} by mltrigger (${r.what}) with the console excerpt`, { timeout: 180_000 }), async (ctx) => {
      // Debian's kernels have the hung task detector; x86_64's defconfig, which our builds start from, has not.
      if (r.kind === 'hung-task' && kernelConfig(kernel, 'CONFIG_DETECT_HUNG_TASK') !== 'y') ctx.skip(`${kernel} has no CONFIG_DETECT_HUNG_TASK: no hung task report to catch`);
      const vm = await Vm.boot({ kernel, modules: ['mltrigger'] });
      try {
        const outcome = await trigger(vm, `${r.setup}echo ${r.what} > /dev/mltrigger`);
        expect(outcome).toBeInstanceOf(VmCrashError);
        const err = outcome as VmCrashError;
        (ctx.task.meta as Record<string, unknown>).guestLog = err.console;
        expect(err.kind).toBe(r.kind);
        expect(err.kernel).toBe(kernel);
        for (const l of r.lines) expect(err.console).toMatch(l);
        await expect(vm.exec('true')).rejects.toBe(err);
      } finally {
        await vm.kill();
      }
      expect(ourQemuPids()).toEqual([]);
    });
  }

  it.skipIf(reason !== null)(...caseOf('crash-allowed', 'allowing() collects an expected crash line instead of failing; the same line outside it fails the run', { timeout: 180_000 }), async () => {
    const vm = await Vm.boot({ kernel, modules: ['mltrigger'] });
    try {
      const { lines } = await vm.allowing([warnHeader(kernel)], () => vm.exec('sh', ['-c', 'echo warn > /dev/mltrigger']));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(warnHeader(kernel));
      expect(vm.error).toBeNull();
      expect((await vm.exec('cat', ['/dev/mltrigger'])).stdout.trim()).toBe('1');
      const err = await trigger(vm, 'echo warn > /dev/mltrigger');
      expect(err).toBeInstanceOf(VmCrashError);
      expect((err as VmCrashError).kind).toBe('warning');
      expect((err as VmCrashError).console).toContain('(count 2)');
    } finally {
      await vm.kill();
    }
    expect(ourQemuPids()).toEqual([]);
  });

  it.skipIf(reason !== null)(...caseOf('call-timeout', 'kills a guest that stops answering after the timeout, leaving no QEMU', { timeout: 180_000 }), async () => {
    // 2 s: the call never answers, and a longer wait tests nothing more
    const vm = await Vm.boot({ kernel, callTimeoutMs: 2_000 });
    const pid = vm.pid!;
    expect(processAlive(pid)).toBe(true);
    const t0 = Date.now();
    const err = await vm.call(selftest, 'hang').catch((e: unknown) => e);
    const waited = Date.now() - t0;
    expect(err).toBeInstanceOf(VmTimeoutError);
    expect((err as Error).message).toMatch(/did not answer call within 2000 ms; killed/);
    expect(waited).toBeGreaterThanOrEqual(2_000);
    await expect(vm.close()).rejects.toBe(err);
    expect(vm.qemuExit?.signal).toBe('SIGKILL');
    expect(processAlive(pid)).toBe(false);
    expect(ourQemuPids()).toEqual([]);
  });
});
