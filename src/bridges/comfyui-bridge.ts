import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { ReconnectingSocket, type SocketEvents } from '../client/reconnecting-socket.js';
import type { WebSocketConstructor } from '../client/websocket-impl.js';
import { ExponentialBackoff, type ReconnectPolicy } from '../util/reconnect-policy.js';
import type { PushSource } from '../sources/push-source.js';
import { TypedEmitter } from '../util/typed-emitter.js';
import type { Severity } from '../wire/envelope.js';
import { GenerationError } from '../generations/generation-error.js';
import { ErrorCode } from '../wire/errors.js';
import type { Generations, JobInput } from '../generations/generations.js';
import { toError } from '../util/errors.js';

export type BridgeState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface BridgeEvents {
  'state:change': { oldState: BridgeState; newState: BridgeState };
  /** A ComfyUI message could not be handled (the bridge goes on). */
  error: Error;
}

export interface ComfyUiBridgeOptions {
  /** `http://host:8188`; a `clientId` query parameter is used as ComfyUI client id. */
  url: string;
  generations: Generations;
  previews: PushSource;
  /** Reconnect backoff: first delay, doubled up to the cap. @default 500, 10000 */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Replaces the backoff above (the client library's policy interface). */
  reconnectPolicy?: ReconnectPolicy;
  /** Timeout of each HTTP request to ComfyUI. @default 30000 */
  fetchTimeoutMs?: number;
  log?: { info(msg: string): void; warn(obj: object, msg: string): void };
}

/** ComfyUI's binary event types (server.py `BinaryEventTypes`). */
const PREVIEW_IMAGE = 1;
const PREVIEW_IMAGE_WITH_METADATA = 4;
/** Delays before fetching a finished image from `/view` again. */
const VIEW_RETRIES = [250, 1000, 3000];

/**
 * `ws` with the options ComfyUI needs, behind the constructor shape the reconnecting core takes:
 * no compression (previews are JPEG/PNG already) and room for large messages.
 */
class ComfyWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  }
}

interface ComfyImageRef {
  filename: string;
  subfolder: string;
  type: string;
}

/** What the bridge tracks of a ComfyUI prompt it turned into a job. */
interface BridgeJob {
  published: Set<string>;
}

/**
 * Listens to a ComfyUI server and republishes what it does: each prompt becomes a job
 * (`execution_start`), `progress`/`executing` become progress events, every image of an
 * `executed` message is fetched through `/view` and published as an image, `execution_error` /
 * `execution_interrupted` fail the job, and binary previews go to the `comfyui:previews`
 * live stream. It queues nothing on ComfyUI. On reconnect it asks `/history` for jobs that
 * were running, so images finished while it was away are still published.
 *
 * ComfyUI sends execution messages only to the client id that queued the prompt (or to all
 * when the prompt had none): give the bridge the UI's client id (`?clientId=` on the URL) to
 * follow its prompts.
 */
export class ComfyUiBridge extends TypedEmitter<BridgeEvents> {
  readonly httpBase: string;
  readonly clientId: string;
  readonly #options: ComfyUiBridgeOptions;
  #state: BridgeState = 'idle';
  /** The connection and its reconnects: the client library's one reconnect core. */
  readonly #socket: ReconnectingSocket;
  #everConnected = false;
  /** Messages are handled one after another: a job must exist before its progress and images. */
  #chain: Promise<void> = Promise.resolve();
  readonly #jobs = new Map<string, BridgeJob>();

