// One command-line parser for every mirrorlab command.
//
// Each command declares its options, positional arguments and `--`
// passthrough in a CommandSpec beside its code; parseCommand() turns argv into
// typed values or throws a UsageError, and usageText() writes the command's
// --help from the same spec, so the options a command accepts and the ones its
// help lists cannot drift apart. commands.ts prints a UsageError as
// "mirrorlab <cmd>: <problem>" plus a hint and exits 2.

export type OptionType = 'string' | 'boolean' | 'integer' | 'number';

export interface OptionSpec {
  type: OptionType;
  /** One-letter alias, without the dash. */
  short?: string;
  /** May be given more than once; the values are collected in order. */
  multiple?: boolean;
  /** A comma-separated list (and repeatable): "--kernel 6.1,6.12 --kernel 7.2" gives three values. */
  list?: boolean;
  /** The only values accepted (strings), listed in the message for any other. */
  values?: readonly string[];
  /** A problem with one value (string options), as the message to print, or undefined when it is fine. */
  check?: (value: string) => string | undefined;
  /** Smallest value accepted (integer and number options). */
  min?: number;
  /** Whether `min` itself is refused (a timeout of 0 s makes no sense, a threshold of 0 does). */
  minExclusive?: boolean;
  default?: string | number | boolean;
  /** The value's name in the usage text: --pages N. */
  arg?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line under the usage line. */
  summary: string;
  options: Readonly<Record<string, OptionSpec>>;
  /** Positional arguments: their names for the usage line and how many are accepted. */
  positionals?: { names: string; min: number; max: number };
  /** The name of what follows `--` (vm: the guest command); without it `--` only ends the options. */
  passthrough?: string;
  /** Extra lines after the options (exit status, notes). */
  notes?: string;
}

/** A command line the command cannot run: exit status 2 and a pointer to --help. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

type Scalar<O extends OptionSpec> = O['type'] extends 'boolean' ? boolean : O['type'] extends 'integer' | 'number' ? number : string;
type Value<O extends OptionSpec> = O extends { multiple: true } | { list: true }
  ? Scalar<O>[]
  : O extends { type: 'boolean' } | { default: string | number | boolean }
    ? Scalar<O>
    : Scalar<O> | undefined;

export type OptionValues<S extends CommandSpec> = { -readonly [K in keyof S['options']]: Value<S['options'][K]> };

export interface Parsed<S extends CommandSpec> {
  values: OptionValues<S>;
  positionals: string[];
  /** What followed `--` (only for a spec with passthrough). */
  passthrough: string[];
}

