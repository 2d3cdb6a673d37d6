#!/usr/bin/env node
// mirrorlab command line: subcommands are registered in ./commands.ts.
import { run } from './commands.js';

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    process.exit(1);
  },
);
