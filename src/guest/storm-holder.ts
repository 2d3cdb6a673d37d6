// A process that holds userfaults until it is killed, for the kill storm of
// src/guest/storms.ts (killHoldingFaults), which runs it as its own node
// process in the guest and SIGKILLs it. It pins 32 MiB through a GUP object
// and mirrors the same range with a populated HMM object, then registers a
// two-page range with userfaultfd (MISSING) and faults on it twice without
// ever resolving: a GUP object's creation (pin_user_pages_fast() on the
// thread pool, waiting in handle_userfault()) and a CPU read from a thread.
// Once both faults have arrived it prints one line, `held {json}`, and waits.
import { MockDrm } from '../mirror/mockdrm.js';
import { Userfaultfd, threadRead } from '../userfaultfd/index.js';
import { PAGE, mapAnon } from './common.js';

const PINNED = 32 * 1024 * 1024;

const dev = MockDrm.open();
const big = mapAnon(PINNED);
big.bytes.fill(0x5a);
const gup = await dev.userptr({ address: big.addr, length: PINNED }, { mode: 'gup' });
await dev.userptr({ address: big.addr, length: PINNED }, { mode: 'hmm', populate: true });

const held = mapAnon(2 * PAGE);
// GUP's faults are not user-mode faults: they are only delivered without UFFD_USER_MODE_ONLY
const uffd = Userfaultfd.open({ userModeOnly: false });
uffd.register({ address: held.addr, length: held.length }, 'missing');
let gupSettled = false;
let readSettled = false;
// both stay pending until the process dies: nobody resolves their faults
dev
  .userptr({ address: held.addr, length: PAGE }, { mode: 'gup' })
  .finally(() => (gupSettled = true))
  .catch(() => undefined);
threadRead({ address: held.addr + BigInt(PAGE), length: 1 })
  .finally(() => (readSettled = true))
  .catch(() => undefined);
const faults: number[] = [];
for (let i = 0; i < 2; i++) {
  const f = await uffd.nextEvent('pagefault', { timeoutMs: 60_000 });
  faults.push(Number(f.address - held.addr));
}
faults.sort((a, b) => a - b);
console.log(`held ${JSON.stringify({ pinnedPages: gup.stats().pagesPinned, faults, gupSettled, readSettled })}`);
// keeps the process (and its held faults) alive until the SIGKILL
setInterval(() => undefined, 1 << 30);
