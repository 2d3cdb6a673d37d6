// Every benchmark suite mirrorlab has, in the order `mirrorlab bench` runs them.
import type { Suite } from './suite.js';

export const SUITES: Suite[] = [];
