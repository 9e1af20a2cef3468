import { parseArgs } from 'node:util';

export interface FuzzOptions {
  seed: number;
  /** Messages to send in all (WebSocket messages, Socket.IO events, HTTP requests, upgrades). */
  messages: number;
  /** Cases running at once. */
  concurrency: number;
  /** Replay only this case (from a violation's reproducer). */
  onlyCase: number | undefined;
  /** Create a browser session (Chromium) for Socket.IO subscribe, session REST and the hostile upstream. */
  session: boolean;
  /**
   * What the watching viewer's fps is judged against: the stream's configured fps (the default,
   * the bar), or the frames its source actually made (the suite's run on a shared machine).
   */
  fpsBaseline?: 'configured' | 'source';
  /** Called every 10 s with the messages sent and violations so far (the CLI prints it on stderr). */
  onProgress?: (messages: number, violations: number, seconds: number) => void;
}

export const FUZZ_HELP = `Usage: npm run fuzz -- [--seed N] [--messages N] [--concurrency N] [--case N] [--no-session]

Starts framehub (node bin/framehub.js serve, after npm run build) and sends it hostile input on
every route; exit 0 when every answer is the README's and the server survived, 1 otherwise.

  --seed N          PRNG seed (default 1); the same seed sends the same messages
  --messages N      messages to send in all (default 10000)
  --concurrency N   cases at once (default 16)
  --case N          replay only case N of the seed (from a violation's reproducer)
  --no-session      no browser session (no Chromium): Socket.IO subscribe, the upstream lane and the
                    other-owner case (a token of another owner aims at an owned session) skip it
`;

export function parseFuzzArgs(argv: string[]): FuzzOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seed: { type: 'string', default: '1' },
      messages: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '16' },
      case: { type: 'string' },
      'no-session': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageError('');
  const int = (name: string, raw: string, min: number) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
    return n;
  };
  return {
    seed: int('seed', values.seed, 0),
    messages: int('messages', values.messages, 1),
    concurrency: int('concurrency', values.concurrency, 1),
    onlyCase: values.case === undefined ? undefined : int('case', values.case, 0),
    session: !values['no-session'],
  };
}

export class UsageError extends Error {}
