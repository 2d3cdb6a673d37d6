// A bug in the kernel's test_hmm module, found by mirrorlab fuzz and reduced
// to kernel-patches/test_hmm/devprivate_reread.c: after pages migrated to the
// device's private memory and an mprotect() invalidated the mirror (the pages
// stay on the device), HMM_DMIRROR_READ stores the device-private struct page
// that hmm_range_fault() returns in the mirror, and dmirror_do_read() copies
// from it: a page with no kernel mapping, an Oops. One guest with test_hmm.ko
// as the selftests build has it (the Oops, asserted line by line: the day a
// kernel fixes it, this case fails and says so), one with our patch
// (kernel-patches/test_hmm/*.patch, scripts/test-hmm-patched.sh): the device
// reads the bytes, no report. And a WARN any user of test_hmm can trigger:
// a device write of its own device-private pages after fork (hmm_range_fault
// returns them read-only although a write was asked).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTestHmm, selftestsArchive, selftestsBuild, type SelftestsBuild } from '../../src/selftests/run.js';
import { Vm } from '../../src/vm/vm.js';
import { DEFAULT_KERNELS, kernelSeries, type KernelSeries } from '../../src/vm/kernels.js';
import { guestSystem } from '../../src/guest/index.js';
import { repoRoot } from '../../src/paths.js';
import { caseId, caseOf } from './cases.js';
import { ensureGuestBuild, kernels, skipReason } from './helpers.js';

const REPRO_DIR = path.join(repoRoot, 'kernel-patches/test_hmm');
const GUEST_REPRO = '/tmp/devprivate_reread';
const STEPS = [
  '# migrate to device: 0, 16 of 16 pages',
  '# snapshot: 0, 16 of 16 pages device-private on this device',
  '# mprotect(PROT_READ) done; device read of the range',
];

function reproBinary(name = 'devprivate_reread'): Buffer {
  execFileSync('make', ['-s', '-C', REPRO_DIR, name]);
  return fs.readFileSync(path.join(REPRO_DIR, name));
}

async function guestWithTestHmm<T>(kernel: KernelSeries, build: SelftestsBuild, fn: (vm: Vm) => Promise<T>): Promise<T> {
  const vm = await Vm.boot({ kernel, extraInitrd: [selftestsArchive(kernel, build)] });
  try {
    await vm.call(guestSystem, 'installFile', GUEST_REPRO, reproBinary());
    return await fn(vm);
  } finally {
    // kill, not close: after the Oops a task sleeps on the dead holder's mutex for good
    await vm.kill();
  }
}

