// @ts-check
/**
 * The web viewer at `/`: wires the page's controls to framehub's own client library
 * (StreamClient, seeds/002, served at `/framehub-client.min.js`), draws frames with FramePainter
 * and shows the library's ReceiveStats. Only UI lives here. Plain browser JavaScript, no build step.
 *
 * The page also reads `?stream=&fps=&quality=&format=&tier=&connect=1` from its own URL, so a
 * link can open a given stream with given settings.
 *
 * Format H.264 plays the stream's video tier (`/video/:id`) with the library's VideoPlayer
 * (WebCodecs); where the browser has no VideoDecoder the page says so and shows JPEG instead.
 */
import { ReceiveStats, StreamClient, StreamClientEvent, VideoPlayer, VideoPlayerEvent } from '/framehub-client.min.js';
import { FramePainter, dataUrlToBlob } from './frame-painter.js';
import { extensionFor, formatBytes, formatClock, formatDuration, formatLatency } from './view-format.js';
import { PlaybackTimeline } from './playback-timeline.js';

/** @typedef {{ fps: number, quality: number, format: 'jpeg' | 'png' | 'webp' }} StreamOptions */
/** @typedef {'auto' | '720p' | '480p' | '360p'} VideoTier */
/**
 * A `frame` or `screenshot` message's `data` (the library's `StreamFrame`).
 * @typedef {{ data_url: string, format: string, width: number, height: number,
 *   timestamp: number, frame_number: number, size: number }} FrameData
 */
/** @typedef {'disconnected' | 'connecting' | 'connected' | 'disconnecting'} ConnectionState */
/** @typedef {'info' | 'ok' | 'error'} StatusLevel */

/** Option changes go out once input rests this long; a slider drag's only after its release (`sliderHeld`). */
const OPTION_DEBOUNCE_MS = 150;
/** The stats panel is redrawn a few times a second, not per frame. */
const RENDER_INTERVAL_MS = 250;
const CUSTOM_ID = '__custom__';
/** This page's own `?token=`, passed on to the stream socket and `/api/streams` (framehub's access model). */
const PAGE_TOKEN = new URLSearchParams(location.search).get('token') ?? '';
const STATE_LABELS = /** @type {const} */ ({
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  disconnecting: 'Disconnecting…',
  reconnecting: 'Reconnecting…',
});

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function element(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`viewer page is missing #${id}`);
  return found;
}

const ui = {
  form: element('controls', HTMLFormElement),
  state: element('connection-state', HTMLElement),
  streamSelect: element('stream-select', HTMLSelectElement),
  refreshStreams: element('refresh-streams', HTMLButtonElement),
  customIdField: element('custom-id-field', HTMLElement),
  customId: element('stream-custom-id', HTMLInputElement),
  fps: element('fps-input', HTMLInputElement),
  fpsValue: element('fps-value', HTMLOutputElement),
  quality: element('quality-input', HTMLInputElement),
  qualityValue: element('quality-value', HTMLOutputElement),
  format: element('format-select', HTMLSelectElement),
  tierField: element('tier-field', HTMLElement),
  tier: element('tier-select', HTMLSelectElement),
  connect: element('connect-button', HTMLButtonElement),
  screenshot: element('screenshot-button', HTMLButtonElement),
  reset: element('reset-button', HTMLButtonElement),
  status: element('status', HTMLElement),
  canvas: element('stream-canvas', HTMLCanvasElement),
  placeholder: element('placeholder', HTMLElement),
};

/** A `recording:<id>` stream's timeline (scrub, pause/play, speed); hidden for every other stream. */
const timeline = new PlaybackTimeline({
  root: element('timeline', HTMLElement),
  range: element('timeline-range', HTMLInputElement),
  play: element('timeline-play', HTMLButtonElement),
  speed: element('timeline-speed', HTMLSelectElement),
  position: element('timeline-position', HTMLOutputElement),
}, PAGE_TOKEN, function timelineOnError(message) {
  setStatus(message, 'error');
});

