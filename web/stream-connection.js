// @ts-check
/**
 * One connection to framehub's `WS /stream/:id` (the JSON protocol of seeds/002): a small state
 * machine around a browser WebSocket that turns wire messages into typed DOM events. It knows
 * nothing about the page; viewer.js wires it to the controls.
 */

/** @typedef {'disconnected' | 'connecting' | 'connected' | 'disconnecting'} ConnectionState */
/** @typedef {'jpeg' | 'png' | 'webp'} ImageFormat */
/** @typedef {{ fps: number, quality: number, format: ImageFormat }} StreamOptions */
/**
 * A `frame` or `screenshot` message's `data`.
 * @typedef {{ data_url: string, format: string, width: number, height: number,
 *   timestamp: number, frame_number: number, size: number }} FrameData
 */
/** @typedef {{ data: FrameData, bytes: number, receivedAt: number }} FrameDetail */
/** @typedef {{ message: string, code: string }} ServerError */
/** @typedef {{ code: number, reason: string, wasClean: boolean }} CloseDetail */

/** Event names this class dispatches; each carries a `CustomEvent.detail` as documented. */
export const ConnectionEvent = Object.freeze({
  /** detail: `{ state, previous }` */
  State: 'state',
  /** detail: FrameDetail */
  Frame: 'frame',
  /** detail: FrameDetail (a full-quality still, answered to take_screenshot) */
  Screenshot: 'screenshot',
  /** detail: `{ data, bytes }`, data being the server's per-connection figures (`stats.data`) */
  Stats: 'stats',
  /** detail: ServerError */
  ServerError: 'server-error',
  /** detail: `{ message }` (source status from the server) */
  Status: 'status',
  /** detail: CloseDetail */
  Closed: 'closed',
});

export class StreamConnection extends EventTarget {
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {ConnectionState} */
  #state = 'disconnected';

  /** @returns {ConnectionState} */
  get state() {
    return this.#state;
  }

  /**
   * Opens `ws(s)://<host>/stream/<id>?fps=&quality=&format=`. A connection already open is
   * closed first, so at most one socket exists.
   * @param {string} baseUrl e.g. `ws://127.0.0.1:8080`
   * @param {string} streamId
   * @param {StreamOptions} options
   */
  connect(baseUrl, streamId, options) {
    this.disconnect();
    const query = new URLSearchParams({ fps: String(options.fps), quality: String(options.quality), format: options.format });
    const ws = new WebSocket(`${baseUrl}/stream/${encodeURIComponent(streamId)}?${query}`);
    this.#ws = ws;
    this.#setState('connecting');

    // Named listeners (greppable) need the instance; a socket replaced by a newer one is ignored.
    const connection = this;
    const isCurrent = () => connection.#ws === ws;
    ws.addEventListener('open', function socketOnOpen() {
      if (isCurrent()) connection.#setState('connected');
    });
    ws.addEventListener('message', function socketOnMessage(event) {
      if (isCurrent()) connection.#onMessage(event);
    });
    ws.addEventListener('close', function socketOnClose(event) {
      if (!isCurrent()) return;
      connection.#ws = null;
      connection.#setState('disconnected');
      connection.#emit(ConnectionEvent.Closed, { code: event.code, reason: event.reason, wasClean: event.wasClean });
    });
    // No 'error' listener: the browser gives errors no detail, and the close event that always
    // follows carries the code.
  }

  disconnect() {
    const ws = this.#ws;
    if (!ws) return;
    this.#setState('disconnecting');
    ws.close(1000, 'viewer disconnected');
  }

  /**
   * Sends `update_options`; only the given fields change. Returns false when not connected.
   * @param {Partial<StreamOptions>} options
   */
  updateOptions(options) {
    return this.#send({ command: 'update_options', options });
  }

  /** Asks for one full-quality still; it arrives as a `screenshot` event. */
  takeScreenshot() {
    return this.#send({ command: 'take_screenshot' });
  }

  /** @param {object} message */
  #send(message) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  /** @param {MessageEvent} event */
  #onMessage(event) {
    const receivedAt = Date.now();
    if (typeof event.data !== 'string') {
      this.#emit(ConnectionEvent.ServerError, { message: 'the server sent a binary message; this route speaks JSON text', code: 'viewer_unexpected_binary' });
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      this.#emit(ConnectionEvent.ServerError, { message: 'the server sent a message that is not JSON', code: 'viewer_bad_message' });
      return;
    }
    const bytes = event.data.length;
    switch (message?.type) {
      case 'frame':
        this.#emit(ConnectionEvent.Frame, { data: message.data, bytes, receivedAt });
        break;
      case 'screenshot':
        this.#emit(ConnectionEvent.Screenshot, { data: message.data, bytes, receivedAt });
        break;
      case 'stats':
        this.#emit(ConnectionEvent.Stats, { data: message.data, bytes });
        break;
      case 'error':
        this.#emit(ConnectionEvent.ServerError, {
          message: String(message.error?.message ?? 'unknown error'),
          code: String(message.error?.code ?? 'unknown'),
        });
        break;
      case 'status':
        this.#emit(ConnectionEvent.Status, { message: String(message.data?.message ?? '') });
        break;
      default:
        // Newer servers may add message types; an old viewer ignores them rather than failing.
        break;
    }
  }

  /** @param {ConnectionState} next */
  #setState(next) {
    const previous = this.#state;
    if (previous === next) return;
    this.#state = next;
    this.#emit(ConnectionEvent.State, { state: next, previous });
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