for (const kernel of kernels()) {
  const build = selftestsBuild(kernel);
  const reason =
    skipReason(kernel) ??
    ('missing' in build ? build.missing : build.manifest.testHmm !== true ? `test_hmm.ko not built for ${build.manifest.release}: ${build.manifest.testHmm}` : null);
  if (reason && !skipReason(kernel)) console.warn(`test_hmm device-private cases on ${kernel} skipped: ${reason}`);

  describe.skipIf(reason !== null)(`test_hmm device-private pages on ${kernel}`, () => {
    const hmm = build as SelftestsBuild;

    it(...caseOf(caseId('test-hmm-reread', 'shipped'), 'test_hmm as built from the kernel\'s source: a device read of its own device-private pages after mprotect() oopses in dmirror_do_read() (memcpy from a page with no kernel mapping)', { timeout: 600_000 }), async () => {
      await ensureGuestBuild([kernel]);
      await guestWithTestHmm(kernel, hmm, async (vm) => {
        expect(await loadTestHmm(vm, hmm)).toMatch(/^loaded/);
        const from = vm.log.mark;
        const { value: out, lines } = await vm.allowing([/./], async () => {
          // in the background: the task that oopses never comes back, and
          // the file's close at its exit then waits on the mutex it held
          await vm.exec('/bin/sh', ['-c', `${GUEST_REPRO} > /tmp/reread.out 2>&1 &`]);
          const t0 = Date.now();
          let text = '';
          while (Date.now() - t0 < 120_000) {
            text = (await vm.exec('cat', ['/tmp/reread.out'])).stdout;
            if (/---\[ end trace/.test(vm.log.since(from)) || /^(not )?ok 1 /m.test(text)) break;
            await new Promise((r) => setTimeout(r, 500));
          }
          return text;
        });
        const console_ = vm.log.since(from);
        console.log(`[${kernel}] test_hmm as shipped:\n${out}${console_.split('\n').filter((l) => /BUG:|RIP: 0010|dmirror_|Oops/.test(l)).join('\n')}`);
        for (const step of STEPS) expect(out).toContain(step);
        // it never got to print what the device read: the ioctl did not return
        expect(out).not.toContain('# device read:');
        expect(console_).toMatch(/BUG: unable to handle page fault for address: ffff[0-9a-f]+/);
        // a KASAN kernel faults first in the check of the copy's source (its shadow is unmapped too)
        expect(console_).toMatch(/RIP: 0010:(memcpy\w*|kasan_check_range)\+0x/);
        expect(console_).toMatch(/^\s*(\[\s*[\d.]+\]\s*)?dmirror_do_read\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_hmm\]$/m);
        expect(console_).toMatch(/dmirror_fops_unlocked_ioctl\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_hmm\]/);
        expect(lines.some((l) => /BUG: unable to handle page fault/.test(l))).toBe(true);
      });
    });

    it(...caseOf(caseId('test-hmm-reread', 'patched'), 'test_hmm with kernel-patches/test_hmm (the mirror maps the backing page of its own device-private page on fault): the device reads the 16 pages the CPU wrote, one device fault, no kernel report', { timeout: 600_000 }), async () => {
      await ensureGuestBuild([kernel]);
      const ko = execFileSync('bash', [path.join(repoRoot, 'scripts/test-hmm-patched.sh'), kernel], { encoding: 'utf8' }).trim().split('\n').pop()!;
      await guestWithTestHmm(kernel, hmm, async (vm) => {
        await vm.call(guestSystem, 'installFile', '/tmp/test_hmm.ko', fs.readFileSync(ko), 0o644);
        expect(await loadTestHmm(vm, hmm, '/tmp/test_hmm.ko')).toMatch(/^loaded/);
        const r = await vm.exec(GUEST_REPRO, [], { timeoutMs: 120_000 });
        console.log(`[${kernel}] test_hmm patched:\n${r.stdout}`);
        for (const step of STEPS) expect(r.stdout).toContain(step);
        expect(r.stdout).toContain('# device read: 0, 16 pages, 1 faults, 0 bytes wrong');
        expect(r.stdout).toContain('ok 1 device read after invalidation');
        expect(r.status).toBe(0);
        await vm.sync(); // a report would have failed the run here
      });
    });

    // hmm.h: "HMM_PFN_REQ_WRITE - The output must have HMM_PFN_WRITE or
    // hmm_range_fault() will fail". For a device-private page of the
    // caller's own owner, hmm_vma_handle_pte() (and, 7.x, the absent-PMD
    // path) reports the pfn as the entry has it and faults nothing, so a
    // page made read-only by fork comes back VALID without WRITE and the
    // call succeeds; test_hmm's WARN_ON, which trusts the contract, fires.
    it(...caseOf('test-hmm-cow-write', 'test_hmm: a device write of its own device-private pages after fork (copy-on-write, read-only entries) WARNs in dmirror_fault (hmm_range_fault returned them without HMM_PFN_WRITE though HMM_PFN_REQ_WRITE was asked) and fails with EFAULT; the CPU still sees its bytes', { timeout: 600_000 }), async () => {
      await ensureGuestBuild([kernel]);
      await guestWithTestHmm(kernel, hmm, async (vm) => {
        expect(await loadTestHmm(vm, hmm)).toMatch(/^loaded/);
        await vm.call(guestSystem, 'installFile', '/tmp/devprivate_cow_write', reproBinary('devprivate_cow_write'));
        const from = vm.log.mark;
        const { value: r, lines } = await vm.allowing([/WARNING: .*test_hmm\.c:\d+ .*dmirror_fault|RIP: 0010:dmirror_fault/], () => vm.exec('/tmp/devprivate_cow_write', [], { timeoutMs: 120_000 }));
        const console_ = vm.log.since(from);
        console.log(`[${kernel}] device write after fork:\n${r.stdout}${lines.join('\n')}`);
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('# migrate to device: 0, 16 of 16 pages');
        expect(r.stdout).toContain('# device write: -14 (Bad address), 0 pages, 0 faults');
        expect(r.stdout).toContain('# CPU reads 0x11');
        expect(console_).toMatch(/WARNING: (CPU: \d+ PID: \d+ at )?\S*test_hmm\.c:\d+ (at )?dmirror_fault\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_hmm\]/);
        expect(console_).toMatch(/dmirror_fops_unlocked_ioctl\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_hmm\]/);
      });
    });
  });
}

