import { parseArgs } from 'node:util';
import { PixelSocket, type ImageMetadata } from '../client/pixel-socket.js';
import { RateMeter } from '../util/rate-meter.js';

export const COLLECT_HELP = `Usage: framehub collect <url> [options]

Collects the images a WebSocket server sends and saves them: framehub's routes
(/stream/:id, /ws/video_feed, /ws/streaming) or anyone's server that sends binary images,
JSON with base64 or data URLs, bare base64 or data URLs. PixelSocket on the command line.

Options:
  --out <dir>            save images here (default ./images)
  --max <n>              stop after n images
  --duration <s>         stop after s seconds
  --format <list>        keep only these formats, comma-separated: png,jpeg,webp,gif (jpg = jpeg)
  --retries <n>          reconnect attempts before giving up (default 5)
  --retry-delay <ms>     delay between attempts (default 2000)
  --token <token>        sent as ?token= on every attempt
  --no-save              count and report only, write nothing
  -h, --help             show this help

On a terminal a live progress line is shown; otherwise one line per image. Ctrl-C stops and
prints a summary. Exit status: 0 done, 1 server unreachable or lost, 2 bad arguments.
`;

const FORMATS = new Set(['png', 'jpeg', 'webp', 'gif']);

export interface CollectIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  /** Resolves when the user asks to stop (Ctrl-C). */
  interrupted: Promise<void>;
}

interface CollectOptions {
  url: string;
  out: string;
  max: number;
  durationMs: number;
  formats: Set<string> | undefined;
  retries: number;
  retryDelay: number;
  token: string | undefined;
  save: boolean;
}

class UsageError extends Error {}

/** `framehub collect`; resolves with the exit code. */
export async function collect(argv: string[], io: CollectIo = processIo()): Promise<number> {
  let options: CollectOptions;
  try {
    const parsed = parseCollectArgs(argv);
    if (parsed === 'help') {
      io.stdout.write(COLLECT_HELP);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof UsageError) && !(error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw error;
    io.stderr.write(`framehub collect: ${(error as Error).message}\n\n${COLLECT_HELP}`);
    return 2;
  }
  return new Collector(options, io).run();
}

function parseCollectArgs(argv: string[]): CollectOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      max: { type: 'string' },
      duration: { type: 'string' },
      format: { type: 'string' },
      retries: { type: 'string' },
      'retry-delay': { type: 'string' },
      token: { type: 'string' },
      'no-save': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing <url>' : `one <url> expected, got ${positionals.length}`);
  return {
    url: wsUrl(positionals[0]!),
    out: values.out ?? './images',
    max: values.max === undefined ? Infinity : integer(values.max, '--max', 1),
    durationMs: values.duration === undefined ? Infinity : seconds(values.duration) * 1000,
    formats: values.format === undefined ? undefined : formatList(values.format),
    retries: values.retries === undefined ? 5 : integer(values.retries, '--retries', 0),
    retryDelay: values['retry-delay'] === undefined ? 2000 : integer(values['retry-delay'], '--retry-delay', 0),
    token: values.token,
    save: !values['no-save'],
  };
}

/** ws:// and wss:// as given; http(s):// mapped to ws(s):// because people paste those. */
function wsUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`"${text}" is not a URL (expected ws://host:port/path)`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new UsageError(`unsupported URL scheme "${url.protocol}" (use ws:// or wss://)`);
  return url.toString();
}

function integer(text: string, name: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || !Number.isSafeInteger(Number(text))) throw new UsageError(`${name} must be an integer >= ${min} (got "${text}")`);
  return Number(text);
}

function seconds(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`--duration must be a number of seconds > 0 (got "${text}")`);
  return n;
}

function formatList(text: string): Set<string> {
  const formats = new Set<string>();
  for (const raw of text.split(',')) {
    const name = raw.trim().toLowerCase();
    const format = name === 'jpg' ? 'jpeg' : name;
    if (!FORMATS.has(format)) throw new UsageError(`unknown format "${raw}" in --format (known: png, jpeg, webp, gif)`);
    formats.add(format);
  }
  return formats;
}

function processIo(): CollectIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    interrupted: new Promise((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }),
  };
}

/** One run of `collect`: counts, progress output, and the reasons to stop. */
class Collector {
  readonly #rate = new RateMeter(2000);
  readonly #startedAt = Date.now();
  readonly #tty: boolean;
  #accepted = 0;
  #images = 0;
  #bytes = 0;
  #saved = 0;
  #last: ImageMetadata | undefined;
  #lastBytes = 0;
  #progressShown = false;
  #everConnected = false;
  #stop!: (reason: { code: number; message?: string }) => void;
  readonly #stopped = new Promise<{ code: number; message?: string }>((resolve) => { this.#stop = resolve; });

  constructor(private readonly options: CollectOptions, private readonly io: CollectIo) {
    this.#tty = Boolean(io.stdout.isTTY);
  }

