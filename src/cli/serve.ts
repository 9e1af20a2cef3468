import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, FIELDS, loadConfig } from '../config/config.js';
import { createServer } from '../server/create-server.js';
import { RedisUnavailableError } from '../cluster/redis-connection.js';
import { SERVE_HELP } from './serve-help.js';

/** After SIGTERM/SIGINT the process exits within this time, cleanly or not. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

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
  let server;
  try {
    server = await createServer(config);
  } catch (error) {
    if (error instanceof RedisUnavailableError) {
      process.stderr.write(`framehub: ${error.message} (REDIS_URL)\n`);
      return 1;
    }
    throw error;
  }
  const { url } = await server.listen();
  const log = server.app.log;
  log.info(`framehub serving ${Object.keys(config.streams).join(', ')} at ${url}`);
  // One listener for the whole life of the process: removing a signal's last listener resets it
  // to the default action (exit without cleanup), so a second signal arriving in that gap
  // would kill the process mid-shutdown.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    let first: NodeJS.Signals | undefined;
    const onSignal = function processOnSignal(received: NodeJS.Signals): void {
      if (first === undefined) {
        first = received;
        resolve(received);
        return;
      }
      // A second signal during the shutdown: the operator means it, exit without waiting.
      log.warn(`${received} during shutdown: exiting without waiting`);
      process.exit(128 + constants.signals[received]);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // SIGHUP: a renewed certificate, served to new connections without a restart.
    process.on('SIGHUP', function processOnHangup() {
      server.reloadTls().then(
        (reloaded) => log.info(reloaded ? 'SIGHUP: TLS certificate and key reloaded' : 'SIGHUP: TLS is off, nothing to reload'),
        (error: unknown) => log.error({ err: error }, 'SIGHUP: TLS certificate or key could not be loaded; still serving the previous one'),
      );
    });
  });
  log.info(`${signal}: shutting down (clients closed with 1001, publishes under way finished; a second signal exits at once)`);
  // The deadline also covers anything left running after close() (a handle that keeps the event
  // loop alive): the process is gone SHUTDOWN_DEADLINE_MS after the signal, whatever happens.
  const deadline = setTimeout(function shutdownDeadline() {
    log.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s: exiting with code 1`);
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  try {
    await server.close();
  } catch (error) {
    log.error({ err: error }, 'shutdown failed');
    return 1;
  } finally {
    // Unref'd, not cleared: the process exits as soon as the event loop is empty.
    deadline.unref();
  }
  log.info('shut down cleanly');
  return 0;
}
