// @ts-check
/**
 * The viewer's timeline for a recording's playback (`recording:<id>`, docs/recording.md
 * "Playback"): the recording's extent and the position, a scrubber that seeks, pause/play and
 * the speed. It steers through the same REST commands any client has
 * (`POST /api/streams/<id>/playback`), reads the state from their answers and from the status
 * notices the stream sends every viewer, and counts the position on between them.
 * Plain browser JavaScript, no build step.
 */

/**
 * @typedef {{ recording_id: string, position: number, duration: number, speed: number,
 *   paused: boolean, ended: boolean, recording: boolean }} PlaybackState
 */

/** The shown position is counted on this often; the state is read again every READ_MS (a recording under way grows). */
const TICK_MS = 250;
const READ_MS = 2000;
const PREFIX = 'recording:';

/** @param {number} seconds */
function clock(seconds) {
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
}

export class PlaybackTimeline {
  /** @type {string | null} the stream shown, when it is a playback */
  #stream = null;
  /** @type {PlaybackState | null} */
  #state = null;
  /** `performance.now()` when `#state` was read */
  #stateAt = 0;
  /** The scrubber is held: the shown position follows the pointer, not the playback. */
  #scrubbing = false;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #ticker;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #reader;

  /**
   * @param {{ root: HTMLElement, range: HTMLInputElement, play: HTMLButtonElement, speed: HTMLSelectElement, position: HTMLOutputElement }} ui
   * @param {string} token the page's `?token=`, passed on as a bearer token
   * @param {(message: string) => void} onError where a refused command is told
   */
  constructor(ui, token, onError) {
    this.ui = ui;
    this.token = token;
    this.onError = onError;
    ui.range.addEventListener('input', () => {
      this.#scrubbing = true;
      this.#show(Number(ui.range.value));
    });
    // Released (or a keyboard step): one seek, to where it was let go.
    ui.range.addEventListener('change', () => {
      this.#scrubbing = false;
      void this.#command({ seek: Number(ui.range.value) });
    });
    ui.play.addEventListener('click', () => {
      if (this.#state) void this.#command({ paused: !this.#state.paused });
    });
    ui.speed.addEventListener('change', () => {
      void this.#command({ speed: Number(ui.speed.value) });
    });
  }

  /** @param {string} stream the stream the page connected to: a timeline for a playback, none otherwise */
  show(stream) {
    this.hide();
    if (!stream.startsWith(PREFIX)) return;
    this.#stream = stream;
    this.ui.root.hidden = false;
    this.ui.root.dataset['stream'] = stream;
    void this.#read();
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
    this.#reader = setInterval(() => void this.#read(), READ_MS);
  }

  hide() {
    clearInterval(this.#ticker);
    clearInterval(this.#reader);
    this.#stream = null;
    this.#state = null;
    this.ui.root.hidden = true;
    delete this.ui.root.dataset['stream'];
  }

  /** A status notice of the stream: it carries the playback's state when the playback changed. @param {unknown} data */
  onStatus(data) {
    const playback = /** @type {{ playback?: PlaybackState } | null} */ (data)?.playback;
    if (this.#stream && playback && typeof playback.position === 'number') this.#take(playback);
  }

  async #read() {
    const stream = this.#stream;
    if (!stream) return;
    try {
      const response = await fetch(this.#url(stream), { cache: 'no-store', headers: this.#headers() });
      if (response.ok && stream === this.#stream) this.#take(await response.json());
    } catch {
      // The next read tries again; the connection's own status line says if the server is gone.
    }
  }

  /** @param {{ seek?: number, speed?: number, paused?: boolean }} change */
  async #command(change) {
    const stream = this.#stream;
    if (!stream) return;
    try {
      const response = await fetch(this.#url(stream), { method: 'POST', headers: { ...this.#headers(), 'content-type': 'application/json' }, body: JSON.stringify(change) });
      const body = await response.json();
      if (stream !== this.#stream) return;
      if (response.ok) this.#take(body);
      else this.onError(`Playback: ${body.message ?? `HTTP ${response.status}`}`);
    } catch (error) {
      this.onError(`Playback: ${/** @type {Error} */ (error).message}`);
    }
  }

  /** @param {PlaybackState} state */
  #take(state) {
    this.#state = state;
    this.#stateAt = performance.now();
    this.ui.play.textContent = state.paused ? 'Play' : 'Pause';
    this.ui.play.dataset['paused'] = String(state.paused);
    this.ui.root.dataset['ended'] = String(state.ended);
    if (Number(this.ui.speed.value) !== state.speed) this.ui.speed.value = String(state.speed);
    this.#tick();
  }

  /** Counts the position on from the last state: playing, it moves at the speed; a recording under way grows. */
  #tick() {
    const state = this.#state;
    if (!state) return;
    const elapsed = (performance.now() - this.#stateAt) / 1000;
    const duration = state.duration + (state.recording ? elapsed : 0);
    const position = Math.min(duration, state.position + (state.paused ? 0 : elapsed * state.speed));
    this.ui.range.max = String(duration);
    this.ui.root.dataset['duration'] = duration.toFixed(3);
    this.ui.root.dataset['position'] = position.toFixed(3);
    if (!this.#scrubbing) this.#show(position);
  }

  /** @param {number} position */
  #show(position) {
    if (!this.#scrubbing) this.ui.range.value = String(position);
    this.ui.position.value = `${clock(position)} / ${clock(Number(this.ui.range.max))}`;
  }

  /** @param {string} stream */
  #url(stream) {
    return `/api/streams/${encodeURIComponent(stream)}/playback`;
  }

  /** @returns {Record<string, string>} */
  #headers() {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }
}
