// Reading what LAVA recorded: the job log that lava-run prints (and that
// lava-server keeps as output.yaml), one YAML flow mapping per line:
//   {"dt": "...", "lvl": "results", "msg": {"case": "read-write_gup", "definition": "0_mirrorlab-mirrordrm", "measurement": ! "431.4", "result": "pass", "units": "ns/page"}}
// lava-server's file puts "- " before each. Every scalar is double-quoted
// (some behind a "!" tag), so after dropping the tags a line reads as JSON.
export interface LavaLogLine {
  dt: string;
  lvl: string;
  msg: unknown;
}

export interface LavaTestCase {
  /** The test definition ("0_mirrorlab-mirrordrm"), or "lava" for LAVA's own actions. */
  definition: string;
  case: string;
  result: 'pass' | 'fail' | 'skip' | 'unknown';
  measurement?: number;
  units?: string;
}

/** One log line as data, or null when it is not a log record. */
export function parseLavaLogLine(line: string): LavaLogLine | null {
  const body = line.replace(/^- /, '').trim();
  if (!body.startsWith('{')) return null;
  // Tags before quoted scalars (! "285", !!float "1.5") go; YAML's \xNN
  // escape becomes JSON's \u00NN.
  const json = body.replace(/(^|[\s:[,])!!?[a-z]*\s+(?=")/g, '$1').replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1');
  try {
    const v = JSON.parse(json) as LavaLogLine;
    return v && typeof v.lvl === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function parseLavaLog(text: string): LavaLogLine[] {
  return text.split('\n').map(parseLavaLogLine).filter((l): l is LavaLogLine => l !== null);
}

/** The test cases LAVA recorded (every "results" record), in order. */
export function lavaTestCases(log: LavaLogLine[]): LavaTestCase[] {
  const out: LavaTestCase[] = [];
  for (const l of log) {
    if (l.lvl !== 'results') continue;
    const m = l.msg as Record<string, unknown>;
    const c: LavaTestCase = { definition: String(m.definition), case: String(m.case), result: m.result as LavaTestCase['result'] };
    if (m.measurement !== undefined) {
      c.measurement = Number(m.measurement);
      if (!Number.isFinite(c.measurement)) throw new Error(`LAVA result ${c.case}: measurement ${JSON.stringify(m.measurement)} is not a number`);
    }
    if (m.units !== undefined) c.units = String(m.units);
    out.push(c);
  }
  return out;
}

/**
 * A console line as the guest printed it. The dispatcher's ShellLogger
 * (lava_dispatcher/shell.py) writes every '"' of the console as '\"' (and
 * drops '\r' and ESC); it escapes nothing else, so every '\"' in a record
 * was a '"' on the console.
 */
export function unescapeTarget(msg: string): string {
  return msg.replace(/\\"/g, '"');
}

/** What the guest printed on the console ("target" records), line by line. */
export function lavaTargetText(log: LavaLogLine[]): string {
  return log.filter((l) => l.lvl === 'target' && typeof l.msg === 'string').map((l) => unescapeTarget(l.msg as string)).join('\n');
}
