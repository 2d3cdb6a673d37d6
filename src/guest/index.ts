// Handles on the guest modules for Vm.call / Vm.callWith: each names a module
// of src/guest/ by its path under dist/ (what the agent in the guest imports)
// and carries its type, so a wrong function name, argument or result use
// fails tsc. Importing this file loads no guest code on the host.
// test/unit/guest-modules.test.ts checks each path against its module.
import { guestModule } from '../vm/guest-module.js';

/** The mirrordrm scenarios (test/guest/mirrordrm.test.ts). */
export const mirrordrmScenarios = guestModule<typeof import('./mirrordrm/index.js')>('guest/mirrordrm/index.js');

/** Rounds of the mirrordrm benchmark (the guest/mirrordrm suite, test/guest/mirrordrm-bench.test.ts). */
export const mirrordrmBench = guestModule<typeof import('./mirrordrm-bench.js')>('guest/mirrordrm-bench.js');

/** Device-private memory scenarios (test/guest/mirrordrm-devmem.test.ts). */
export const devmemScenarios = guestModule<typeof import('./devmem.js')>('guest/devmem.js');

/** Rounds of the device-memory benchmark (the guest/devmem suite). */
export const devmemBench = guestModule<typeof import('./devmem-bench.js')>('guest/devmem-bench.js');
/** Rounds of the two-pass notifier benchmark (the guest/mirrordrm-twopass suite). */
export const mirrordrmTwoPassBench = guestModule<typeof import('./mirrordrm-twopass-bench.js')>('guest/mirrordrm-twopass-bench.js');

/** fakevram steps and benchmark rounds (test/guest/fakevram.test.ts, the guest/fakevram suite). */
export const fakevramSteps = guestModule<typeof import('./fakevram.js')>('guest/fakevram.js');

/** Storms against mirrordrm (test/guest/storms.test.ts). */
export const stormScenarios = guestModule<typeof import('./storms.js')>('guest/storms.js');

/** The runner's own checks (test/guest/vm*.test.ts). */
export const selftest = guestModule<typeof import('./selftest.js')>('guest/selftest.js');

/** System steps any guest test may need: kernel release, installing a file. */
export const guestSystem = guestModule<typeof import('./system.js')>('guest/system.js');

/** Every handle, for the check that their paths name their modules. */
export const GUEST_MODULES = { mirrordrmScenarios, stormScenarios, devmemScenarios, devmemBench, mirrordrmBench, mirrordrmTwoPassBench, fakevramSteps, selftest, guestSystem } as const;
