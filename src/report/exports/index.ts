// The exports of a results document for other tools: JUnit XML (GitLab,
// GitHub), KCIDB JSON (KernelCI), CSV (one row per measurement) and Markdown
// (tables per suite). `mirrorlab bench --export` writes them beside
// results.json; `mirrorlab export` converts an existing results.json.
import type { Results } from '../results.js';
import { toCsv } from './csv.js';
import { toJunit } from './junit.js';
import { toKcidb } from './kcidb.js';
import { toMarkdown } from './markdown.js';

export const EXPORT_FORMATS = ['junit', 'kcidb', 'csv', 'md'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The file name each format is written to, beside results.json. */
export const EXPORT_FILES: Record<ExportFormat, string> = {
  junit: 'results.junit.xml',
  kcidb: 'results.kcidb.json',
  csv: 'results.csv',
  md: 'results.md',
};

export const isExportFormat = (s: string): s is ExportFormat => (EXPORT_FORMATS as readonly string[]).includes(s);

export function exportResults(results: Results, format: ExportFormat): string {
  switch (format) {
    case 'junit':
      return toJunit(results);
    case 'kcidb':
      return JSON.stringify(toKcidb(results), null, 1) + '\n';
    case 'csv':
      return toCsv(results);
    case 'md':
      return toMarkdown(results);
  }
}

export { toCsv, toJunit, toKcidb, toMarkdown };
