// Runs the misuse cases of one child (test/host/misuse-cases.ts childOf) and
// prints one JSON line per case: how it ended (threw / returned), the error's
// name, code, syscall and message, and the verdict of a returning case's check.
// Then it simply ends: the process must exit by itself (no process.exit), so
// that a handle left behind by a case shows up as a hang in the parent.
// test/host/misuse.test.ts bundles it with esbuild and runs it with node;
// by hand: node_modules/.bin/vite-node test/host/misuse-runner.ts mapping
import { childOf, cleanup, misuseCases } from './misuse-cases.js';

const child = process.argv[2];
const mine = misuseCases.filter((c) => childOf(c) === child);
if (mine.length === 0) {
  console.error(`no misuse cases for child '${child}'`);
  process.exitCode = 2;
}
for (const c of mine) {
  const line: Record<string, unknown> = { case: c.name };
  try {
    const value = await c.run();
    line.outcome = 'returned';
    line.check = c.check ? (c.check(value) ?? null) : 'returned without an error';
    if (c.info) line.info = c.info(value);
  } catch (e) {
    const err = e as { name?: string; code?: unknown; syscall?: unknown; message?: unknown };
    line.outcome = 'threw';
    line.isError = e instanceof Error;
    line.name = err?.name;
    line.code = err?.code;
    line.syscall = err?.syscall;
    line.message = String(err?.message);
  }
  console.log(JSON.stringify(line, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}n` : v)));
}
cleanup();