/** @type {StreamClient | null} the connection shown; a new one per Connect */
let client = null;
/** H.264 was chosen but this browser cannot decode it: the connection is JPEG instead. */
let jpegFallback = false;
const NO_WEBCODECS = 'This browser cannot decode H.264 here (no WebCodecs VideoDecoder; it needs https or localhost): showing JPEG.';
/** @type {VideoPlayer | null} the H.264 connection shown, instead of `client` */
let player = null;
/** A reconnect is scheduled: the page is between connections, not done. */
let reconnecting = false;
const stats = new ReceiveStats();
const painter = new FramePainter(ui.canvas, function painterOnDrawn() {
  ui.placeholder.hidden = true;
});

/** Per-connection state; options the user changed but that are not sent yet. */
let connectedAt = NaN;
let streamLabel = '';
/** @type {{ message: string, code: string } | null} the latest server error of this connection */
let lastServerError = null;
/** @type {FrameData | null} */
let lastFrame = null;
/** @type {Record<string, unknown> | null} */
let serverStats = null;
/** @type {Partial<StreamOptions>} */
let unsentOptions = {};
/** @type {ReturnType<typeof setTimeout> | undefined} */
let unsentTimer;

// ---- controls -------------------------------------------------------------------------------

/** @returns {StreamOptions} the image options (H.264 asks StreamClient for JPEG, its fallback) */
function currentOptions() {
  return {
    fps: Number(ui.fps.value),
    quality: Number(ui.quality.value),
    format: /** @type {StreamOptions['format']} */ (wantsVideo() ? 'jpeg' : ui.format.value),
  };
}

function wantsVideo() {
  return ui.format.value === 'h264';
}

function selectedStreamId() {
  return ui.streamSelect.value === CUSTOM_ID ? ui.customId.value.trim() : ui.streamSelect.value;
}

/**
 * Queues option changes for the open connection; they go out together once input rests.
 * @param {Partial<StreamOptions>} changes
 * @param {number} delay
 */
function queueOptions(changes, delay) {
  if (client?.state !== 'connected') return;
  Object.assign(unsentOptions, changes);
  clearTimeout(unsentTimer);
  unsentTimer = setTimeout(flushOptions, delay);
}

function flushOptions() {
  clearTimeout(unsentTimer);
  unsentTimer = undefined;
  if (Object.keys(unsentOptions).length === 0) return;
  client?.updateOptions(unsentOptions);
  unsentOptions = {};
}

function dropUnsentOptions() {
  clearTimeout(unsentTimer);
  unsentTimer = undefined;
  unsentOptions = {};
}

/**
 * Whether a pointer holds a slider: a drag sends its value when released (the slider's
 * `change`), however slowly the pointer moves; a timer alone would fire during a slow drag.
 */
let sliderHeld = false;

/**
 * @param {Partial<StreamOptions>} changes
 */
function sliderMoved(changes) {
  if (sliderHeld && client?.state === 'connected') Object.assign(unsentOptions, changes);
  else queueOptions(changes, OPTION_DEBOUNCE_MS);
}

for (const slider of [ui.fps, ui.quality]) {
  slider.addEventListener('pointerdown', function sliderOnPointerDown() {
    sliderHeld = true;
  });
  // Released (or a keyboard step committed): what is pending goes out once input rests.
  slider.addEventListener('change', function sliderOnChange() {
    sliderHeld = false;
    queueOptions({}, OPTION_DEBOUNCE_MS);
  });
}
// A pointer released elsewhere, or taken away, ends the hold too (a value dragged back to where it
// started fires no `change`).
for (const type of ['pointerup', 'pointercancel']) {
  window.addEventListener(type, function windowOnPointerUp() {
    if (!sliderHeld) return;
    sliderHeld = false;
    queueOptions({}, OPTION_DEBOUNCE_MS);
  });
}

ui.fps.addEventListener('input', function fpsOnInput() {
  ui.fpsValue.value = ui.fps.value;
  sliderMoved({ fps: Number(ui.fps.value) });
});

ui.quality.addEventListener('input', function qualityOnInput() {
  ui.qualityValue.value = ui.quality.value;
  sliderMoved({ quality: Number(ui.quality.value) });
});