  constructor(options: ComfyUiBridgeOptions) {
    super();
    this.#options = options;
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`ComfyUI URL must be http(s): ${options.url}`);
    this.clientId = url.searchParams.get('clientId') ?? `framehub-${randomUUID()}`;
    url.search = '';
    url.hash = '';
    this.httpBase = url.href.replace(/\/$/, '');
    this.#socket = new ReconnectingSocket({
      url: `${this.httpBase.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(this.clientId)}`,
      name: 'ComfyUiBridge',
      policy: options.reconnectPolicy ?? new ExponentialBackoff({
        initialDelay: options.reconnectDelayMs ?? 500, maxDelay: options.maxReconnectDelayMs ?? 10_000, jitter: 0,
      }),
      // ComfyUI has no event ids to resume from and answers no heartbeats.
      resumeParam: '',
      closeTimeout: 500,
      WebSocket: ComfyWebSocket as unknown as WebSocketConstructor,
    });
    this.#socket.on('state:change', this.#socketOnStateChange);
    this.#socket.on('open', this.#socketOnOpen);
    this.#socket.on('message', this.#socketOnMessage);
    this.#socket.on('close', this.#socketOnClose);
    this.#socket.on('reconnecting', this.#socketOnReconnecting);
    this.#socket.on('error', this.#socketOnError);
  }

  get state(): BridgeState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== 'idle') return;
    // With an unbounded policy connect() only fails on an unusable URL.
    this.#socket.connect().catch((error: unknown) => this.emit('error', toError(error)));
  }

  /** Closes the connection and stops reconnecting; waits for messages being handled. Safe to call twice. */
  async stop(): Promise<void> {
    this.#setState('stopped');
    this.#socket.disconnect(1001, 'framehub stopping');
    await this.#chain;
  }

  #setState(newState: BridgeState): void {
    const oldState = this.#state;
    if (oldState === newState || oldState === 'stopped') return;
    this.#state = newState;
    this.emit('state:change', { oldState, newState });
  }

  readonly #socketOnStateChange = ({ newState }: SocketEvents['state:change']): void => {
    if (newState === 'connecting') this.#setState('connecting');
  };

  readonly #socketOnOpen = (): void => {
    const again = this.#everConnected;
    this.#everConnected = true;
    this.#setState('connected');
    this.#options.log?.info(`ComfyUI bridge connected to ${this.httpBase}`);
    this.#options.previews.status(`ComfyUI at ${this.httpBase} connected`);
    if (again) {
      this.#notify('info', `ComfyUI at ${this.httpBase} is reachable again`);
      this.#enqueue(() => this.#recover());
    }
  };

  readonly #socketOnMessage = ({ data }: SocketEvents['message']): void => {
    if (typeof data === 'string') this.#onText(data);
    else this.#onBinary(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  };

  readonly #socketOnClose = ({ willReconnect }: SocketEvents['close']): void => {
    if (this.#state === 'connected') {
      const message = `ComfyUI at ${this.httpBase} disconnected; ${willReconnect ? 'reconnecting' : 'not reconnecting'}`;
      this.#notify('warning', message);
      this.#options.previews.status(message);
    }
    // Only an injected policy gives up; then the bridge is done.
    if (!willReconnect) this.#setState('stopped');
  };

  readonly #socketOnReconnecting = (): void => {
    this.#setState('waiting');
  };

  readonly #socketOnError = ({ error, context }: SocketEvents['error']): void => {
    // A refused or dropped connection is what the reconnects are for; the close says it.
    if (context !== 'connection') this.emit('error', error);
  };

  #onBinary(bytes: Buffer): void {
    if (bytes.length < 8) return;
    const type = bytes.readUInt32BE(0);
    if (type === PREVIEW_IMAGE) {
      // 4-byte image format (1 JPEG, 2 PNG), then the image; the sniffer reads the real format.
      this.#options.previews.push(bytes.subarray(8), { comfyFormat: bytes.readUInt32BE(4) });
    } else if (type === PREVIEW_IMAGE_WITH_METADATA) {
      const length = bytes.readUInt32BE(4);
      if (8 + length <= bytes.length) this.#options.previews.push(bytes.subarray(8 + length));
    }
  }

  #onText(text: string): void {
    let message: { type?: unknown; data?: Record<string, unknown> };
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.emit('error', new Error(`ComfyUI sent invalid JSON: ${(error as Error).message}`));
      return;
    }
    if (typeof message !== 'object' || message === null || typeof message.type !== 'string') return;
    const data = message.data ?? {};
    const promptId = typeof data['prompt_id'] === 'string' ? data['prompt_id'] : undefined;
    if (!promptId) return; // status, crystools & co: nothing to republish
    const type = message.type;
    this.#enqueue(() => this.#handle(type, promptId, data));
  }

  #enqueue(task: () => Promise<void>): void {
    this.#chain = this.#chain.then(task).catch((error: unknown) => {
      this.emit('error', toError(error));
    });
  }

  async #handle(type: string, promptId: string, data: Record<string, unknown>): Promise<void> {
    const { generations } = this.#options;
    switch (type) {
      case 'execution_start':
        await this.#ensureJob(promptId);
        return;
      case 'progress': {
        await this.#ensureJob(promptId);
        const value = Number(data['value']);
        const max = Number(data['max']);
        if (!(max > 0) || !Number.isFinite(value)) return;
        await this.#ignoreFinished(() => generations.progress(promptId, Math.min(100, Math.round((value / max) * 100)), `sampling ${value}/${max}`));
        return;
      }
      case 'executing': {
        // `node: null` is how ComfyUI (before execution_success existed) says the prompt is done.
        if (data['node'] === null) return this.#finish(promptId);
        await this.#ensureJob(promptId);
        const job = generations.jobs.get(promptId);
        await this.#ignoreFinished(() => generations.progress(promptId, job?.progress ?? 0, `executing node ${String(data['node'])}`));
        return;
      }
      case 'executed': {
        await this.#ensureJob(promptId);
        const output = data['output'] as { images?: unknown } | undefined;
        const images = Array.isArray(output?.images) ? output.images.filter(isImageRef) : [];
        for (const image of images) await this.#publishImage(promptId, image);
        return;
      }
      case 'execution_success':
        return this.#finish(promptId);
      case 'execution_error':
        await this.#ignoreFinished(() => generations.fail(promptId, `${String(data['node_type'] ?? 'node')}: ${String(data['exception_message'] ?? 'execution error').trim()}`, true));
        this.#jobs.delete(promptId);
        return;
      case 'execution_interrupted':
        await this.#ignoreFinished(() => generations.fail(promptId, 'interrupted', true));
        this.#jobs.delete(promptId);
        return;
    }
  }

  async #ensureJob(promptId: string): Promise<void> {
    if (this.#jobs.has(promptId)) return;
    this.#jobs.set(promptId, { published: new Set() });
    if (this.#options.generations.jobs.has(promptId)) return;
    const described = await this.#describe(promptId);
    await this.#options.generations.createJob({ ...described, id: promptId });
  }

  /**
   * Best effort: the prompt graph of a running prompt from `/queue` (or from `/history` when it
   * already finished) gives the job its prompt, seed and size.
   */
  async #describe(promptId: string): Promise<Omit<JobInput, 'id'>> {
    const fallback = { prompt: '', workflow: 'comfyui' };
    try {
      const queue = await (await this.#fetch('/queue')).json() as { queue_running?: unknown[]; queue_pending?: unknown[] };
      let item = [...(queue.queue_running ?? []), ...(queue.queue_pending ?? [])].find((q) => Array.isArray(q) && q[1] === promptId) as unknown[] | undefined;
      if (!item) {
        const history = await (await this.#fetch(`/history/${encodeURIComponent(promptId)}`)).json() as Record<string, ComfyHistory>;
        item = history[promptId]?.prompt;
      }
      if (!Array.isArray(item) || typeof item[2] !== 'object' || item[2] === null) return fallback;
      return { ...fallback, ...describeGraph(item[2] as Record<string, ComfyNode>) };
    } catch {
      return fallback;
    }
  }

  async #publishImage(promptId: string, ref: ComfyImageRef): Promise<void> {
    const bridgeJob = this.#jobs.get(promptId);
    const key = `${ref.type}/${ref.subfolder}/${ref.filename}`;
    if (!bridgeJob || bridgeJob.published.has(key)) return;
    const query = new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type });
    let bytes: Buffer | undefined;
    for (let attempt = 0; bytes === undefined; attempt++) {
      try {
        bytes = Buffer.from(await (await this.#fetch(`/view?${query}`)).arrayBuffer());
      } catch (error) {
        if (attempt >= VIEW_RETRIES.length || this.#state === 'stopped') {
          // Said out loud: a generated image that never arrives must not go unnoticed.
          this.#notify('error', `could not fetch ${ref.filename} of ComfyUI prompt ${promptId}: ${(error as Error).message}`);
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, VIEW_RETRIES[attempt]));
      }
    }
    bridgeJob.published.add(key);
    await this.#options.generations.addImage(promptId, bytes, {
      filename: ref.filename,
      subfolder: ref.subfolder,
      type: ref.type,
      imageIdx: bridgeJob.published.size - 1,
      imageLength: bridgeJob.published.size,
      autoComplete: false,
    }).catch((error: unknown) => {
      if (!(error instanceof GenerationError)) throw error;
      this.emit('error', error);
    });
  }

  #finish(promptId: string): void {
    this.#options.generations.complete(promptId);
    this.#jobs.delete(promptId);
  }

  /** After a reconnect: publish what running jobs finished meanwhile, fail the ones ComfyUI forgot. */
  async #recover(): Promise<void> {
    for (const promptId of [...this.#jobs.keys()]) {
      const history = await (await this.#fetch(`/history/${encodeURIComponent(promptId)}`)).json() as Record<string, ComfyHistory>;
      const entry = history[promptId];
      if (entry) {
        for (const node of Object.values(entry.outputs ?? {})) {
          for (const image of (node.images ?? []).filter(isImageRef)) await this.#publishImage(promptId, image);
        }
        if (entry.status?.status_str === 'error') {
          await this.#ignoreFinished(() => this.#options.generations.fail(promptId, 'execution error (reported by /history after a reconnect)', true));
          this.#jobs.delete(promptId);
        } else this.#finish(promptId);
        continue;
      }
      const queue = await (await this.#fetch('/queue')).json() as { queue_running?: unknown[]; queue_pending?: unknown[] };
      const queued = [...(queue.queue_running ?? []), ...(queue.queue_pending ?? [])].some((q) => Array.isArray(q) && q[1] === promptId);
      if (!queued) {
        await this.#ignoreFinished(() => this.#options.generations.fail(promptId, 'ComfyUI lost the job (it restarted?)', true));
        this.#jobs.delete(promptId);
      }
    }
  }

  async #fetch(path: string): Promise<Response> {
    const response = await fetch(this.httpBase + path, { signal: AbortSignal.timeout(this.#options.fetchTimeoutMs ?? 30_000) });
    if (!response.ok) throw new Error(`ComfyUI ${path.split('?')[0]} answered ${response.status}`);
    return response;
  }

  /** A job already finished (or forgotten) is not worth an error: ComfyUI repeats itself at times. */
  async #ignoreFinished(publish: () => Promise<unknown>): Promise<void> {
    try {
      await publish();
    } catch (error) {
      if (!(error instanceof GenerationError)) throw error;
    }
  }

  /** A notification from a place that cannot wait for it; a failure is reported as an `error` event. */
  #notify(severity: Severity, message: string): void {
    this.#options.generations.notify(severity, message).catch((error: unknown) => {
      if (!(error instanceof GenerationError && error.code === ErrorCode.ShuttingDown)) this.emit('error', toError(error));
    });
  }
}

