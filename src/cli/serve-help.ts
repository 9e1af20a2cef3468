import { FIELDS } from '../config/config.js';

// Apart from serve.ts so that `framehub --help` can print it without loading the server
// (Fastify, sharp, Socket.IO) that serve.ts imports.

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
