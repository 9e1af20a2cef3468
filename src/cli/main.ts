/** Runs one command with its arguments; resolves with the exit code. */
type Command = (argv: string[]) => Promise<number>;

// Each command is imported when it is run, not before: `serve` brings Fastify, sharp, Socket.IO
// and (for browser sessions) playwright-core, and `framehub collect` or `windows` should start
// without loading any of them (test/cli-lazy.test.ts checks it).
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  windows: async () => (await import('./windows.js')).windows,
  collect: async () => (await import('./collect.js')).collect,
};

async function help(): Promise<string> {
  const { SERVE_HELP } = await import('./serve-help.js');
  return `Usage: framehub <command> [options]

Commands:
  serve      serve image streams over WebSocket (framehub serve --help)
  windows    list the X windows that can be streamed (framehub windows --help)
  collect    save the images a WebSocket server sends (framehub collect --help)
  help       show this help

${SERVE_HELP}`;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(await help());
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (load === undefined) {
    process.stderr.write(`framehub: unknown command "${command}"\n\n${await help()}`);
    return 2;
  }
  const run = await load();
  return run(rest);
}
