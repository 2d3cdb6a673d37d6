// Every benchmark suite mirrorlab has, in the order `mirrorlab bench` runs them.
import type { Suite } from './suite.js';
import { guestFakevramSuite } from './suites/guest-fakevram.js';
import { guestMirrordrmSuite } from './suites/guest-mirrordrm.js';

export const SUITES: Suite[] = [
  guestFakevramSuite,
  guestMirrordrmSuite,
];
