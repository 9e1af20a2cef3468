import { parseArgs } from 'node:util';
import { ConfigError, FIELDS, loadConfig } from '../config/config.js';
import { createServer } from '../server/create-server.js';

const OPTION_LINES: [string, string][] = [
  ['--config <file.yaml>', 'read options and streams from a YAML file'],
  ...Object.values(FIELDS).map((f): [string, string] => [
    `--${f.boolean ? f.flag! : `${f.flag} <value>`}`,
    `${f.help}${f.env ? ` [${f.env}]` : ''} (default ${JSON.stringify(f.default)})`,
  ]),
  ['-h, --help', 'show this help'],
];
const OPTION_WIDTH = Math.max(...OPTION_LINES.map(([option]) => option.length)) + 2;

export const SERVE_HELP = `Usage: framehub serve [options]

Serves every configured stream over HTTP and WebSocket.

Options (flag > environment > YAML file > default):
${OPTION_LINES.map(([option, text]) => `  ${option.padEnd(OPTION_WIDTH)}${text}`).join('\n')}
`;

export async function serve(argv: string[]): Promise<number> {
  const flagOptions = Object.fromEntries(Object.values(FIELDS).map((f) => [f.flag!, { type: f.boolean ? ('boolean' as const) : ('string' as const) }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: { ...flagOptions, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
  } catch (error) {
    process.stderr.write(`framehub serve: ${(error as Error).message}\n\n${SERVE_HELP}`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  let config;
  try {
    config = loadConfig({
      // Boolean flags (--screen) arrive as `true`; their fields parse booleans too.
      flags: values as Record<string, string | undefined>,
      env: process.env,
      ...(typeof values['config'] === 'string' && { file: values['config'] }),
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`framehub: invalid configuration: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const server = await createServer(config);
  const { url } = await server.listen();
  server.app.log.info(`framehub serving ${Object.keys(config.streams).join(', ')} at ${url}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
