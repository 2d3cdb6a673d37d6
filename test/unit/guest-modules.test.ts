// Each guest-module handle (src/guest/index.ts) carries its module's type and,
// separately, the path the agent in the guest imports: here the path is
// checked against the module, in src/ and in the compiled dist/ that the
// guests run (the same functions exported in both).
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { GUEST_MODULES } from '../../src/guest/index.js';

const root = path.resolve(__dirname, '../..');
const functionsOf = (mod: Record<string, unknown>): string[] => Object.keys(mod).filter((k) => typeof mod[k] === 'function').sort();
const distBuilt = fs.existsSync(path.join(root, 'dist/guest/index.js'));
if (!distBuilt) console.warn('guest module dist/ checks skipped: dist/ not built (npm run build:ts)');

describe('guest module handles', () => {
  for (const [name, handle] of Object.entries(GUEST_MODULES)) {
    it(`${name}: ${handle.path} is a module of src/guest/ that exports functions`, async () => {
      expect(handle.path).toMatch(/^guest\/.+\.js$/);
      const src = path.join(root, 'src', handle.path.replace(/\.js$/, '.ts'));
      expect(fs.existsSync(src), src).toBe(true);
      const mod = (await import(pathToFileURL(src).href)) as Record<string, unknown>;
      expect(functionsOf(mod).length).toBeGreaterThan(0);
    });

    it.skipIf(!distBuilt)(`${name}: dist/${handle.path} exports the same functions as its source`, async () => {
      const src = (await import(pathToFileURL(path.join(root, 'src', handle.path.replace(/\.js$/, '.ts'))).href)) as Record<string, unknown>;
      const dist = (await import(pathToFileURL(path.join(root, 'dist', handle.path)).href)) as Record<string, unknown>;
      expect(functionsOf(dist)).toEqual(functionsOf(src));
    });
  }
});
