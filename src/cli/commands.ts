// Subcommands. Each area adds its command here.
export async function run(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    default:
      console.error(`usage: mirrorlab <command> [options]\nunknown command: ${cmd ?? '(none)'}`);
      return 2;
  }
}
