// Parsers for the output of the kernel's own selftests: KTAP/TAP as the
// kselftest library and harness print it (kselftest.h, kselftest_harness.h),
// the older uffd-unit-tests format ("Testing X... done"), the older
// khugepaged format ("Run test: X" then coloured step lines), and, for a
// suite that prints none of these, one case from its exit status.

/** What one kernel test case did (KSFT_XFAIL/XPASS kept apart: a known failure is not a pass). */
export type Outcome = 'pass' | 'fail' | 'skip' | 'xfail' | 'xpass';

export const OUTCOMES: readonly Outcome[] = ['pass', 'fail', 'skip', 'xfail', 'xpass'];

export interface CaseResult {
  /** The case's name as the suite prints it (nested cases: "parent/child"). */
  name: string;
  outcome: Outcome;
  /** The skip reason, XFAIL reason or failure diagnostic, where the suite printed one. */
  reason?: string;
}

export interface ParsedOutput {
  /** 'ktap': KTAP/TAP lines; 'uffd-unit', 'khugepaged': the older formats of those suites; 'none': none found. */
  format: 'ktap' | 'uffd-unit' | 'khugepaged' | 'none';
  cases: CaseResult[];
  /** The plan ("1..N") of the top level, null when none was printed. */
  plan: number | null;
  /** "1..0 # SKIP reason": the whole suite skipped itself. */
  skipAll?: string;
  /** "Bail out! ..." */
  bailOut?: string;
  /** "# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N" */
  totals?: Record<string, number>;
}

/** kselftest exit codes (kselftest.h). */
export const KSFT = { PASS: 0, FAIL: 1, XFAIL: 2, XPASS: 3, SKIP: 4 } as const;

const RESULT = /^(not ok|ok)\s+(\d+)\b\s*(.*)$/;
const PLAN = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/;

interface Frame {
  indent: number;
  cases: CaseResult[];
  /** The name from the last "# [RUN] name" comment (cow, gup_longterm print the name there). */
  runName: string | null;
  /** The last other comment after it: where newer library users print a skip or failure reason. */
  note: string | null;
  plan: number | null;
  /** A nested block's "# Subtest: name" line. */
  subtest: string | null;
}

/** Splits "name # DIRECTIVE reason" (the directive is optional: the harness writes "name #  diagnostic"). */
function splitDirective(rest: string): { description: string; directive: string | null; text: string } {
  const m = /(?:^|\s)#(?:\s|$)/.exec(rest);
  if (!m) return { description: rest.trim(), directive: null, text: '' };
  const description = rest.slice(0, m.index).trim();
  const after = rest.slice(m.index + m[0].length).trim();
  const d = /^(SKIP|XFAIL|XPASS|TODO|error)\b\s*(.*)$/i.exec(after);
  if (d) return { description, directive: d[1].toUpperCase(), text: d[2].trim() };
  return { description, directive: null, text: after };
}

function outcomeOf(ok: boolean, directive: string | null): Outcome {
  switch (directive) {
    case 'SKIP':
      return 'skip';
    case 'XFAIL':
      return 'xfail';
    case 'XPASS':
      return 'xpass';
    case 'ERROR':
      return 'fail';
    default:
      return ok ? 'pass' : 'fail';
  }
}

/**
 * Parses KTAP/TAP: results at any nesting depth (a deeper-indented block
 * belongs to the next result line of the enclosing level, whose name prefixes
 * its cases), SKIP/XFAIL/XPASS directives with their reasons, the harness's
 * failure diagnostics, "# [RUN] name" comments naming the next result (the
 * kselftest library prints only the result's message on its line), plans,
 * "Bail out!" and "# Totals". Returns null when no KTAP line is found.
 */
