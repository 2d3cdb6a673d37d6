// Every benchmark suite mirrorlab has, in the order `mirrorlab bench` runs them.
import type { Suite } from './suite.js';
import { hostHugepagesSuite } from './suites/host-hugepages.js';

export const SUITES: Suite[] = [
  hostHugepagesSuite,
];
