// Suites that run inside a guest on their own, with no host driving them
// over the agent: what a lab's test shell (LAVA, src/lava/) starts on the
// console. Plain data, imported by the host (job definitions: which modules
// to load, which cases to expect) and by the guest runner (standalone.ts).
import { MIRROR_MODES } from '../mirror/types.js';

export interface StandaloneSuite {
  /** One line for job descriptions and docs. */
  description: string;
  /** Modules /init loads before the shell (mirrorlab.modules=). */
  modules: string[];
  /** Every case the suite reports, in order, as case ids ("read-write@gup"). */
  cases: string[];
  /** Units of the cases that carry a measurement, by case id. */
  units: Record<string, string>;
}

const perMode = (name: string): string[] => MIRROR_MODES.map((m) => `${name}@${m}`);

export const STANDALONE_SUITES: Readonly<Record<string, StandaloneSuite>> = {
  mirrordrm: {
    description: 'mirrordrm scenario checks (device reads, munmap, the misleading pin) and registration cost per mode',
    modules: ['mirrordrm'],
    cases: ['drm-probe', ...perMode('read-write'), ...perMode('munmap-partial'), ...perMode('misleading-pin'), ...perMode('registration')],
    units: Object.fromEntries(perMode('registration').map((c) => [c, 'ns/page'])),
  },
};

export const STANDALONE_SUITE_NAMES = Object.keys(STANDALONE_SUITES);

/**
 * A case id as a LAVA test case name: LAVA splits its result signal on
 * spaces and '=' and makes a directory of the name, and lava-server accepts
 * [A-Za-z0-9._-] only; anything else becomes '_' ("read-write@gup" is
 * "read-write_gup").
 */
export function lavaCaseName(caseId: string): string {
  return caseId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** One result line of the guest runner: "mirrorlab-case: <id> <pass|fail|skip> [<measurement> <units>]". */
export interface CaseLine {
  id: string;
  result: 'pass' | 'fail' | 'skip';
  measurement?: number;
  units?: string;
  /** Every sample behind the measurement (printed on their own line, see formatSamplesLine). */
  samples?: number[];
}

export const CASE_LINE_PREFIX = 'mirrorlab-case:';

export function formatCaseLine(c: CaseLine): string {
  const m = c.measurement !== undefined ? ` ${c.measurement} ${c.units}` : '';
  return `${CASE_LINE_PREFIX} ${c.id} ${c.result}${m}`;
}

/** The case lines in a console log (other lines ignored). */
export function parseCaseLines(text: string): CaseLine[] {
  const out: CaseLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^mirrorlab-case: (\S+) (pass|fail|skip)(?: (\S+) (\S+))?\s*$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    out.push({ id: m[1], result: m[2] as CaseLine['result'], ...(m[3] !== undefined ? { measurement: Number(m[3]), units: m[4] } : {}) });
  }
  return out;
}

/**
 * The machine the suite ran on, as the guest sees it (src/report/machine.ts
 * MachineInfo), printed once before the cases: "mirrorlab-machine: {json}".
 * A LAVA log holds nothing else about the machine (src/lava/results.ts).
 */
export const MACHINE_LINE_PREFIX = 'mirrorlab-machine:';

/**
 * The samples behind one case's measurement and their statistics, printed
 * before its case line: "mirrorlab-samples: {json}". LAVA keeps one number
 * per case (the median); this line keeps what it summarizes.
 */
export const SAMPLES_LINE_PREFIX = 'mirrorlab-samples:';

export interface SamplesLine {
  id: string;
  units: string;
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  samples: number[];
}

export function formatMachineLine(machine: object): string {
  return `${MACHINE_LINE_PREFIX} ${JSON.stringify(machine)}`;
}

export function formatSamplesLine(s: SamplesLine): string {
  return `${SAMPLES_LINE_PREFIX} ${JSON.stringify(s)}`;
}

/** The JSON after `prefix` on each line that starts with it (a console's \r dropped). */
function prefixedJson(text: string, prefix: string): unknown[] {
  const out: unknown[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.startsWith(`${prefix} `)) continue;
    try {
      out.push(JSON.parse(line.slice(prefix.length + 1)));
    } catch (e) {
      throw new Error(`${prefix} line is not JSON (${(e as Error).message}): ${line.slice(0, 200)}`);
    }
  }
  return out;
}

/** The machine lines in a console log (one per suite run). */
export function parseMachineLines(text: string): unknown[] {
  return prefixedJson(text, MACHINE_LINE_PREFIX);
}

/** The samples lines in a console log, checked for shape. */
export function parseSamplesLines(text: string): SamplesLine[] {
  return prefixedJson(text, SAMPLES_LINE_PREFIX).map((v) => {
    const s = v as SamplesLine;
    const numbers = ['n', 'min', 'median', 'p99', 'max'] as const;
    if (typeof s?.id !== 'string' || typeof s.units !== 'string' || numbers.some((k) => typeof s[k] !== 'number') || !Array.isArray(s.samples) || !s.samples.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`${SAMPLES_LINE_PREFIX} line without id, units, n/min/median/p99/max and finite samples: ${JSON.stringify(v).slice(0, 200)}`);
    }
    if (s.samples.length !== s.n) throw new Error(`${SAMPLES_LINE_PREFIX} ${s.id}: n=${s.n} but ${s.samples.length} samples`);
    return s;
  });
}
