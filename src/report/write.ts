// Writes a run's outputs into one directory: results.json (schema-checked
// before writing), results.ktap and report.html, and the exports asked for
// (results.junit.xml, results.kcidb.json, results.csv, results.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXPORT_FILES, exportResults, type ExportFormat } from './exports/index.js';
import { renderHtml } from './html.js';
import { toKtap } from './ktap.js';
import type { Results } from './results.js';
import { validateResults } from './validate.js';

export interface WrittenRun {
  dir: string;
  json: string;
  ktap: string;
  html: string;
  /** The path of each export written. */
  exports: Partial<Record<ExportFormat, string>>;
}

export function writeRun(results: Results, dir: string, exports: readonly ExportFormat[] = []): WrittenRun {
  const problems = validateResults(JSON.parse(JSON.stringify(results)));
  if (problems.length) throw new Error(`results do not match the schema:\n  ${problems.join('\n  ')}`);
  mkdirSync(dir, { recursive: true });
  const out: WrittenRun = { dir, json: path.join(dir, 'results.json'), ktap: path.join(dir, 'results.ktap'), html: path.join(dir, 'report.html'), exports: {} };
  writeFileSync(out.json, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(out.ktap, toKtap(results));
  writeFileSync(out.html, renderHtml(results));
  for (const format of exports) {
    const file = path.join(dir, EXPORT_FILES[format]);
    writeFileSync(file, exportResults(results, format));
    out.exports[format] = file;
  }
  return out;
}
