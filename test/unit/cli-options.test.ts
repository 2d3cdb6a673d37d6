// The one command-line parser: typed values from a spec, every problem a UsageError.
import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError, usageText, wantsHelp, type CommandSpec } from '../../src/cli/options.js';

const spec = {
  name: 'demo',
  summary: 'A command to parse.',
  positionals: { names: 'A B', min: 0, max: 2 },
  passthrough: 'COMMAND',
  options: {
    json: { type: 'boolean', help: 'JSON' },
    pages: { type: 'integer', min: 1, default: 256, arg: 'N', help: 'pages' },
    ratio: { type: 'number', min: 0, help: 'a ratio' },
    timeout: { type: 'number', min: 0, minExclusive: true, help: 'seconds' },
    kernel: { type: 'string', list: true, check: (v) => (v === 'bad' ? `unknown kernel "${v}"` : undefined), help: 'kernels' },
    module: { type: 'string', multiple: true, help: 'modules' },
    format: { type: 'string', values: ['text', 'json'], default: 'text', help: 'format' },
    out: { type: 'string', short: 'o', arg: 'DIR', help: 'out' },
  },
} as const satisfies CommandSpec;

function problem(argv: string[]): string {
  try {
    parseCommand(spec, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).command).toBe('demo');
    return (e as Error).message;
  }
  throw new Error(`${argv.join(' ')}: accepted`);
}

describe('parseCommand', () => {
  it('gives typed values, defaults, lists and passthrough', () => {
    const p = parseCommand(spec, ['x', '--json', '--pages=8', '--ratio', '0', '--kernel', '6.1,6.12', '--kernel', '7.2', '--module', 'a', '--module', 'b', '-o', 'dir', 'y', '--', 'ls', '--help']);
    expect(p.values).toEqual({ json: true, pages: 8, ratio: 0, kernel: ['6.1', '6.12', '7.2'], module: ['a', 'b'], format: 'text', out: 'dir' });
    expect(p.positionals).toEqual(['x', 'y']);
    expect(p.passthrough).toEqual(['ls', '--help']);
    const none = parseCommand(spec, []);
    expect(none.values).toEqual({ json: false, pages: 256, kernel: [], module: [], format: 'text' });
    expect(none.values.ratio).toBeUndefined();
  });

  it('refuses bad numbers, naming the option and the value', () => {
    expect(problem(['--pages', 'abc'])).toBe('--pages must be an integer >= 1, got "abc"');
    expect(problem(['--pages', '0'])).toBe('--pages must be an integer >= 1, got "0"');
    expect(problem(['--pages', '-3'])).toBe('--pages must be an integer >= 1, got "-3"');
    expect(problem(['--pages', '1.5'])).toBe('--pages must be an integer >= 1, got "1.5"');
    expect(problem(['--pages='])).toBe('--pages must be an integer >= 1, got ""');
    expect(problem(['--ratio', '-0.1'])).toBe('--ratio must be a number >= 0, got "-0.1"');
    expect(problem(['--ratio', 'Infinity'])).toBe('--ratio must be a number >= 0, got "Infinity"');
    expect(problem(['--timeout', '0'])).toBe('--timeout must be a number > 0, got "0"');
  });

  it('refuses unknown options and values, missing values, repeats and extra arguments', () => {
    expect(problem(['--bogus'])).toBe('unknown option --bogus');
    expect(problem(['-x'])).toBe('unknown option -x');
    expect(problem(['--pages'])).toBe('--pages needs a value (--pages N)');
    expect(problem(['--out', '--json'])).toBe('--out needs a value (--out DIR)');
    expect(problem(['--json=yes'])).toBe('--json takes no value');
    expect(problem(['--format', 'xml'])).toBe('unknown --format "xml" (one of: text, json)');
    expect(problem(['--kernel', '6.1,bad'])).toBe('unknown kernel "bad"');
    expect(problem(['--out', 'a', '--out', 'b'])).toBe('--out given more than once');
    expect(problem(['a', 'b', 'c'])).toBe('expected 0 to 2 arguments (A B), got 3');
    const exact = { name: 'two', summary: '', positionals: { names: 'A.json B.json', min: 2, max: 2 }, options: {} } as const satisfies CommandSpec;
    expect(() => parseCommand(exact, ['a'])).toThrow('expected 2 arguments (A.json B.json), got 1');
    const none = { name: 'none', summary: '', options: {} } as const satisfies CommandSpec;
    expect(() => parseCommand(none, ['x'])).toThrow('unexpected argument "x"');
    // Without passthrough, `--` only ends the options.
    expect(parseCommand({ ...exact, passthrough: undefined }, ['--', '-a', '-b']).positionals).toEqual(['-a', '-b']);
  });

  it('--help and -h count before `--` only', () => {
    expect(wantsHelp(['--json', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--', 'ls', '--help'])).toBe(false);
  });

  it('usage text lists every option from the spec with its constraints', () => {
    const text = usageText(spec);
    expect(text.split('\n')[0]).toBe('usage: mirrorlab demo [options] A B -- COMMAND');
    expect(text).toMatch(/^ {2}--pages N +pages \(>= 1; default 256\)$/m);
    expect(text).toMatch(/^ {2}--kernel VALUE +kernels \(comma-separated, repeatable\)$/m);
    expect(text).toMatch(/^ {2}--format VALUE +format \(one of text, json; default text\)$/m);
    expect(text).toMatch(/^ {2}-o, --out DIR +out$/m);
    expect(text).toMatch(/^ {2}-h, --help +this text$/m);
  });
});
