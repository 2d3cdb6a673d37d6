// Writes a run's outputs into one directory: results.json (schema-checked
// before writing), results.ktap and report.html, and the exports asked for
// (results.junit.xml, results.kcidb.json, results.csv, results.md).
//
// Every file is written atomically (src/atomic-file.ts): a reader, a crash
// or a full disk never leaves a half-written results.json, only the previous
// one. `mirrorlab bench` also writes results.json after every suite
// (writeResultsJson), marked incomplete, so a killed run keeps what it measured.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { EXPORT_FILES, exportResults, type ExportFormat } from './exports/index.js';
import { renderHtml } from './html.js';
import { toKtap } from './ktap.js';
import type { Results } from './results.js';
import { nonFiniteNumbers, validateResults } from './validate.js';

export interface WrittenRun {
  dir: string;
  json: string;
  ktap: string;
  html: string;
  /** The path of each export written. */
  exports: Partial<Record<ExportFormat, string>>;
}

/** results.json could not be written (disk full, read-only, ...): the message names the file, the previous one is intact. */
export class ResultsWriteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ResultsWriteError';
  }
}

/**
 * Results as they will be written: NaN is how the code says "no value" (the
 * figures of an empty summary) and is written as null, which the schema then
 * judges; Infinity has no JSON form and no meaning as a result, so it is
 * refused with the path that holds it.
 */
function serialise(results: Results): string {
  const infinite = nonFiniteNumbers(results).filter(({ value }) => !Number.isNaN(value));
  if (infinite.length) throw new Error(`results hold numbers JSON cannot: ${infinite.slice(0, 10).map(({ at, value }) => `${at} = ${value}`).join(', ')}`);
  const text = JSON.stringify(results, null, 1) + '\n';
  const problems = validateResults(JSON.parse(text));
  if (problems.length) throw new Error(`results do not match the schema:\n  ${problems.join('\n  ')}`);
  return text;
}

function atomically(file: string, text: string): void {
  try {
    writeFileAtomic(file, text);
  } catch (e) {
    throw new ResultsWriteError((e as Error).message, (e as NodeJS.ErrnoException).code);
  }
}

/** DIR/results.json alone, atomically: the incremental state of a run in progress. Returns its path. */
export function writeResultsJson(results: Results, dir: string): string {
  const text = serialise(results);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'results.json');
  atomically(file, text);
  return file;
}

export function writeRun(results: Results, dir: string, exports: readonly ExportFormat[] = []): WrittenRun {
  const out: WrittenRun = { dir, json: writeResultsJson(results, dir), ktap: path.join(dir, 'results.ktap'), html: path.join(dir, 'report.html'), exports: {} };
  atomically(out.ktap, toKtap(results));
  atomically(out.html, renderHtml(results));
  for (const format of exports) {
    const file = path.join(dir, EXPORT_FILES[format]);
    atomically(file, exportResults(results, format));
    out.exports[format] = file;
  }
  return out;
}
