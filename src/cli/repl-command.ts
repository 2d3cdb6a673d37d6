// mirrorlab repl: a Node REPL with the library loaded as `ml` (top-level
// await works), from any directory.
import repl from 'node:repl';
import { parseArgs } from 'node:util';

export async function replCommand(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true });
  const ml = await import('../index.js');
  if (process.stdin.isTTY) console.log("mirrorlab REPL: the library is `ml` (e.g. ml.probe(), ml.libc().call('getpid', 'i32')); .exit to leave");
  const r = repl.start({ prompt: 'mirrorlab> ', useGlobal: false });
  r.context.ml = ml;
  return new Promise((resolve) => r.on('exit', () => resolve(0)));
}
