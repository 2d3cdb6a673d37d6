// Loads the native addon (build/Release/mirrorlab.node, found by node-gyp-build
// from the package root, which is one level above both src/ and dist/).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const load = require('node-gyp-build') as (dir: string) => unknown;

// The addon's exports are typed by the modules that wrap them; this is the raw object.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const native: any = load(packageRoot);