/** Whether argv asks for help: -h or --help before any `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

const looksLikeOption = (a: string) => a.startsWith('-') && a !== '-' && !/^-\d/.test(a);

function convert(spec: CommandSpec, name: string, o: OptionSpec, raw: string): string | number {
  const fail = (problem: string): never => {
    throw new UsageError(spec.name, `--${name} ${problem}, got ${JSON.stringify(raw)}`);
  };
  if (o.type === 'integer' || o.type === 'number') {
    const n = raw.trim() === '' ? NaN : Number(raw);
    const kind = o.type === 'integer' ? 'an integer' : 'a number';
    const bound = o.min === undefined ? '' : ` ${o.minExclusive ? '>' : '>='} ${o.min}`;
    if (!Number.isFinite(n) || (o.type === 'integer' && !Number.isInteger(n))) fail(`must be ${kind}${bound}`);
    if (o.min !== undefined && (o.minExclusive ? n <= o.min : n < o.min)) fail(`must be ${kind}${bound}`);
    return n;
  }
  if (o.values && !o.values.includes(raw)) throw new UsageError(spec.name, `unknown --${name} ${JSON.stringify(raw)} (one of: ${o.values.join(', ')})`);
  const problem = o.check?.(raw);
  if (problem) throw new UsageError(spec.name, problem);
  return raw;
}

/** argv (after the command name) as typed values; a UsageError for anything the spec does not accept. */
export function parseCommand<S extends CommandSpec>(spec: S, argv: readonly string[]): Parsed<S> {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  let passthrough: string[] = [];
  const byShort = new Map(Object.entries(spec.options).flatMap(([n, o]) => (o.short ? [[o.short, n] as const] : [])));
  const usage = (problem: string) => new UsageError(spec.name, problem);

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      const rest = argv.slice(i + 1);
      if (spec.passthrough) passthrough = rest;
      else positionals.push(...rest);
      break;
    }
    if (!looksLikeOption(a)) {
      positionals.push(a);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      inline = eq < 0 ? undefined : a.slice(eq + 1);
    } else {
      name = a.length === 2 ? (byShort.get(a[1]) ?? a) : a;
    }
    const o = spec.options[name];
    if (!o) throw usage(`unknown option ${a.startsWith('--') ? `--${name}` : a}`);
    if (o.type === 'boolean') {
      if (inline !== undefined) throw usage(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || looksLikeOption(next) || next === '--') throw usage(`--${name} needs a value (--${name} ${o.arg ?? 'VALUE'})`);
      raw = next;
      i++;
    }
    const parts = o.list ? raw.split(',').map((s) => s.trim()).filter(Boolean) : [raw];
    if (!parts.length) throw usage(`--${name} needs a value (--${name} ${o.arg ?? 'VALUE'})`);
    const converted = parts.map((p) => convert(spec, name, o, p));
    if (o.multiple || o.list) values[name] = [...((values[name] as unknown[]) ?? []), ...converted];
    else if (name in values) throw usage(`--${name} given more than once`);
    else values[name] = converted[0];
  }

  for (const [name, o] of Object.entries(spec.options)) {
    if (name in values) continue;
    if (o.multiple || o.list) values[name] = [];
    else if (o.type === 'boolean') values[name] = o.default ?? false;
    else if (o.default !== undefined) values[name] = o.default;
  }

  const p = spec.positionals ?? { names: '', min: 0, max: 0 };
  if (positionals.length < p.min || positionals.length > p.max) {
    if (p.max === 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const want = p.min === p.max ? `${p.min}` : p.max === Infinity ? `at least ${p.min}` : `${p.min} to ${p.max}`;
    const one = (p.max === Infinity ? p.min : p.max) === 1;
    throw usage(`expected ${want} argument${one ? '' : 's'} (${p.names}), got ${positionals.length}`);
  }
  return { values: values as OptionValues<S>, positionals, passthrough };
}

/** The --help text of a command, from its spec. */
export function usageText(spec: CommandSpec): string {
  const head = [`usage: mirrorlab ${spec.name}`];
  if (Object.keys(spec.options).length) head.push('[options]');
  if (spec.positionals?.names) head.push(spec.positionals.names);
  if (spec.passthrough) head.push(`-- ${spec.passthrough}`);
  const rows: [string, string][] = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'boolean' ? '' : ` ${o.arg ?? 'VALUE'}`}`;
    const extra: string[] = [];
    if (o.values) extra.push(`one of ${o.values.join(', ')}`);
    if (o.list) extra.push('comma-separated, repeatable');
    else if (o.multiple) extra.push('repeatable');
    if (o.min !== undefined) extra.push(`${o.minExclusive ? '>' : '>='} ${o.min}`);
    if (o.default !== undefined && o.type !== 'boolean') extra.push(`default ${o.default}`);
    return [flag, `${o.help}${extra.length ? ` (${extra.join('; ')})` : ''}`];
  });
  rows.push(['-h, --help', 'this text']);
  const w = Math.max(...rows.map(([f]) => f.length));
  const out = [head.join(' '), `  ${spec.summary}`, '', 'options:', ...rows.map(([f, h]) => `  ${f.padEnd(w)}  ${h}`)];
  if (spec.notes) out.push('', spec.notes);
  return out.join('\n');
}