interface ComfyNode {
  class_type?: string;
  inputs?: Record<string, unknown>;
}

interface ComfyHistory {
  prompt?: unknown[];
  outputs?: Record<string, { images?: unknown[] }>;
  status?: { status_str?: string };
}

function isImageRef(value: unknown): value is ComfyImageRef {
  const v = value as ComfyImageRef;
  return typeof v === 'object' && v !== null && typeof v.filename === 'string' && typeof (v.subfolder ?? '') === 'string' && typeof v.type === 'string';
}

/** Prompt, negative prompt, seed and size from an API-format graph: the first sampler's inputs, followed back. */
export function describeGraph(graph: Record<string, ComfyNode>): Omit<JobInput, 'id' | 'workflow'> {
  const nodes = Object.values(graph);
  const sampler = nodes.find((n) => /KSampler/i.test(n.class_type ?? ''));
  const textOf = (link: unknown): string => {
    const node = Array.isArray(link) ? graph[String(link[0])] : undefined;
    const text = node?.inputs?.['text'] ?? node?.inputs?.['text_g'];
    return typeof text === 'string' ? text : '';
  };
  const latent = nodes.find((n) => /EmptyLatentImage/i.test(n.class_type ?? ''));
  const seed = sampler?.inputs?.['seed'] ?? sampler?.inputs?.['noise_seed'];
  const width = Number(latent?.inputs?.['width']);
  const height = Number(latent?.inputs?.['height']);
  return {
    prompt: textOf(sampler?.inputs?.['positive']),
    negativePrompt: textOf(sampler?.inputs?.['negative']),
    ...(seed !== undefined && (typeof seed === 'number' || typeof seed === 'string') && { seed: String(seed) }),
    ...(Number.isInteger(width) && width > 0 && { width }),
    ...(Number.isInteger(height) && height > 0 && { height }),
  };
}
