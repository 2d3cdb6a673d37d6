// mirrordrm scenario in the guest: device mirrors of a userfaultfd-registered range.
import { MockDrm } from '../../mirror/mockdrm.js';
import { Userfaultfd } from '../../userfaultfd/index.js';
import { PAGE, mapAnon, unmapAll, attempt } from '../common.js';
import type { MirrorMode } from '../../mirror/types.js';

/**
 * userfaultfd MISSING range: GUP-mode registration faults the pages in and
 * blocks in the kernel until this script resolves each held fault (the
 * registration runs on the thread pool, so JavaScript is free to answer);
 * HMM-mode device access cannot wait on a userfault (hmm_range_fault faults
 * without FAULT_FLAG_ALLOW_RETRY) and fails with EFAULT.
 */
export async function userfaultfdMissing(mode: MirrorMode) {
  using dev = MockDrm.open();
  const r = mapAnon(2 * PAGE);
  // GUP's faults are not user-mode faults: they are only delivered without UFFD_USER_MODE_ONLY
  const uffd = Userfaultfd.open({ userModeOnly: false });
  try {
    uffd.register({ address: r.addr, length: r.length }, 'missing');
    if (mode === 'hmm') {
      using buf = await dev.userptr({ address: r.addr, length: r.length }, { mode });
      const access = await attempt(async () => Array.from(await buf.read(0, 1)));
      const fault = await attempt(() => uffd.nextEvent('pagefault', { timeoutMs: 500 }).then((f) => Number(f.address - r.addr)));
      return { access, fault, stats: buf.stats() };
    }
    let settled = false;
    const pending = dev.userptr({ address: r.addr, length: r.length }, { mode }).finally(() => (settled = true));
    pending.catch(() => undefined);
    const faults: { offset: number; write: boolean; heldWhileWaiting: boolean }[] = [];
    // registration may also fail without ever delivering a fault (6.1's FOLL_LONGTERM)
    const failed = pending.then(
      () => null,
      (e: { code?: string; errno?: number }) => ({ ok: false as const, code: String(e.code), errno: Number(e.errno) }),
    );
    for (let i = 0; i < 2; i++) {
      const first = await Promise.race([uffd.nextEvent('pagefault', { timeoutMs: 20_000 }), failed]);
      if (first === null) break;
      if (!('address' in first)) return { faults, registration: first };
      const f = first;
      await new Promise((res) => setTimeout(res, 50));
      faults.push({ offset: Number(f.address - r.addr), write: f.flags.write, heldWhileWaiting: !settled });
      f.copy(new Uint8Array(PAGE).fill(0x5a + i));
    }
    using buf = await pending;
    const device = Array.from(await buf.read(PAGE - 1, 2));
    return { faults, registration: { ok: true as const }, device, stats: buf.stats() };
  } finally {
    uffd.close();
    unmapAll(r);
  }
}