// The patch A/B of that finding: kernel-patches/series/hmm-devprivate-cow-write
// (mm/hmm.c faults a read-only own device-private entry when a write is
// asked) on our test kernel, against the same kernel without it. Without:
// the WARN and EFAULT above. With: the write faults the pages back to
// system memory, breaks the sharing, and the device writes its bytes.
{
  const latest = DEFAULT_KERNELS[DEFAULT_KERNELS.length - 1];
  const sides = [
    { kernel: kernelSeries(`${latest}-test`), variant: 'unpatched' },
    { kernel: kernelSeries(`${latest}-test+hmm-devprivate-cow-write`), variant: 'patched-hmm' },
  ];
  for (const { kernel, variant } of sides) {
    const build = selftestsBuild(kernel);
    const reason = skipReason(kernel) ?? ('missing' in build ? build.missing : null);
    describe.skipIf(reason !== null)(`test_hmm device write after fork, patch A/B, on ${kernel}`, () => {
      const hmm = build as SelftestsBuild;
      const patched = variant === 'patched-hmm';
      it(...caseOf(caseId('test-hmm-cow-write', variant), patched ? 'with mm/hmm.c patched: the device write of its own read-only device-private pages faults them for write (migrated back, sharing broken) and succeeds: 16 pages written, the CPU reads the device\'s bytes, no WARN' : 'our test kernel without the patch: the WARN in dmirror_fault and EFAULT, as on Debian\'s kernel', { timeout: 600_000, kernel }), async () => {
        await ensureGuestBuild([kernel]);
        await guestWithTestHmm(kernel, hmm, async (vm) => {
          expect(await loadTestHmm(vm, hmm)).toMatch(/^loaded/);
          await vm.call(guestSystem, 'installFile', '/tmp/devprivate_cow_write', reproBinary('devprivate_cow_write'));
          const from = vm.log.mark;
          const warn = /WARNING: .*test_hmm\.c:\d+ .*dmirror_fault|RIP: 0010:dmirror_fault/;
          const { value: r } = await vm.allowing(patched ? [] : [warn], () => vm.exec('/tmp/devprivate_cow_write', [], { timeoutMs: 120_000 }));
          const console_ = vm.log.since(from);
          console.log(`[${kernel}] device write after fork:\n${r.stdout}`);
          expect(r.status).toBe(0);
          expect(r.stdout).toContain('# migrate to device: 0, 16 of 16 pages');
          if (patched) {
            expect(r.stdout).toMatch(/^# device write: 0 \(done\), 16 pages, \d+ faults$/m);
            expect(r.stdout).toContain('# CPU reads 0x22');
            expect(r.stdout).toMatch(/^ok 1 device write after fork$/m);
            expect(console_).not.toMatch(/WARNING:/);
            await vm.sync();
          } else {
            expect(r.stdout).toContain('# device write: -14 (Bad address), 0 pages, 0 faults');
            expect(r.stdout).toContain('# CPU reads 0x11');
            expect(console_).toMatch(/dmirror_fault\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_hmm\]/);
          }
        });
      });
    });
  }
}
