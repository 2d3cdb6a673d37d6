// mirrorlab merge A.json B.json ... --out DIR [--name A.json=LABEL]...
import fs from 'node:fs';
import { ArgumentError } from '../errors.js';
import { mergeResults, type MergeInput } from './merge.js';
import type { Results } from './results.js';
import { validateResults } from './validate.js';
import { writeRun } from './write.js';

export const MERGE_USAGE = `usage: mirrorlab merge A.json B.json ... --out DIR [--name A.json=LABEL]...
  one results.json, results.ktap and report.html in DIR with the suites of
  every run, each labelled (default: the run's host name, or run1, run2, ...
  where host names repeat), and the ratio between runs of every measurement
  they share`;

export interface MergeArgs {
  files: string[];
  out: string;
  /** Labels by file, as given. */
  names: Map<string, string>;
}

export function parseMergeArgs(argv: string[]): MergeArgs | 'help' {
  const files: string[] = [];
  const names = new Map<string, string>();
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--out' || a === '--name') {
      const v = argv[++i];
      if (v === undefined) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `${a} needs a value`, a);
      if (a === '--out') out = v;
      else {
        const eq = v.lastIndexOf('=');
        if (eq <= 0 || eq === v.length - 1) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `--name ${v}: expected FILE=LABEL`, a);
        names.set(v.slice(0, eq), v.slice(eq + 1));
      }
    } else if (a.startsWith('-')) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `unknown option ${a}`, a);
    else files.push(a);
  }
  if (files.length < 2) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `at least two results files, got ${files.length}`);
  if (!out) throw new ArgumentError('ERR_INVALID_ARG_VALUE', '--out is required', '--out');
  for (const f of names.keys()) if (!files.includes(f)) throw new ArgumentError('ERR_INVALID_ARG_VALUE', `--name ${f}=...: ${f} is not one of the files`, '--name');
  return { files, out, names };
}

/** Reads and checks one results file; a message naming the file when it is not one. */
function readResults(file: string): Results {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const problems = validateResults(data);
  if (problems.length) throw new Error(`${file} is not a valid results file:\n  ${problems.slice(0, 10).join('\n  ')}`);
  return data as Results;
}

/** Labels: --name where given, else the host name, else run<N> where host names repeat. */
export function defaultLabels(files: string[], hostnames: string[], names: Map<string, string>): string[] {
  const clean = hostnames.map((h) => h.replace(/[^A-Za-z0-9._-]/g, '_'));
  return files.map((f, i) => names.get(f) ?? (clean[i] && clean.filter((h) => h === clean[i]).length === 1 ? clean[i] : `run${i + 1}`));
}

export function mergeCommand(argv: string[]): number {
  let args: MergeArgs | 'help';
  try {
    args = parseMergeArgs(argv);
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    console.error(`mirrorlab merge: ${e.message}\n${MERGE_USAGE}`);
    return 2;
  }
  if (args === 'help') {
    console.log(MERGE_USAGE);
    return 0;
  }
  let merged: Results;
  try {
    const runs = args.files.map(readResults);
    const labels = defaultLabels(args.files, runs.map((r) => r.machine.hostname ?? ''), args.names);
    const inputs: MergeInput[] = runs.map((results, i) => ({ label: labels[i], source: args.files[i], results }));
    merged = mergeResults(inputs, ['merge', ...argv]);
  } catch (e) {
    console.error(`mirrorlab merge: ${(e as Error).message}`);
    return 1;
  }
  const w = writeRun(merged, args.out);
  console.log(`${merged.runs!.map((r) => `${r.label} (${r.source})`).join(', ')}: ${merged.suites.length} suites, ${merged.machineComparisons!.length} ratios`);
  console.log(`wrote ${w.json}, ${w.ktap}, ${w.html}`);
  return 0;
}