ui.format.addEventListener('change', function formatOnChange() {
  ui.tierField.hidden = !wantsVideo();
  // Between images and video the connection itself changes.
  if (isActive() && (player !== null) !== (wantsVideo() && VideoPlayer.supported)) {
    connect();
    return;
  }
  // A discrete choice: send at once, together with any slider value still waiting.
  queueOptions({ format: currentOptions().format }, 0);
});

ui.tier.addEventListener('change', function tierOnChange() {
  player?.setTier(/** @type {VideoTier} */ (ui.tier.value));
});

ui.streamSelect.addEventListener('change', function streamSelectOnChange() {
  ui.customIdField.hidden = ui.streamSelect.value !== CUSTOM_ID;
  if (!ui.customIdField.hidden) ui.customId.focus();
});

ui.form.addEventListener('submit', function formOnSubmit(event) {
  event.preventDefault();
  if (isActive()) disconnect();
  else connect();
});

ui.screenshot.addEventListener('click', function screenshotOnClick() {
  if (client?.takeScreenshot()) setStatus('Taking a screenshot…', 'info');
});

ui.reset.addEventListener('click', function resetOnClick() {
  stats.reset();
  painter.resetCounters();
  lastFrame = null;
  render();
});

ui.refreshStreams.addEventListener('click', function refreshOnClick() {
  void loadStreams();
});

function connect() {
  const id = selectedStreamId();
  if (id === '') {
    setStatus('Enter a stream id first.', 'error');
    ui.customId.focus();
    return;
  }
  dropUnsentOptions();
  lastServerError = null;
  serverStats = null;
  streamLabel = id === '0' ? 'the primary stream' : `stream "${id}"`;
  setStatus(`Connecting to ${streamLabel}…`, 'info');
  client?.disconnect();
  client = null;
  closePlayer();
  reconnecting = false;
  timeline.show(id);
  if (wantsVideo()) {
    if (VideoPlayer.supported) {
      connectVideo(id);
      return;
    }
    setStatus(NO_WEBCODECS, 'error');
  }
  jpegFallback = wantsVideo();
  const next = new StreamClient({ url: location.origin, stream: id, ...currentOptions(), ...(PAGE_TOKEN && { getToken: async () => PAGE_TOKEN }) });
  client = next;
  listen(next);
  // Failures arrive as events (close, reconnect:failed); the promise adds nothing to show.
  next.connect().catch(() => {});
}

/** @param {string} id */
function connectVideo(id) {
  const next = new VideoPlayer({
    url: location.origin, stream: id, tier: /** @type {VideoTier} */ (ui.tier.value), canvas: ui.canvas, ...(PAGE_TOKEN && { token: PAGE_TOKEN }),
  });
  player = next;
  const current = () => next === player;
  next.on(VideoPlayerEvent.Open, function playerOnOpen() {
    if (!current()) return;
    connectedAt = Date.now();
    setStatus(`Connected to ${streamLabel} (H.264).`, 'ok');
    showState();
  });
  next.on(VideoPlayerEvent.Frame, function playerOnFrame() {
    if (current()) ui.placeholder.hidden = true;
  });
  next.on(VideoPlayerEvent.Error, function playerOnError({ error, context }) {
    if (current() && context !== 'connection') setStatus(`${context === 'server' ? 'Server' : 'Player'} error: ${error.message}`, 'error');
  });
  next.on(VideoPlayerEvent.Close, function playerOnClose({ code, reason, willReconnect }) {
    if (!current()) return;
    if (!willReconnect) player = null;
    onClose(code, reason, willReconnect);
  });
  next.on(VideoPlayerEvent.Reconnecting, function playerOnReconnecting(event) {
    if (current()) showReconnecting(event);
  });
  next.connect();
  showState();
}

function closePlayer() {
  const closing = player;
  player = null;
  closing?.close();
}

function disconnect() {
  if (reconnecting) setStatus('Disconnected.', 'info');
  reconnecting = false;
  client?.disconnect();
  if (player) {
    closePlayer();
    onClose(1000, '', false);
  }
  showState();
}

/** Connected, on the way there, or waiting to reconnect: the button then says Disconnect. */
function isActive() {
  const state = player ? player.state : client?.state;
  return state === 'connected' || state === 'connecting' || reconnecting;
}

