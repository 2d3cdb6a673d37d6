// Each test file gets a temporary directory of its own as $TMPDIR (for
// os.tmpdir() here and in the CLIs it spawns), removed when the file ends:
// the directories tests make stay out of /tmp after the run, also where a
// test fails before its own cleanup.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mirrorlab-test-'));
const previous = process.env.TMPDIR;
process.env.TMPDIR = root;

afterAll(() => {
  if (previous === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = previous;
  fs.rmSync(root, { recursive: true, force: true });
});
