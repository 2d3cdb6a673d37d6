// Every benchmark suite mirrorlab has, in the order `mirrorlab bench` runs them.
import type { Suite } from './suite.js';
import { hostFaultsSuite } from './suites/host-faults.js';
import { uffdRoundTripSuite } from './suites/uffd-roundtrip.js';
import { hostHugepagesSuite } from './suites/host-hugepages.js';
import { guestFakevramSuite } from './suites/guest-fakevram.js';
import { guestMirrordrmSuite } from './suites/guest-mirrordrm.js';
import { guestMirrordrmTwoPassSuite } from './suites/guest-mirrordrm-twopass.js';
import { guestMirrordrmSvmSuite } from './suites/guest-mirrordrm-svm.js';
import { guestSelftestsSuite } from './suites/guest-selftests.js';
import { guestDevmemSuite } from './suites/guest-devmem.js';
import { guestBehaviourSuite } from './suites/guest-behaviour.js';
import { guestGupTestSuite } from './suites/guest-gup-test.js';
import { gpuCudaSuite } from './suites/gpu-cuda.js';

export const SUITES: Suite[] = [
  hostFaultsSuite,
  uffdRoundTripSuite,
  hostHugepagesSuite,
  guestFakevramSuite,
  guestMirrordrmSuite,
  guestBehaviourSuite,
  guestDevmemSuite,
  guestMirrordrmTwoPassSuite,
  guestMirrordrmSvmSuite,
  guestSelftestsSuite,
  guestGupTestSuite,
  // Last: it needs an NVIDIA GPU and skips with the reason elsewhere.
  gpuCudaSuite,
];