function showState() {
  /** @type {ConnectionState} */
  const state = player ? player.state : client?.state ?? 'disconnected';
  const shown = reconnecting && state === 'disconnected' ? 'reconnecting' : state;
  ui.state.dataset['state'] = shown;
  ui.state.textContent = STATE_LABELS[shown];
  ui.connect.textContent = isActive() ? 'Disconnect' : 'Connect';
  ui.connect.classList.toggle('danger', isActive());
  ui.screenshot.disabled = state !== 'connected' || player !== null;
  ui.canvas.classList.toggle('stale', state !== 'connected');
  render();
}

// ---- connection events ----------------------------------------------------------------------

/**
 * Wires one client's events to the page; events of a client replaced by a newer one are ignored.
 * @param {StreamClient} source
 */
function listen(source) {
  const current = () => source === client;
  source.on(StreamClientEvent.StateChange, function clientOnStateChange({ newState }) {
    if (!current()) return;
    if (newState === 'connected') {
      connectedAt = Date.now();
      reconnecting = false;
      lastServerError = null;
      if (jpegFallback) setStatus(`Connected to ${streamLabel}. ${NO_WEBCODECS}`, 'error');
      else setStatus(`Connected to ${streamLabel}.`, 'ok');
    }
    if (newState !== 'connected') dropUnsentOptions();
    showState();
  });
  source.on(StreamClientEvent.Frame, function clientOnFrame(event) {
    if (current()) onFrame(event);
  });
  source.on(StreamClientEvent.Screenshot, function clientOnScreenshot(event) {
    if (current()) onScreenshot(event);
  });
  source.on(StreamClientEvent.Stats, function clientOnStats({ stats: data, bytes }) {
    if (!current()) return;
    stats.onMessage(bytes);
    serverStats = data;
  });
  source.on(StreamClientEvent.ServerError, function clientOnServerError(error) {
    if (!current()) return;
    lastServerError = error;
    setStatus(`Server error (${error.code}): ${error.message}`, 'error');
  });
  source.on(StreamClientEvent.Status, function clientOnStatus(data) {
    if (!current()) return;
    timeline.onStatus(data);
    setStatus(`Server: ${data.message}`, 'info');
  });
  source.on(StreamClientEvent.Error, function clientOnError({ error, context }) {
    // Connection errors carry no detail in browsers; the close that follows says what happened.
    if (current() && context !== 'connection') setStatus(`Client error (${context}): ${error.message}`, 'error');
  });
  source.on(StreamClientEvent.Close, function clientOnClose({ code, reason, willReconnect }) {
    if (current()) onClose(code, reason, willReconnect);
  });
  source.on(StreamClientEvent.Reconnecting, function clientOnReconnecting(event) {
    if (current()) showReconnecting(event);
  });
}

/** A reconnect is scheduled (either connection kind): say when, after why it closed. @param {{ attempt: number, delay: number }} event */
function showReconnecting({ attempt, delay }) {
  reconnecting = true;
  setStatus(`${ui.status.textContent} Reconnecting in ${Math.max(1, Math.round(delay / 1000))} s (attempt ${attempt})…`, 'error');
  showState();
}

/** @param {{ frame: FrameData, bytes: number, receivedAt: number }} event */
function onFrame({ frame, bytes, receivedAt }) {
  stats.onFrame(bytes, frame.timestamp, receivedAt);
  lastFrame = frame;
  painter.offer(frame);
}

/** @param {{ frame: FrameData, bytes: number }} event */
function onScreenshot({ frame: data, bytes }) {
  stats.onMessage(bytes);
  try {
    const name = saveImage(data);
    setStatus(`Screenshot saved as ${name} (${data.width}×${data.height}, ${formatBytes(data.size)}).`, 'ok');
  } catch (error) {
    setStatus(`The screenshot could not be saved: ${/** @type {Error} */ (error).message}`, 'error');
  }
}

/**
 * @param {number} code
 * @param {string} reason
 * @param {boolean} willReconnect
 */
