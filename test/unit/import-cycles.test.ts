// No module of src/ imports itself back, statically or through import():
// a cycle makes load order matter and hides which layer owns what (vm.ts
// once imported kvm.ts for the KVM decision while kvm.ts imported vm.ts for
// its test boot).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../../src/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

it('src/ has no import cycle', () => {
  const src = path.join(repoRoot, 'src');
  const imports = new Map<string, string[]>();
  for (const f of sources(src)) {
    const specs = [...readFileSync(f, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]);
    imports.set(f, specs.map((s) => path.resolve(path.dirname(f), s).replace(/\.js$/, '.ts')));
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of imports.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push([...stack.slice(stack.indexOf(g)), g].map((x) => path.relative(src, x)).join(' -> '));
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of imports.keys()) if (!state.has(f)) visit(f);
  expect(imports.size).toBeGreaterThan(50);
  expect(cycles).toEqual([]);
});
