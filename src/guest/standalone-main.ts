// Entry point of the standalone suites in the guest (see standalone.ts).
import { standaloneMain } from './standalone.js';

standaloneMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack ?? e.message : e);
    process.exit(1);
  },
);
