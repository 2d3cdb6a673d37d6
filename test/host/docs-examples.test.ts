// Runs the `ts host` and `sh run` examples of README.md and docs/*.md (see
// test/docs-examples.ts), and checks that every code block says how it runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allExamples, brokenLinks, docFiles, exampleTitle, repoRoot, runExampleHere } from '../docs-examples.js';
import { ensureGuestBuild } from '../guest/helpers.js';
import { runCommand } from '../run-command.js';

const examples = allExamples();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-docs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('docs examples', () => {
  it('every not-runnable block gives its reason; every doc has its examples marked', () => {
    for (const e of examples.filter((x) => x.kind === 'not-runnable')) expect(e.reason, `${e.file}:${e.line}`).toMatch(/\w{3}/);
    expect(examples.filter((x) => x.kind === 'host').length).toBeGreaterThan(5);
  });

  it('every relative link of the docs reaches an existing file and heading', () => {
    for (const f of docFiles()) expect(brokenLinks(f), f).toEqual([]);
  });

  describe('ts host', () => {
    for (const e of examples.filter((x) => x.kind === 'host')) {
      it(exampleTitle(e), { timeout: 120_000 }, async () => {
        await runExampleHere(e, tmp);
      });
    }
  });

  describe('sh run', () => {
    // The CLI examples run the compiled CLI: rebuild dist/ when src/ is newer.
    beforeAll(() => ensureGuestBuild([]), 300_000);
    for (const e of examples.filter((x) => x.kind === 'run')) {
      it(exampleTitle(e), { timeout: 180_000 }, async () => {
        const r = await runCommand('bash', ['-e', '-o', 'pipefail', '-c', e.code], { cwd: repoRoot, timeoutMs: 170_000 });
        expect(r.status, `${e.file}:${e.line}\n${r.stdout}\n${r.stderr}`).toBe(0);
      });
    }
  });
});