  async run(): Promise<number> {
    const { options, io } = this;
    const client = new PixelSocket({
      url: options.url,
      saveDirectory: options.out,
      saveImages: options.save,
      reconnectDelay: options.retryDelay,
      maxReconnectAttempts: options.retries,
      ...(options.token !== undefined && { getToken: () => options.token! }),
      accept: (metadata) => {
        if (options.formats && !options.formats.has(metadata.format ?? '')) return false;
        if (this.#accepted >= options.max) return false;
        this.#accepted++;
        return true;
      },
      onImage: (data, metadata) => this.#onImage(data, metadata!),
      onSaved: (path, metadata) => this.#onSaved(path, metadata),
      onConnect: () => {
        this.#everConnected = true;
        this.#note(`connected to ${options.url}`);
      },
      onDisconnect: (code, reason) => this.#note(`disconnected (${code}${reason ? ` ${reason}` : ''})`),
      onReconnecting: (attempt, delay) => this.#note(`reconnecting in ${delay} ms (attempt ${attempt}/${options.retries})`),
      onReconnectFailed: (attempts) => this.#stop({
        code: 1,
        message: this.#everConnected ? `lost ${options.url} and could not reconnect after ${attempts} attempt(s)`
          : `cannot reach ${options.url} (first attempt and ${attempts} retries failed)`,
      }),
      onError: (error) => this.#onError(error),
    });

    const timer = Number.isFinite(options.durationMs) ? setTimeout(() => this.#stop({ code: 0 }), options.durationMs) : undefined;
    const progressTimer = this.#tty ? setInterval(() => this.#renderProgress(), 250) : undefined;
    void io.interrupted.then(() => this.#stop({ code: 0, message: 'interrupted' }));
    client.connect().catch((error: Error) => this.#stop({ code: 1, message: `cannot reach ${options.url}: ${error.message}` }));

    const { code, message } = await this.#stopped;
    clearTimeout(timer);
    clearInterval(progressTimer);
    client.disconnect();
    await this.#savesSettled(client);
    if (this.#tty && this.#progressShown) io.stdout.write('\n');
    if (code !== 0 && message) io.stderr.write(`framehub collect: ${message}\n`);
    else if (message) this.#note(message);
    io.stdout.write(`${this.#summary()}\n`);
    return code;
  }

  #onImage(data: Uint8Array, metadata: ImageMetadata): void {
    this.#images++;
    this.#bytes += data.length;
    this.#last = metadata;
    this.#lastBytes = data.length;
    this.#rate.record();
    if (!this.options.save) this.#line(`received ${describe(metadata, data.length)}`);
    if (!this.options.save && this.#images >= this.options.max) this.#stop({ code: 0 });
  }

  #onSaved(path: string, metadata: ImageMetadata): void {
    this.#saved++;
    this.#line(`saved ${path} ${describe(metadata, Number(metadata['size'] ?? 0))}`);
    if (this.#saved >= this.options.max) this.#stop({ code: 0 });
  }

  #onError(error: Error): void {
    // Connection errors precede every reconnect; the reconnect line already says so.
    if (/WebSocket error|ECONNREFUSED|closed before/.test(error.message)) return;
    this.#note(`error: ${error.message}`);
  }

  /** One line per image when not on a terminal; the progress line covers it on one. */
  #line(text: string): void {
    if (!this.#tty) this.io.stdout.write(`${text}\n`);
  }

  #note(text: string): void {
    if (this.#tty && this.#progressShown) this.io.stdout.write('\r\x1b[2K');
    this.io.stderr.write(`${text}\n`);
    if (this.#tty && this.#progressShown) this.#renderProgress();
  }

  #renderProgress(): void {
    this.#progressShown = true;
    const last = this.#last ? ` · last ${describe(this.#last, this.#lastBytes)}` : '';
    this.io.stdout.write(`\r\x1b[2K${this.#images} images · ${formatBytes(this.#bytes)} · ${this.#rate.rate().toFixed(1)} img/s${last}`);
  }

  async #savesSettled(client: PixelSocket): Promise<void> {
    // Saves in flight finish or fail quickly (local disk); wait until every accepted image is accounted for.
    const deadline = Date.now() + 5000;
    while (this.options.save && this.#saved + client.imagesNotSaved < this.#images && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #summary(): string {
    const secs = (Date.now() - this.#startedAt) / 1000;
    const where = this.options.save ? `, ${this.#saved} saved to ${this.options.out}` : '';
    return `collected ${this.#images} image(s), ${formatBytes(this.#bytes)} in ${secs.toFixed(1)} s${where}`;
  }
}

function describe(metadata: ImageMetadata, bytes: number): string {
  const size = metadata.width && metadata.height ? `${metadata.width}x${metadata.height}` : 'unknown size';
  return `${size} ${metadata.format ?? 'unknown format'} ${formatBytes(bytes)}`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
