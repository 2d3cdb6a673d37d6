// Loads the native addon (build/Release/mirrorlab.node, found by node-gyp-build
// from the package root, which is one level above both src/ and dist/).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { Native } from './native.js';

const require = createRequire(import.meta.url);
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const load = require('node-gyp-build') as (dir: string) => unknown;

// The one place where the addon's exports meet their types (src/native.ts);
// test/host/addon-exports.test.ts keeps the two in step.
export const native = load(packageRoot) as Native;
