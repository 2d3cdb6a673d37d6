// mirrorlab merge A.json B.json ... --out DIR [--name A.json=LABEL]...
// Each input is a results.json or the log of a LAVA job written by `mirrorlab lava`
// (told apart by content: src/lava/results.ts converts the log).
import fs from 'node:fs';
import { outDirProblem } from '../cli/checks.js';
import { parseCommand, UsageError, type CommandSpec } from '../cli/options.js';
import { lavaResults, looksLikeLavaLog } from '../lava/results.js';
import { mergeResults, type MergeInput } from './merge.js';
import type { Results } from './results.js';
import { validateResults } from './validate.js';
import { writeRun } from './write.js';

export const mergeSpec = {
  name: 'merge',
  summary:
    "One results.json, results.ktap and report.html in DIR with the suites of every run, each labelled (default: the run's host name, or run1, run2, ... where host names repeat), and the ratio between runs of every measurement they share. A run is a results.json or a LAVA job log (lava-run's stderr or lava-server's output.yaml) of a job written by mirrorlab lava.",
  positionals: { names: 'A.json B.json ...', min: 2, max: Infinity },
  options: {
    out: { type: 'string', arg: 'DIR', check: outDirProblem, help: 'where the merged run goes (required)' },
    name: { type: 'string', multiple: true, arg: 'FILE=LABEL', help: 'the label of one input file' },
  },
  notes: 'exit status: 0 written, 1 an input unreadable, invalid, already merged or a LAVA log that is not one of our jobs, 2 a usage error.',
} as const satisfies CommandSpec;

export interface MergeArgs {
  files: string[];
  out: string;
  /** Labels by file, as given. */
  names: Map<string, string>;
}

export function parseMergeArgs(argv: string[]): MergeArgs {
  const { values, positionals: files } = parseCommand(mergeSpec, argv);
  const usage = (m: string) => new UsageError('merge', m);
  if (values.out === undefined) throw usage('--out is required');
  const names = new Map<string, string>();
  for (const v of values.name) {
    const eq = v.lastIndexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw usage(`--name ${v}: expected FILE=LABEL`);
    names.set(v.slice(0, eq), v.slice(eq + 1));
  }
  for (const f of names.keys()) if (!files.includes(f)) throw usage(`--name ${f}=...: ${f} is not one of the files`);
  return { files, out: values.out, names };
}

/** Reads and checks one results file or LAVA job log; a message naming the file when it is neither. */
function readResults(file: string): Results {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    // a missing input is a usage error, as for compare, validate and export
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError('merge', `no such file: ${file}`);
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (looksLikeLavaLog(text)) {
    try {
      return lavaResults(text);
    } catch (e) {
      throw new Error(`${file} (a LAVA job log): ${(e as Error).message}`);
    }
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: neither a results file nor a LAVA job log (${(e as Error).message})`);
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
  const args = parseMergeArgs(argv);
  let merged: Results;
  try {
    const runs = args.files.map(readResults);
    const labels = defaultLabels(args.files, runs.map((r) => r.machine.hostname ?? ''), args.names);
    const inputs: MergeInput[] = runs.map((results, i) => ({ label: labels[i], source: args.files[i], results }));
    merged = mergeResults(inputs, ['merge', ...argv]);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    console.error(`mirrorlab merge: ${(e as Error).message}`);
    return 1;
  }
  const w = writeRun(merged, args.out);
  console.log(`${merged.runs!.map((r) => `${r.label} (${r.source})`).join(', ')}: ${merged.suites.length} suites, ${merged.machineComparisons!.length} ratios`);
  console.log(`wrote ${w.json}, ${w.ktap}, ${w.html}`);
  return 0;
}
