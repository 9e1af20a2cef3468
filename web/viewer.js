// @ts-check
/**
 * The web viewer at `/`: wires the page's controls to one StreamConnection, draws frames with
 * FramePainter and shows ViewerStats. Plain browser JavaScript, no build step.
 *
 * The page also reads `?stream=&fps=&quality=&format=&connect=1` from its own URL, so a link
 * can open a given stream with given settings.
 */
import { ConnectionEvent, StreamConnection } from './stream-connection.js';
import { FramePainter, dataUrlToBlob } from './frame-painter.js';
import { ViewerStats } from './viewer-stats.js';
import { extensionFor, formatBytes, formatClock, formatDuration, formatLatency } from './view-format.js';

/** @typedef {import('./stream-connection.js').StreamOptions} StreamOptions */
/** @typedef {import('./stream-connection.js').FrameData} FrameData */
/** @typedef {import('./stream-connection.js').ConnectionState} ConnectionState */
/** @typedef {'info' | 'ok' | 'error'} StatusLevel */

/** Slider drags fire `input` many times a second; send the settled value once it rests this long. */
const OPTION_DEBOUNCE_MS = 150;
/** The stats panel is redrawn a few times a second, not per frame. */
const RENDER_INTERVAL_MS = 250;
const CUSTOM_ID = '__custom__';
const STATE_LABELS = /** @type {const} */ ({
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  disconnecting: 'Disconnecting…',
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
  connect: element('connect-button', HTMLButtonElement),
  screenshot: element('screenshot-button', HTMLButtonElement),
  reset: element('reset-button', HTMLButtonElement),
  status: element('status', HTMLElement),
  canvas: element('stream-canvas', HTMLCanvasElement),
  placeholder: element('placeholder', HTMLElement),
};

const connection = new StreamConnection();
const stats = new ViewerStats();
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

/** @returns {StreamOptions} */
function currentOptions() {
  return {
    fps: Number(ui.fps.value),
    quality: Number(ui.quality.value),
    format: /** @type {StreamOptions['format']} */ (ui.format.value),
  };
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
  if (connection.state !== 'connected') return;
  Object.assign(unsentOptions, changes);
  clearTimeout(unsentTimer);
  unsentTimer = setTimeout(flushOptions, delay);
}

function flushOptions() {
  clearTimeout(unsentTimer);
  unsentTimer = undefined;
  if (Object.keys(unsentOptions).length === 0) return;
  connection.updateOptions(unsentOptions);
  unsentOptions = {};
}

function dropUnsentOptions() {
  clearTimeout(unsentTimer);
  unsentTimer = undefined;
  unsentOptions = {};
}

ui.fps.addEventListener('input', function fpsOnInput() {
  ui.fpsValue.value = ui.fps.value;
  queueOptions({ fps: Number(ui.fps.value) }, OPTION_DEBOUNCE_MS);
});

ui.quality.addEventListener('input', function qualityOnInput() {
  ui.qualityValue.value = ui.quality.value;
  queueOptions({ quality: Number(ui.quality.value) }, OPTION_DEBOUNCE_MS);
});

ui.format.addEventListener('change', function formatOnChange() {
  // A discrete choice: send at once, together with any slider value still waiting.
  queueOptions({ format: currentOptions().format }, 0);
});

ui.streamSelect.addEventListener('change', function streamSelectOnChange() {
  ui.customIdField.hidden = ui.streamSelect.value !== CUSTOM_ID;
  if (!ui.customIdField.hidden) ui.customId.focus();
});

ui.form.addEventListener('submit', function formOnSubmit(event) {
  event.preventDefault();
  if (connection.state === 'connected' || connection.state === 'connecting') connection.disconnect();
  else connect();
});

ui.screenshot.addEventListener('click', function screenshotOnClick() {
  if (connection.takeScreenshot()) setStatus('Taking a screenshot…', 'info');
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
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  setStatus(`Connecting to ${streamLabel}…`, 'info');
  connection.connect(`${scheme}://${location.host}`, id, currentOptions());
}

// ---- connection events ----------------------------------------------------------------------

connection.addEventListener(ConnectionEvent.State, function connectionOnState(event) {
  const { state } = /** @type {CustomEvent<{ state: ConnectionState }>} */ (event).detail;
  ui.state.dataset['state'] = state;
  ui.state.textContent = STATE_LABELS[state];
  ui.connect.textContent = state === 'connected' || state === 'connecting' ? 'Disconnect' : 'Connect';
  ui.connect.classList.toggle('danger', state === 'connected' || state === 'connecting');
  ui.screenshot.disabled = state !== 'connected';
  ui.canvas.classList.toggle('stale', state !== 'connected');
  if (state === 'connected') {
    connectedAt = Date.now();
    setStatus(`Connected to ${streamLabel}.`, 'ok');
  }
  if (state !== 'connected') dropUnsentOptions();
  render();
});

connection.addEventListener(ConnectionEvent.Frame, function connectionOnFrame(event) {
  const { data, bytes, receivedAt } = /** @type {CustomEvent<import('./stream-connection.js').FrameDetail>} */ (event).detail;
  stats.onFrame(bytes, data.timestamp, receivedAt);
  lastFrame = data;
  painter.offer(data);
});

connection.addEventListener(ConnectionEvent.Screenshot, function connectionOnScreenshot(event) {
  const { data, bytes } = /** @type {CustomEvent<import('./stream-connection.js').FrameDetail>} */ (event).detail;
  stats.onMessage(bytes);
  try {
    const name = saveImage(data);
    setStatus(`Screenshot saved as ${name} (${data.width}×${data.height}, ${formatBytes(data.size)}).`, 'ok');
  } catch (error) {
    setStatus(`The screenshot could not be saved: ${/** @type {Error} */ (error).message}`, 'error');
  }
});

connection.addEventListener(ConnectionEvent.Stats, function connectionOnStats(event) {
  const { data, bytes } = /** @type {CustomEvent<{ data: Record<string, unknown>, bytes: number }>} */ (event).detail;
  stats.onMessage(bytes);
  serverStats = data;
});

connection.addEventListener(ConnectionEvent.ServerError, function connectionOnServerError(event) {
  const error = /** @type {CustomEvent<{ message: string, code: string }>} */ (event).detail;
  lastServerError = error;
  setStatus(`Server error (${error.code}): ${error.message}`, 'error');
});

connection.addEventListener(ConnectionEvent.Status, function connectionOnStatus(event) {
  const { message } = /** @type {CustomEvent<{ message: string }>} */ (event).detail;
  setStatus(`Server: ${message}`, 'info');
});

connection.addEventListener(ConnectionEvent.Closed, function connectionOnClosed(event) {
  const { code, reason } = /** @type {CustomEvent<import('./stream-connection.js').CloseDetail>} */ (event).detail;
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
  render();
});

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
    const response = await fetch('/api/streams', { cache: 'no-store' });
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
  return query.get('connect') === '1';
}

setInterval(render, RENDER_INTERVAL_MS);
render();
await loadStreams();
if (applyPageQuery()) connect();
ui.form.dataset['ready'] = 'true';
