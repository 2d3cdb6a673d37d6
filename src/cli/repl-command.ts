// mirrorlab repl: a Node REPL with the library loaded as `ml` (top-level
// await works), from any directory.
import repl from 'node:repl';
import { parseCommand, type CommandSpec } from './options.js';

export const replSpec = {
  name: 'repl',
  summary: 'A Node REPL with the library loaded as `ml` (top-level await works).',
  options: {},
} as const satisfies CommandSpec;

export async function replCommand(args: string[]): Promise<number> {
  parseCommand(replSpec, args);
  const ml = await import('../index.js');
  if (process.stdin.isTTY) console.log("mirrorlab REPL: the library is `ml` (e.g. ml.probe(), ml.libc().call('getpid', 'i32')); .exit to leave");
  const r = repl.start({ prompt: 'mirrorlab> ', useGlobal: false });
  r.context.ml = ml;
  return new Promise((resolve) => r.on('exit', () => resolve(0)));
}
