import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import type { WsRoute } from './ws-messages.js';

/**
 * One WebSocket connection seen as a queue of answer labels: error messages, replies and the
 * close, with the route's own traffic (frames, stats, events) left out.
 */
export class WsConversation {
  readonly #answers: string[] = [];
  #waiter: (() => void) | undefined;
  closeCode: number | undefined;
  closeReason = '';
  /** A client-side error (e.g. an invalid frame from the server), which `ws` reports before its 1006. */
  clientError: string | undefined;
  /** The HTTP status when the upgrade was refused. */
  httpStatus: number | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly route: WsRoute,
  ) {
    ws.on('message', this.#socketOnMessage);
    ws.on('close', this.#socketOnClose);
    ws.on('error', this.#socketOnError);
    ws.on('unexpected-response', this.#socketOnUnexpectedResponse);
  }

  static open(url: string, route: WsRoute, options: { headers?: Record<string, string>; protocols?: string[] } = {}): WsConversation {
    const ws = new WebSocket(url, options.protocols ?? [], { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...(options.headers && { headers: options.headers }) });
    return new WsConversation(ws, route);
  }

  /** Resolves `open`, or the label of what happened instead (`http:<status>`, `close:<code>`, `timeout`). */
  opened(ms: number): Promise<string> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve('open');
    return new Promise((resolve) => {
      const done = (label: string) => {
        clearTimeout(timer);
        this.ws.off('open', onOpen);
        this.ws.off('close', onClose);
        resolve(label);
      };
      const onOpen = () => done('open');
      const onClose = () => done(this.httpStatus !== undefined ? `http:${this.httpStatus}` : `close:${this.closeCode}`);
      const timer = setTimeout(() => done('timeout'), ms);
      this.ws.on('open', onOpen);
      this.ws.on('close', onClose);
    });
  }

  /** The next answer label, or `timeout` after `ms`. */
  async next(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.#answers.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#answers.shift()!;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer, binary: boolean): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  #push(label: string): void {
    this.#answers.push(label);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  readonly #socketOnMessage = (data: RawData, isBinary: boolean): void => {
    const label = labelOf(this.route, data, isBinary);
    if (label) this.#push(label);
  };

  readonly #socketOnClose = (code: number, reason: Buffer): void => {
    this.closeCode = code;
    this.closeReason = reason.toString();
    if (this.httpStatus === undefined) this.#push(`close:${code}`);
  };

  readonly #socketOnError = (error: Error): void => {
    this.clientError ??= error.message;
  };

  readonly #socketOnUnexpectedResponse = (_req: unknown, res: IncomingMessage): void => {
    this.httpStatus = res.statusCode ?? 0;
    res.resume();
    this.ws.terminate();
    this.#push(`http:${this.httpStatus}`);
  };
}

/** What a server message answers, or `undefined` for the route's own traffic. */
function labelOf(route: WsRoute, data: RawData, isBinary: boolean): string | undefined {
  if (isBinary) return route === 'video_feed' || route === 'video' ? undefined : 'binary';
  let message: any;
  try {
    message = JSON.parse(data.toString());
  } catch {
    return 'not-json';
  }
  const type: unknown = message?.type;
  switch (route) {
    case 'stream':
    case 'video_feed':
    case 'video':
      if (type === 'frame' || type === 'stats' || type === 'status') return undefined;
      if (type === 'error') return message.error?.code === 'source_error' ? undefined : `error:${message.error?.code}`;
      return `reply:${String(type)}`;
    case 'streaming':
      if (type === 'image-generated' || type === 'replay-gap') return undefined;
      if (type === 'error') return message.error?.code === 'image_unavailable' ? undefined : `error:${message.error?.code}`;
      return `reply:${String(type)}`;
    case 'ws':
      if (typeof type === 'string' && (type.startsWith('image.generation.') || type === 'system.notification' || type === 'replay.gap')) return undefined;
      if (type === 'error') return `error:${message.payload?.code}`;
      return `reply:${String(type)}`;
    case 'producer':
      if (type === 'error') return `error:${message.error}`;
      return `reply:${String(type)}`;
  }
}
