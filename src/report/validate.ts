// Validation of results files against results.schema.json (kept in src/ and
// read from there by both the TypeScript sources and the compiled dist/), plus
// what a JSON schema cannot say: numbers JSON cannot hold (NaN, Infinity: a
// library caller's object may carry them) and identities given twice (one
// suite on one kernel twice, one measurement with the same parameters twice
// in a suite), which would make compare and merge pick one at random.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from '../paths.js';

const require = createRequire(import.meta.url);
export const RESULTS_SCHEMA_PATH = path.join(repoRoot, 'src', 'report', 'results.schema.json');

type ValidateFn = ((data: unknown) => boolean) & { errors?: { instancePath: string; keyword: string; message?: string }[] | null };
let compiled: ValidateFn | null = null;

/** Returns the list of problems ("/suites/0/status: must be equal to one of ..."), empty when valid. */
export function validateResults(data: unknown): string[] {
  if (!compiled) {
    const Ajv = require('ajv') as new (opts: object) => { compile(schema: object): ValidateFn };
    const schema = JSON.parse(readFileSync(RESULTS_SCHEMA_PATH, 'utf8')) as object;
    compiled = new Ajv({ allErrors: true, strict: false }).compile(schema);
  }
  const nonFinite = nonFiniteNumbers(data).map(({ at, value }) => `${at}: ${value} is not a number a results file can hold`);
  if (!compiled(data)) {
    // An if/then rule's own 'must match "then" schema' only repeats the failure of the rule inside it.
    const schemaProblems = (compiled.errors ?? []).filter((e) => e.keyword !== 'if').map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`);
    return [...nonFinite, ...schemaProblems];
  }
  return [...nonFinite, ...duplicateIds(data as Shape)];
}

/** Every NaN, Infinity and -Infinity in a value, with its JSON pointer. */
export function nonFiniteNumbers(value: unknown, at = ''): { at: string; value: number }[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [] : [{ at: at || '/', value }];
  if (value === null || typeof value !== 'object') return [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  return entries.flatMap(([k, v]) => nonFiniteNumbers(v, `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
}

// Only the fields the duplicate check reads; the schema has checked their types.
interface Shape {
  suites: { id: string; kernel: string | null; label?: string; measurements: { id: string; params: Record<string, unknown> }[] }[];
}

/** A measurement's identity within its suite: its id and its parameters in name order. */
const measurementKey = (m: { id: string; params: Record<string, unknown> }) =>
  `${m.id}${JSON.stringify(Object.entries(m.params).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))}`;

function duplicateIds(data: Shape): string[] {
  const problems: string[] = [];
  const suites = new Map<string, number>();
  data.suites.forEach((s, i) => {
    // In a merged file the same suite comes from each run, told apart by its label.
    const key = JSON.stringify([s.label ?? null, s.id, s.kernel]);
    const first = suites.get(key);
    if (first !== undefined) problems.push(`/suites/${i}: duplicate suite ${s.id}${s.kernel ? ` on kernel ${s.kernel}` : ''}${s.label ? ` (run ${s.label})` : ''}, first at /suites/${first}`);
    else suites.set(key, i);
    const measurements = new Map<string, number>();
    s.measurements.forEach((m, j) => {
      const mk = measurementKey(m);
      const firstM = measurements.get(mk);
      if (firstM !== undefined) problems.push(`/suites/${i}/measurements/${j}: duplicate measurement ${m.id} with parameters ${JSON.stringify(m.params)}, first at /suites/${i}/measurements/${firstM}`);
      else measurements.set(mk, j);
    });
  });
  return problems;
}