export function parseKtap(text: string): ParsedOutput | null {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (!lines.some((l) => RESULT.test(l.trim()) || /^\s*(K?TAP version \d+|1\.\.\d+)/.test(l))) return null;
  const out: ParsedOutput = { format: 'ktap', cases: [], plan: null };
  const stack: Frame[] = [{ indent: 0, cases: [], runName: null, note: null, plan: null, subtest: null }];
  const top = (): Frame => stack[stack.length - 1];
  const seen = new Map<string, number>();
  const unique = (name: string): string => {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    return n === 1 ? name : `${name} (${n})`;
  };

  for (const raw of lines) {
    if (!raw.trim()) continue;
    const indent = raw.length - raw.trimStart().length;
    const line = raw.trim();
    // A deeper line opens a nested block; the block closes at the result
    // line of the enclosing level, which names it.
    if (indent > top().indent && (RESULT.test(line) || /^(K?TAP version|1\.\.\d|# Subtest:)/.test(line))) {
      stack.push({ indent, cases: [], runName: null, note: null, plan: null, subtest: null });
    }
    while (stack.length > 1 && indent < top().indent) {
      // Leaving a block without its closing result line (a crash in the
      // middle): keep its cases under the name it announced.
      if (RESULT.test(line) && indent === stack[stack.length - 2].indent) break;
      const f = stack.pop()!;
      top().cases.push(...f.cases.map((c) => ({ ...c, name: `${f.subtest ?? '?'}/${c.name}` })));
    }
    const frame = top();
    let m: RegExpExecArray | null;
    if ((m = PLAN.exec(line))) {
      frame.plan = Number(m[1]);
      if (stack.length === 1) out.plan = frame.plan;
      const skip = /^SKIP\b\s*(.*)$/i.exec(m[2] ?? '');
      if (skip && frame.plan === 0 && stack.length === 1) out.skipAll = skip[1].trim() || 'skipped';
      continue;
    }
    if ((m = /^# Subtest:\s*(.*)$/.exec(line))) {
      frame.subtest = m[1].trim();
      continue;
    }
    if ((m = /^#\s*Totals:\s*(.*)$/.exec(line))) {
      if (stack.length === 1) out.totals = Object.fromEntries([...m[1].matchAll(/(\w+):(\d+)/g)].map((x) => [x[1], Number(x[2])]));
      continue;
    }
    if ((m = /^#\s*\[RUN\]\s*(.*)$/.exec(line))) {
      frame.runName = m[1].trim();
      frame.note = null;
      continue;
    }
    if (frame.runName && (m = /^#\s*(.*\S)\s*$/.exec(line))) {
      frame.note = m[1];
      continue;
    }
    if ((m = /^Bail out!\s*(.*)$/.exec(line))) {
      if (stack.length === 1) out.bailOut = m[1].trim() || 'bail out';
      continue;
    }
    if (!(m = RESULT.exec(line))) continue;
    const ok = m[1] === 'ok';
    const { description, directive, text: dtext } = splitDirective(m[3]);
    const outcome = outcomeOf(ok, directive);
    // The block just closed (one level deeper) belongs to this result.
    const child = stack.length > 1 && top().indent > indent ? stack.pop()! : null;
    const parent = top();
    let name = description;
    let reason = dtext;
    if (parent.runName) {
      // The library's result line carries a message ("No leak from parent
      // into child"), not the case name the [RUN] line printed; newer users
      // (log_test_result) repeat the name there and print the reason as a
      // comment line before it.
      if (reason === parent.runName) reason = '';
      if (description && description !== parent.runName && outcome !== 'skip') reason = reason ? `${description}: ${reason}` : description;
      else if (description && description !== parent.runName && !reason) reason = description;
      if (!reason && parent.note && outcome !== 'pass') reason = parent.note;
      name = parent.runName;
      parent.runName = null;
      parent.note = null;
    }
    // "ok 26 # SKIP wp-fork-pin on anon (reason)": a library user that
    // prints no description names the case in the directive's text.
    if (!name && reason) name = reason.replace(/\s*\([^()]*\)\s*$/, '');
    if (!name) name = `#${m[2]}`;
    if (child && child.cases.length) {
      const prefix = child.subtest ?? name;
      for (const c of child.cases) parent.cases.push({ ...c, name: `${prefix}/${c.name}` });
      continue;
    }
    const c: CaseResult = { name: unique(name), outcome };
    if (reason && outcome !== 'pass') c.reason = reason;
    parent.cases.push(c);
  }
  while (stack.length > 1) {
    const f = stack.pop()!;
    top().cases.push(...f.cases.map((c) => ({ ...c, name: `${f.subtest ?? '?'}/${c.name}` })));
  }
  out.cases = stack[0].cases;
  return out;
}

/**
 * The uffd-unit-tests format of 6.1/6.12 ("Testing NAME on MEM... done",
 * "skipped [reason: R]", "failed [reason: R]"), the result on the same line
 * or a later one. Returns null when no such line is found.
 */
export function parseUffdUnit(text: string): ParsedOutput | null {
  const cases: CaseResult[] = [];
  let pending: string | null = null;
  const settle = (rest: string): boolean => {
    if (pending === null) return false;
    let m: RegExpExecArray | null;
    if (/^done\b/.test(rest)) cases.push({ name: pending, outcome: 'pass' });
    else if ((m = /^skipped \[reason: (.*)\]\s*$/.exec(rest))) cases.push({ name: pending, outcome: 'skip', reason: m[1] });
    else if ((m = /^failed \[reason: (.*)\]\s*$/.exec(rest))) cases.push({ name: pending, outcome: 'fail', reason: m[1] });
    else return false;
    pending = null;
    return true;
  };
  let found = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    const m = /^Testing (.+?)\.\.\.\s*(.*)$/.exec(line);
    if (m) {
      found = true;
      pending = m[1];
      settle(m[2]);
      continue;
    }
    // The outcome word may follow the test's own messages on a later line.
    const tail = /(done|skipped \[reason: .*\]|failed \[reason: .*\])\s*$/.exec(line);
    if (tail) settle(tail[1]);
  }
  if (!found) return null;
  const summary = /Userfaults unit tests: pass=(\d+), skip=(\d+), fail=(\d+) \(total=(\d+)\)/.exec(text);
  const out: ParsedOutput = { format: 'uffd-unit', cases, plan: null };
  if (summary) out.totals = { pass: Number(summary[1]), skip: Number(summary[2]), fail: Number(summary[3]) };
  // A test that died before printing its outcome: the case is there, failed.
  if (pending !== null) cases.push({ name: pending, outcome: 'fail', reason: 'no outcome printed (the suite ended first)' });
  return out;
}

/**
 * The khugepaged format of 6.1/6.12: "Run test: NAME (CONTEXT)", then one
 * line per step, "MESSAGE... " and an outcome that success(), fail() and
 * skip() print in green, red and yellow ("OK", "Fail", "Skip"). A case fails
 * when one of its steps does, is skipped when a step is and none failed.
 * Progress lines rewritten with \r count by their last text. Returns null
 * when no "Run test:" line is found.
 */
export function parseKhugepaged(text: string): ParsedOutput | null {
  const cases: CaseResult[] = [];
  // last: the case's last line of text; ended: that line was a step's outcome.
  let current: { name: string; failed: string[]; skipped: string[]; last: string; ended: boolean } | null = null;
  const close = (): void => {
    if (current === null) return;
    const c = current;
    if (c.failed.length) cases.push({ name: c.name, outcome: 'fail', reason: `failed: ${c.failed.join('; ')}` });
    // A case whose output stops after text that is no step's outcome ended
    // in an exit() of the suite ("Failed to allocate huge page", a perror()).
    else if (!c.ended) cases.push({ name: c.name, outcome: 'fail', reason: `no outcome printed (the suite ended first)${c.last ? `; last output: ${c.last}` : ''}` });
    else if (c.skipped.length) cases.push({ name: c.name, outcome: 'skip', reason: `skipped: ${c.skipped.join('; ')}` });
    else cases.push({ name: c.name, outcome: 'pass' });
    current = null;
  };
  let found = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').split('\r').pop()!;
    const start = /^Run test: (\S+)/.exec(line.trim());
    if (start) {
      close();
      found = true;
      current = { name: start[1], failed: [], skipped: [], last: '', ended: false };
      continue;
    }
    if (current === null) continue;
    const text = line.replace(/\x1b\[[0-9;]*m/g, '').trim();
    if (!text) continue;
    current.last = text;
    const step = /^(.*?)\s*\x1b\[(3[123])m(.*?)\x1b\[0m\s*$/.exec(line);
    current.ended = step !== null;
    if (!step) continue;
    const what = `${step[1].replace(/\.+$/, '').trim()}: ${step[3]}`;
    if (step[2] === '31') current.failed.push(what);
    else if (step[2] === '33') current.skipped.push(what);
  }
  if (!found) return null;
  close();
  return { format: 'khugepaged', cases, plan: null };
}

/** KTAP where the suite printed it, else one of the older formats, else nothing. */
export function parseSuiteOutput(text: string): ParsedOutput {
  return parseKtap(text) ?? parseUffdUnit(text) ?? parseKhugepaged(text) ?? { format: 'none', cases: [], plan: null };
}

/**
 * One case from the exit status of a suite that printed no results: 0 pass,
 * 4 (KSFT_SKIP) skip, anything else fail. Not 2 and 3 as KSFT_XFAIL/XPASS:
 * the programs that print no KTAP use their own codes (6.1's khugepaged
 * exits with its number of failed tests).
 */
export function outcomeFromExit(status: number): Outcome {
  if (status === KSFT.PASS) return 'pass';
  if (status === KSFT.SKIP) return 'skip';
  return 'fail';
}

/** Counts per outcome. */
export function countOutcomes(cases: readonly CaseResult[]): Record<Outcome, number> {
  const n: Record<Outcome, number> = { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0 };
  for (const c of cases) n[c.outcome]++;
  return n;
}

/** How a suite's process ended in the guest. */
export interface SuiteExit {
  /** Exit status (128 + signal when killed, as a shell reports it). */
  status: number;
  /** The per-suite time limit ran out (the process was killed). */
  timedOut: boolean;
  /** The limit, for the message. */
  limitS: number;
  stdout: string;
  stderr: string;
}

/**
 * The cases of one suite run: those its output names, plus one failed case
 * named after the suite when the run itself went wrong (time limit, killed
 * by a signal, output ending before its plan, a bail-out before its plan);
 * a suite that prints no results at all is one case from its exit status.
 */
export function suiteCases(suite: string, exit: SuiteExit): { parsed: ParsedOutput; cases: CaseResult[] } {
  const parsed = parseSuiteOutput(exit.stdout);
  const cases = [...parsed.cases];
  const tail = (): string => {
    // Progress lines rewrite themselves with \r and colour with escapes: keep the text.
    const clean = `${exit.stdout}\n${exit.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').replace(/[^\n]*\r(?!\n)/g, '');
    return clean.trim().split('\n').filter((l) => l.trim()).slice(-8).join(' | ');
  };
  if (exit.timedOut) {
    cases.push({ name: suite, outcome: 'fail', reason: `${suite} did not finish within ${exit.limitS} s (killed); last output: ${tail()}` });
    return { parsed, cases };
  }
  if (parsed.skipAll !== undefined && cases.length === 0) {
    cases.push({ name: suite, outcome: 'skip', reason: parsed.skipAll });
    return { parsed, cases };
  }
  if (exit.status > 128) {
    cases.push({ name: suite, outcome: 'fail', reason: `${suite} was killed by signal ${exit.status - 128}; last output: ${tail()}` });
    return { parsed, cases };
  }
  if (parsed.format === 'none') {
    const outcome = outcomeFromExit(exit.status);
    const c: CaseResult = { name: suite, outcome };
    if (outcome !== 'pass') c.reason = `exit status ${exit.status}${tail() ? `; last output: ${tail()}` : ''}`;
    cases.push(c);
    return { parsed, cases };
  }
  if (parsed.plan !== null && parsed.cases.length < parsed.plan) {
    const why = parsed.bailOut ? `bail out: ${parsed.bailOut}` : `exit status ${exit.status}`;
    cases.push({ name: suite, outcome: 'fail', reason: `output ended after ${parsed.cases.length} of ${parsed.plan} planned cases (${why}); last output: ${tail()}` });
  } else if ((parsed.format === 'uffd-unit' || parsed.format === 'khugepaged') && exit.status !== KSFT.PASS && !cases.some((c) => c.outcome === 'fail')) {
    // uffd-unit-tests exits through err() on an unexpected error, khugepaged
    // through exit(EXIT_FAILURE) after a perror(), both after a case's first
    // line without an outcome (already a failed case) or between cases.
    cases.push({ name: suite, outcome: 'fail', reason: `exit status ${exit.status} with no failed case; last output: ${tail()}` });
  }
  return { parsed, cases };
}

/** One buffer size of hmm-tests' benchmark_thp_migration: mean ms per migration over its iterations. */
export interface ThpMigrationFigure {
  /** "Single THP Size (2MB)" */
  label: string;
  bytes: number;
  sysToDevMs: { thp: number; regular: number };
  devToSysMs: { thp: number; regular: number };
}

/**
 * The tables hmm-tests' benchmark_thp_migration prints (its own format, not
 * KTAP): "=== NAME (N MB) ===" then "Sys->Dev Migration | A ms | B ms | P%"
 * and "Dev->Sys Migration | ...", with THP first and 4 KiB pages second.
 */
export function parseThpMigration(text: string): ThpMigrationFigure[] {
  const out: ThpMigrationFigure[] = [];
  let cur: Partial<ThpMigrationFigure> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^#\s?/, '').trim();
    let m: RegExpExecArray | null;
    if ((m = /^=== (.+) \(([\d.]+) MB\) ===$/.exec(line))) {
      cur = { label: m[1], bytes: Math.round(Number(m[2]) * 1024 * 1024) };
      continue;
    }
    if (!cur) continue;
    if ((m = /^(Sys->Dev|Dev->Sys) Migration\s*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms/.exec(line))) {
      const v = { thp: Number(m[2]), regular: Number(m[3]) };
      if (m[1] === 'Sys->Dev') cur.sysToDevMs = v;
      else cur.devToSysMs = v;
      if (cur.sysToDevMs && cur.devToSysMs) {
        out.push(cur as ThpMigrationFigure);
        cur = null;
      }
    }
  }
  return out;
}

/**
 * The cases a kselftest harness binary lists with `-l`: fixed-width columns
 * FIXTURE, VARIANT, TEST, one block per fixture between dashed lines, where a
 * fixture's variants and tests are listed down their own columns. Returns
 * "fixture.variant.test" for every variant and test of each fixture, as `-r`
 * takes them ("fixture.test" for a fixture without variants).
 */
export function parseHarnessList(text: string): string[] {
  const names: string[] = [];
  let block: { fixture: string; variants: string[]; tests: string[] } | null = null;
  const flush = (): void => {
    if (!block?.fixture) return;
    for (const v of block.variants.length ? block.variants : ['']) {
      for (const t of block.tests) names.push(v ? `${block.fixture}.${v}.${t}` : `${block.fixture}.${t}`);
    }
  };
  for (const line of text.split('\n')) {
    if (/^-{20,}\s*$/.test(line)) {
      flush();
      block = { fixture: '', variants: [], tests: [] };
      continue;
    }
    if (!block || line.startsWith('#') || !line.trim()) continue;
    const col = (from: number, to?: number): string => line.slice(from, to).trim();
    if (col(0, 21)) block.fixture = col(0, 21);
    if (col(21, 47)) block.variants.push(col(21, 47));
    if (col(47)) block.tests.push(col(47));
  }
  flush();
  return names;
}
