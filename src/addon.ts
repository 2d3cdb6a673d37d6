// Loads the native addon (build/Release/mirrorlab.node, found by node-gyp-build
// from the repository root).
import { createRequire } from 'node:module';
import { repoRoot } from './paths.js';

const require = createRequire(import.meta.url);

const load = require('node-gyp-build') as (dir: string) => unknown;

// The addon's exports are typed by the modules that wrap them; this is the raw object.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const native: any = load(repoRoot);
