// Validation of results files against results.schema.json (kept in src/ and
// read from there by both the TypeScript sources and the compiled dist/).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from '../paths.js';

const require = createRequire(import.meta.url);
export const RESULTS_SCHEMA_PATH = path.join(repoRoot, 'src', 'report', 'results.schema.json');

type ValidateFn = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };
let compiled: ValidateFn | null = null;

/** Returns the list of schema violations ("/suites/0/status: must be equal to one of ..."), empty when valid. */
export function validateResults(data: unknown): string[] {
  if (!compiled) {
    const Ajv = require('ajv') as new (opts: object) => { compile(schema: object): ValidateFn };
    const schema = JSON.parse(readFileSync(RESULTS_SCHEMA_PATH, 'utf8')) as object;
    compiled = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  if (compiled(data)) return [];
  return (compiled.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
}