function onClose(code, reason, willReconnect) {
  if (!willReconnect) {
    reconnecting = false;
    timeline.hide();
  }
  connectedAt = NaN;
  ui.placeholder.hidden = false;
  ui.placeholder.textContent = 'Not connected';
  const closeText = reason ? `code ${code}: ${reason}` : `code ${code}`;
  if (lastServerError) {
    // Keep the server's own words: they say why the connection ended.
    setStatus(`Disconnected (${closeText}). Server error (${lastServerError.code}): ${lastServerError.message}`, 'error');
  } else if (code === 1000 || code === 1005) {
    setStatus('Disconnected.', 'info');
  } else if (code === 1006) {
    setStatus(`The connection to ${streamLabel} was lost or could not be opened (code 1006). Is framehub running?`, 'error');
  } else {
    setStatus(`Disconnected by the server (${closeText}).`, 'error');
  }
  showState();
}

// ---- output ---------------------------------------------------------------------------------

/**
 * @param {string} text
 * @param {StatusLevel} level
 */
function setStatus(text, level) {
  ui.status.textContent = text;
  ui.status.dataset['level'] = level;
}

/**
 * @param {string} id
 * @param {string} text
 * @param {string | number} value machine-readable value for tests and scripts
 */
function show(id, text, value) {
  const el = document.getElementById(id);
  if (!el) return;
  if (el.textContent !== text) el.textContent = text;
  el.dataset['value'] = String(value);
}

function render() {
  if (player) return renderVideo(player);
  show('stat-bitrate', '—', '');
  show('stat-decode', '—', '');
  const now = Date.now();
  const fps = stats.fps(now);
  show('stat-frames', String(stats.frames), stats.frames);
  show('stat-drawn', String(painter.drawn), painter.drawn);
  show('stat-skipped', String(painter.skipped), painter.skipped);
  show('stat-fps', fps.toFixed(1), fps);
  show('stat-data', formatBytes(stats.bytes), stats.bytes);
  const connectedFor = Number.isFinite(connectedAt) ? now - connectedAt : 0;
  show('stat-connection-time', formatDuration(connectedFor), Math.floor(connectedFor / 1000));
  show('stat-last-frame', formatClock(stats.lastFrameAt), Number.isFinite(stats.lastFrameAt) ? stats.lastFrameAt : '');
  show('stat-latency', formatLatency(painter.lastLatency), Number.isFinite(painter.lastLatency) ? Math.round(painter.lastLatency) : '');
  show('stat-arrival-latency', formatLatency(stats.lastArrivalLatency),
    Number.isFinite(stats.lastArrivalLatency) ? Math.round(stats.lastArrivalLatency) : '');
  show('stat-image', lastFrame ? `${lastFrame.format.toUpperCase()} ${lastFrame.width}×${lastFrame.height}` : '—', lastFrame?.format ?? '');
  show('stat-frame-size', lastFrame ? formatBytes(lastFrame.size) : '—', lastFrame?.size ?? '');
  show('stat-frame-number', lastFrame ? String(lastFrame.frame_number) : '—', lastFrame?.frame_number ?? '');

  const s = serverStats;
  show('server-target', s ? `${s['fps']} fps · q${s['quality']} · ${String(s['format']).toUpperCase()}` : '—',
    s ? `${s['fps']}/${s['quality']}/${s['format']}` : '');
  show('server-fps', s ? Number(s['actual_fps']).toFixed(0) : '—', s ? Number(s['actual_fps']) : '');
  show('server-source-fps', s ? Number(s['source_fps']).toFixed(1) : '—', s ? Number(s['source_fps']) : '');
  show('server-dropped', s ? String(s['frames_dropped']) : '—', s ? Number(s['frames_dropped']) : '');
  show('server-subscribers', s ? String(s['subscribers']) : '—', s ? Number(s['subscribers']) : '');
}

