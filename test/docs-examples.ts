// The code examples of README.md and docs/*.md, so that tests can run them
// (test/host/docs-examples.test.ts, test/guest/docs-examples.test.ts): an
// example that stops working fails the suite instead of misleading a reader.
//
// Every fenced block says what it is in its info string:
//   ```ts host      imported by the test process ('mirrorlab' is aliased to src/)
//   ```ts guest     compiled by TypeScript, run by node in a guest with mirrordrm and fakevram loaded
//   ```ts vm        host code that boots its own guest
//   ```sh run       a quick command line, run by bash in the repository root; exit status 0
//   ```<lang> not-runnable: <reason>
//   ```text         output or a transcript, not code
import fs from 'node:fs';
import path from 'node:path';
import { vi } from 'vitest';

export const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

export type ExampleKind = 'host' | 'guest' | 'vm' | 'run' | 'not-runnable' | 'text';

export interface Example {
  /** README.md or docs/x.md */
  file: string;
  /** Line of the opening fence (1-based). */
  line: number;
  lang: string;
  kind: ExampleKind;
  /** Why a not-runnable block is not run. */
  reason?: string;
  code: string;
}

const CODE_LANGS = ['ts', 'js', 'sh'];

export function docFiles(): string[] {
  const docs = fs.readdirSync(path.join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** Every fenced block of a Markdown file; throws on a block that does not say how it runs. */
export function extractExamples(file: string): Example[] {
  const lines = fs.readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const info = open[1].trim();
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: the fence is never closed`);
    const where = `${file}:${start + 1}`;
    const [lang = '', ...rest] = info.split(/\s+/);
    const tail = rest.join(' ');
    let kind: ExampleKind;
    let reason: string | undefined;
    if (lang === 'text') kind = 'text';
    else if (!CODE_LANGS.includes(lang)) throw new Error(`${where}: fence info '${info}' must start with ${[...CODE_LANGS, 'text'].join(', ')}`);
    else if (/^not-runnable:\s*\S/.test(tail)) {
      kind = 'not-runnable';
      reason = tail.replace(/^not-runnable:\s*/, '');
    } else if (lang === 'sh' && tail === 'run') kind = 'run';
    else if (lang !== 'sh' && ['host', 'guest', 'vm'].includes(tail)) kind = tail as ExampleKind;
    else throw new Error(`${where}: '${info}' does not say how the block runs (${lang === 'sh' ? "'sh run'" : `'${lang} host', '${lang} guest', '${lang} vm'`} or '${lang} not-runnable: <reason>')`);
    out.push({ file, line: start + 1, lang, kind, reason, code: body.join('\n') + '\n' });
  }
  return out;
}

export function allExamples(): Example[] {
  return docFiles().flatMap(extractExamples);
}

/** A name for the example's test: file, line and its first meaningful line. */
/**
 * A stable case id for a runnable example: its file and its place among that
 * file's examples of the same kind (docs-example@api@2), the title apart.
 */
export function exampleId(e: Example, all: readonly Example[]): string {
  const slug = path.basename(e.file, '.md').toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const n = all.filter((x) => x.file === e.file && x.kind === e.kind).indexOf(e) + 1;
  return `docs-example${e.kind === 'vm' ? '-vm' : ''}@${slug}@${n}`;
}

export function exampleTitle(e: Example): string {
  const first = e.code.split('\n').find((l) => l.trim() && !l.startsWith('import ')) ?? '';
  return `${e.file}:${e.line} ${first.trim().slice(0, 70)}`;
}

/** console.assert only prints; in an example a false assertion must fail. */
export function throwingAssert(condition?: unknown, ...data: unknown[]): void {
  if (!condition) throw new Error(`Assertion failed${data.length ? ': ' + data.map((d) => (typeof d === 'string' ? d : JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)))).join(' ') : ''}`);
}

/**
 * Runs a host-side example in this process: written as a .ts file in dir and
 * imported (vitest compiles it), with console.assert made to throw.
 */
export async function runExampleHere(e: Example, dir: string): Promise<void> {
  const file = path.join(dir, `${e.file.replace(/\W/g, '_')}_${e.line}.ts`);
  fs.writeFileSync(file, e.code);
  const assert = vi.spyOn(console, 'assert').mockImplementation(throwingAssert);
  try {
    await import(file);
  } finally {
    assert.mockRestore();
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

/** Relative links of a Markdown file whose file or #anchor does not exist. */
export function brokenLinks(file: string): string[] {
  const text = fs.readFileSync(path.join(repoRoot, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  const anchorsOf = (f: string): Set<string> =>
    new Set([...fs.readFileSync(f, 'utf8').replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#+ (.*)$/gm)].map((m) => headingAnchor(m[1])));
  const broken: string[] = [];
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z]+:/.test(target)) continue; // http:, https:, mailto:
    const [p, anchor] = target.split('#');
    const resolved = p ? path.resolve(path.dirname(path.join(repoRoot, file)), p) : path.join(repoRoot, file);
    if (!fs.existsSync(resolved)) broken.push(target);
    else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) broken.push(target);
  }
  return broken;
}
