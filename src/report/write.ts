// Writes a run's outputs into one directory: results.json (schema-checked
// before writing), results.ktap and report.html.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderHtml } from './html.js';
import { toKtap } from './ktap.js';
import type { Results } from './results.js';
import { validateResults } from './validate.js';

export interface WrittenRun {
  dir: string;
  json: string;
  ktap: string;
  html: string;
}

export function writeRun(results: Results, dir: string): WrittenRun {
  const problems = validateResults(JSON.parse(JSON.stringify(results)));
  if (problems.length) throw new Error(`results do not match the schema:\n  ${problems.join('\n  ')}`);
  mkdirSync(dir, { recursive: true });
  const out = { dir, json: path.join(dir, 'results.json'), ktap: path.join(dir, 'results.ktap'), html: path.join(dir, 'report.html') };
  writeFileSync(out.json, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(out.ktap, toKtap(results));
  writeFileSync(out.html, renderHtml(results));
  return out;
}