/** The statistics of an H.264 connection, from the player's own counters. @param {VideoPlayer} source */
function renderVideo(source) {
  const s = source.stats;
  const now = Date.now();
  show('stat-frames', String(s.units), s.units);
  show('stat-drawn', String(s.drawn), s.drawn);
  show('stat-skipped', String(s.skipped), s.skipped);
  show('stat-fps', '—', '');
  show('stat-data', formatBytes(s.bytes), s.bytes);
  const connectedFor = Number.isFinite(connectedAt) ? now - connectedAt : 0;
  show('stat-connection-time', formatDuration(connectedFor), Math.floor(connectedFor / 1000));
  show('stat-last-frame', '—', '');
  show('stat-latency', formatLatency(s.latencyMs), Number.isFinite(s.latencyMs) ? Math.round(s.latencyMs) : '');
  show('stat-arrival-latency', '—', '');
  show('stat-image', s.codec ? `${s.codec} ${s.width}×${s.height}` : '—', s.codec);
  show('stat-frame-size', '—', '');
  show('stat-frame-number', '—', '');
  show('stat-bitrate', `${(s.bitrate / 1e6).toFixed(2)} Mbit/s`, Math.round(s.bitrate));
  show('stat-decode', Number.isFinite(s.decodeMs) ? `${s.decodeMs.toFixed(1)} ms` : '—', Number.isFinite(s.decodeMs) ? s.decodeMs : '');
  for (const id of ['server-target', 'server-fps', 'server-source-fps', 'server-dropped', 'server-subscribers']) show(id, '—', '');
}

/**
 * Downloads a screenshot as a file named after the stream and the capture time.
 * @param {FrameData} data
 * @returns {string} the file name
 */
function saveImage(data) {
  const url = URL.createObjectURL(dataUrlToBlob(data.data_url));
  const id = selectedStreamId().replace(/[^A-Za-z0-9_.-]/g, '_') || 'stream';
  const stamp = new Date(data.timestamp).toISOString().replace(/[:.]/g, '-');
  const name = `framehub-${id}-${stamp}.${extensionFor(data.format)}`;
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  // The download reads the blob asynchronously; free it once it surely has.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

// ---- start-up -------------------------------------------------------------------------------

/** Fills the stream picker from `GET /api/streams`, keeping the current choice. */
async function loadStreams() {
  const keep = ui.streamSelect.value;
  try {
    const response = await fetch('/api/streams', { cache: 'no-store', headers: PAGE_TOKEN ? { authorization: `Bearer ${PAGE_TOKEN}` } : {} });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    /** @type {{ primary: string, streams: { id: string, kind: string, state: string }[] }} */
    const body = await response.json();
    const options = [new Option(`0 — primary (${body.primary})`, '0')];
    for (const stream of body.streams) options.push(new Option(`${stream.id} — ${stream.kind}`, stream.id));
    options.push(new Option('Other id…', CUSTOM_ID));
    ui.streamSelect.replaceChildren(...options);
    ui.streamSelect.value = options.some((o) => o.value === keep) ? keep : '0';
  } catch (error) {
    setStatus(`Could not load the stream list: ${/** @type {Error} */ (error).message}`, 'error');
  }
  ui.customIdField.hidden = ui.streamSelect.value !== CUSTOM_ID;
}

/** Applies `?stream=&fps=&quality=&format=&connect=1` from the page URL. */
function applyPageQuery() {
  const query = new URLSearchParams(location.search);
  const stream = query.get('stream');
  if (stream !== null) {
    const listed = [...ui.streamSelect.options].some((o) => o.value === stream && o.value !== CUSTOM_ID);
    ui.streamSelect.value = listed ? stream : CUSTOM_ID;
    if (!listed) ui.customId.value = stream;
    ui.customIdField.hidden = listed;
  }
  for (const [name, input, output] of /** @type {const} */ ([['fps', ui.fps, ui.fpsValue], ['quality', ui.quality, ui.qualityValue]])) {
    const value = query.get(name);
    if (value !== null) {
      input.value = value;
      output.value = input.value;
    }
  }
  const format = query.get('format');
  if (format && [...ui.format.options].some((o) => o.value === format)) ui.format.value = format;
  const tier = query.get('tier');
  if (tier && [...ui.tier.options].some((o) => o.value === tier)) ui.tier.value = tier;
  ui.tierField.hidden = !wantsVideo();
  return query.get('connect') === '1';
}

setInterval(render, RENDER_INTERVAL_MS);
render();
await loadStreams();
if (applyPageQuery()) connect();
ui.form.dataset['ready'] = 'true';
