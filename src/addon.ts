// Loads the native addon (build/Release/mirrorlab.node, found by node-gyp-build
// from the repository root).
import { createRequire } from 'node:module';
import { repoRoot } from './paths.js';
import type { Native } from './native.js';

const require = createRequire(import.meta.url);

const load = require('node-gyp-build') as (dir: string) => unknown;

// The one place where the addon's exports meet their types (src/native.ts);
// test/host/addon-exports.test.ts keeps the two in step.
export const native = load(repoRoot) as Native;
