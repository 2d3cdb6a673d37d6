// Subcommands. Each area adds its command here.
export async function run(argv: string[]): Promise<number> {
  const [cmd] = argv;
  switch (cmd) {
    case 'uffd-roundtrip': {
      const { uffdRoundTripCommand } = await import('../userfaultfd/cli.js');
      return uffdRoundTripCommand(argv.slice(1));
    }
    default:
      console.error(`usage: mirrorlab <command> [options]\nunknown command: ${cmd ?? '(none)'}`);
      return 2;
  }
}
