import { collect } from './collect.js';
import { serve, SERVE_HELP } from './serve.js';
import { windows } from './windows.js';

const HELP = `Usage: framehub <command> [options]

Commands:
  serve      serve image streams over WebSocket (framehub serve --help)
  windows    list the X windows that can be streamed (framehub windows --help)
  collect    save the images a WebSocket server sends (framehub collect --help)
  help       show this help

${SERVE_HELP}`;

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'windows':
      return windows(rest);
    case 'collect':
      return collect(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`framehub: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}
