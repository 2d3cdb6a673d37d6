// Requests mirrordrm must refuse, sent past the TypeScript pre-checks so the
// kernel's own answer comes back: a device write through a READ_ONLY object is
// EACCES from DRM_IOCTL_MIRRORDRM_ACCESS, in every mode, on both kernels.
// The guest side is a node process importing the library by its package name
// (what a script in the guest does), so only the public API is used.
import { beforeAll, describe, expect, it } from 'vitest';
import { caseOf } from './cases.js';
import { MIRROR_MODES } from '../../src/index.js';
import { ensureGuestBuild, kernels, sharedVm, skipReason } from './helpers.js';

// Runs in the guest: for each mode, a read-only object over one written page,
// then a device write with and without the pre-check; prints one JSON line.
const GUEST_SCRIPT = `
import { Mapping, MockDrm } from 'mirrorlab';
const errorOf = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall };
  }
};
const result = {};
const dev = MockDrm.open(); // node 20 has no 'using' syntax: everything goes at exit
for (const mode of ${JSON.stringify(MIRROR_MODES)}) {
  const m = Mapping.anonymous(4096);
  m.view.fill(0x5a);
  const buf = await dev.userptr(m, { mode, readOnly: true, ...(mode === 'hmm' ? { populate: true } : {}) });
  const data = new Uint8Array(64).fill(0xee);
  result[mode] = {
    checked: await errorOf(() => buf.write(0, data)),
    unchecked: await errorOf(() => buf.write(0, data, { unchecked: true })),
    uncheckedSync: await errorOf(() => buf.writeSync(0, data, { unchecked: true })),
    badOption: await errorOf(() => buf.write(0, data, { uncheked: true })),
    cpuUnchanged: m.view.every((b) => b === 0x5a),
    deviceRead: (await buf.read(0, 64)).every((b) => b === 0x5a),
  };
}
console.log(JSON.stringify(result));
`;

for (const series of kernels()) {
  const reason = skipReason(series);
  describe.skipIf(reason !== null)(`mirrordrm refusals on ${series}`, () => {
    beforeAll(() => ensureGuestBuild([series]), 600_000);
    const guest = sharedVm(() => ({ kernel: series, modules: ['mirrordrm'] }));

    it(...caseOf('write-read-only-refused', 'a device write through a READ_ONLY object: refused in TypeScript, and with { unchecked: true } by the kernel with EACCES', { timeout: 180_000 }), async () => {
      const r = await guest.vm.exec('node', ['--input-type=module', '-e', GUEST_SCRIPT], { cwd: '/mirrorlab' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const byMode = JSON.parse(r.stdout);
      console.log(`[${series}] ${r.stdout.trim()}`);
      const kernelRefusal = { code: 'EACCES', errno: -13, syscall: 'ioctl(DRM_IOCTL_MIRRORDRM_ACCESS)' };
      for (const mode of MIRROR_MODES) {
        const m = byMode[mode];
        expect(m.checked).toEqual({ name: 'Error', code: 'ERR_INVALID_STATE' });
        expect(m.unchecked).toMatchObject(kernelRefusal);
        expect(m.uncheckedSync).toMatchObject(kernelRefusal);
        expect(m.badOption).toEqual({ name: 'Error', code: 'ERR_INVALID_ARG_VALUE' });
        expect(m.cpuUnchanged).toBe(true);
        expect(m.deviceRead).toBe(true);
      }
    });
  });
}
