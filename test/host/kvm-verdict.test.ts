// Whether guests use KVM: only where a KVM test boot of a Linux guest reached
// the agent on this host kernel and QEMU (cached), never because /dev/kvm
// merely exists. The decision is checked here against cached verdicts in a
// scratch cache; the boot that makes a verdict runs in the guest tests.
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kernelSeries } from '../../src/vm/kernels.js';
import { cachedKvmVerdict, probeKey } from '../../src/vm/kvm.js';
import { kvmUsable } from '../../src/vm/vm.js';

function kvmOpens(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

describe('KVM verdict', () => {
  const saved = process.env.MIRRORLAB_CACHE;
  let dir = '';
  afterEach(() => {
    if (saved === undefined) delete process.env.MIRRORLAB_CACHE;
    else process.env.MIRRORLAB_CACHE = saved;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const cacheWith = (rec: object | null): void => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-kvm-'));
    process.env.MIRRORLAB_CACHE = dir;
    if (rec) writeFileSync(path.join(dir, 'kvm-probe.json'), JSON.stringify(rec));
  };

  it('a cached verdict for this host kernel and QEMU decides, without a boot', async (ctx) => {
    if (!kvmOpens()) {
      console.warn('no usable /dev/kvm: kvmUsable() answers false before any verdict');
      cacheWith({ key: probeKey(), usable: true, detail: 'test', at: 'now' });
      expect(await kvmUsable(kernelSeries('6.12'))).toBe(false);
      return ctx.skip();
    }
    for (const usable of [true, false]) {
      cacheWith({ key: probeKey(), usable, detail: 'written by the test', at: '2026-12-01T00:00:00Z' });
      const statuses: string[] = [];
      expect(await kvmUsable(kernelSeries('6.12'), (m) => statuses.push(m))).toBe(usable);
      expect(statuses).toEqual([]); // no test boot was started
      expect(cachedKvmVerdict()).toMatchObject({ usable, detail: 'written by the test' });
    }
  });

  it('a verdict made for another kernel or QEMU does not count', () => {
    cacheWith({ key: `not-this-kernel | ${probeKey()}`, usable: true, detail: 'elsewhere', at: 'then' });
    expect(cachedKvmVerdict()).toBeNull();
    cacheWith(null);
    expect(cachedKvmVerdict()).toBeNull();
  });
});
