// Drives a framehub browser session: create or join one, load a URL, watch its frames over
// Socket.IO (seeds/003's events) and send mouse, wheel and keyboard input back. Coordinates are
// scaled from the size the picture is shown at to the page's own size. Frames are counted by
// the client library's ReceiveStats (served at /framehub-client.min.js), as in the viewer.
// Where the browser decodes H.264 the picture comes from /video/session:<id> instead
// (session-video.js); `?video=jpeg` keeps seeds/003's JPEG frames.
/* global io */
import { ReceiveStats } from '/framehub-client.min.js';
import { ControlPanel } from '/session-control.js';
import { SessionVideo, wantsVideo } from '/session-video.js';

const $ = (id) => document.getElementById(id);
const screen = $('screen');
const state = $('state');
const message = $('message');

/** The session being shown: id and page size in CSS pixels. */
let session;
const stats = new ReceiveStats();
// Mouse moves are sent at most once per animation frame; only the last position matters.
let pendingMove;

/** This page's own `?token=`, passed on to Socket.IO (seeds/003's `auth: {token}`) and every API call. */
const TOKEN = new URLSearchParams(location.search).get('token') ?? '';
const socket = io({ transports: ['websocket', 'polling'], ...(TOKEN && { auth: { token: TOKEN } }) });
// Who controls and who watches; input is sent only while this page may drive the session.
const control = new ControlPanel(socket, say);
// H.264 where the browser decodes it; Socket.IO then carries events and input, no frames.
const video = wantsVideo() ? new SessionVideo(screen, TOKEN, (bytes, capturedAt) => stats.onFrame(bytes, capturedAt)) : null;
$('viewer-name').value = new URLSearchParams(location.search).get('name') ?? '';

/** `subscribe` with the name the other viewers see (presence), when one is given. */
function subscribe() {
  const name = $('viewer-name').value.trim();
  socket.emit('subscribe', { session_id: session.id, ...(name && { name }), ...(video && { frames: false }) });
}

function setState(text, kind) {
  state.textContent = text;
  state.dataset.state = kind;
}

function say(text) {
  message.textContent = text;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(TOKEN && { authorization: `Bearer ${TOKEN}` }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok || data.success === false) throw new Error(data.error ?? `${method} ${path}: HTTP ${response.status}`);
  return data;
}

function enableControls(on) {
  for (const id of ['url', 'quality', 'fps', 'adaptive']) $(id).disabled = !on;
  document.querySelector('#navigate button').disabled = !on;
}

function join(info) {
  session = { id: info.session_id, width: info.width, height: info.height };
  if (info.url && info.url !== 'about:blank') $('url').value = info.url;
  enableControls(true);
  setState(`Session ${session.id}`, 'joining');
  control.setPage(session.width, session.height);
  video?.play(session.id, session.width, session.height);
  subscribe();
  screen.focus();
}

async function refreshExisting() {
  try {
    const { sessions } = await api('GET', '/api/sessions');
    const select = $('existing');
    const chosen = select.value;
    select.replaceChildren(new Option('—', ''), ...sessions.map((s) => new Option(`${s.session_id} (${s.url})`, s.session_id)));
    select.value = sessions.some((s) => s.session_id === chosen) ? chosen : '';
    select.sessions = sessions;
  } catch {
    // The list is a convenience (with tokens checked: the token's own sessions, or every one for `admin`; a share may not list); creating still works.
  }
}

$('create').addEventListener('submit', async function createOnSubmit(event) {
  event.preventDefault();
  const body = { width: Number($('width').value), height: Number($('height').value) };
  if ($('session-id').value) body.session_id = $('session-id').value;
  try {
    join(await api('POST', '/api/session/create', body));
    say('Session created: type a URL and press Go.');
    void refreshExisting();
  } catch (error) {
    say(error.message);
  }
});

$('existing').addEventListener('change', function existingOnChange() {
  const info = this.sessions?.find((s) => s.session_id === this.value);
  if (info) join(info);
});

$('navigate').addEventListener('submit', async function navigateOnSubmit(event) {
  event.preventDefault();
  if (!session) return;
  say('Loading…');
  try {
    const { url } = await api('POST', `/api/session/${encodeURIComponent(session.id)}/load`, { url: $('url').value });
    say(`Loaded ${url}`);
    screen.focus();
  } catch (error) {
    say(error.message);
  }
});

$('quality').addEventListener('change', function qualityOnChange() {
  socket.emit('quality:set', { quality: Number(this.value) });
});
$('fps').addEventListener('change', function fpsOnChange() {
  socket.emit('fps:set', { fps: Number(this.value) });
});
$('adaptive').addEventListener('change', function adaptiveOnChange() {
  socket.emit('adaptive:toggle', { enabled: this.checked });
});

/** Page coordinates of a pointer event on the picture, clamped to the page. */
function pagePoint(event) {
  const rect = screen.getBoundingClientRect();
  const clamp = (v, max) => Math.min(max, Math.max(0, v));
  return {
    x: clamp(Math.round(((event.clientX - rect.left) * session.width) / rect.width), session.width),
    y: clamp(Math.round(((event.clientY - rect.top) * session.height) / rect.height), session.height),
  };
}

const BUTTONS = ['left', 'middle', 'right'];

screen.addEventListener('mousedown', function screenOnMouseDown(event) {
  if (!session || !control.mayInput()) return;
  event.preventDefault();
  screen.focus();
  socket.emit('input:click', { ...pagePoint(event), button: BUTTONS[event.button] ?? 'left' });
});
screen.addEventListener('contextmenu', (event) => event.preventDefault());

screen.addEventListener('mousemove', function screenOnMouseMove(event) {
  if (!session) return;
  control.pointer(pagePoint(event));
  if (!control.mayInput()) return;
  const first = pendingMove === undefined;
  pendingMove = pagePoint(event);
  if (first) {
    requestAnimationFrame(() => {
      socket.emit('input:move', pendingMove);
      pendingMove = undefined;
    });
  }
});

screen.addEventListener('wheel', function screenOnWheel(event) {
  if (!session || !control.mayInput()) return;
  event.preventDefault();
  // deltaMode 1 = lines, 2 = pages; the page wants pixels.
  const scale = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? session.height : 1;
  const clamp = (v) => Math.max(-10000, Math.min(10000, v * scale));
  socket.emit('input:scroll', { deltaX: clamp(event.deltaX), deltaY: clamp(event.deltaY), ...pagePoint(event) });
}, { passive: false });

screen.addEventListener('keydown', function screenOnKeyDown(event) {
  if (!session || !control.mayInput()) return;
  event.preventDefault();
  const modifiers = ['Control', 'Alt', 'Meta'].filter((m) => event.getModifierState(m));
  if (event.key.length === 1 && modifiers.length === 0) {
    socket.emit('input:text', { text: event.key });
    return;
  }
  if (['Control', 'Alt', 'Meta', 'Shift'].includes(event.key)) return;
  if (event.shiftKey && event.key.length > 1) modifiers.push('Shift');
  // Browser key names (Enter, ArrowLeft, F5) are the names the server accepts.
  const key = event.key === ' ' ? 'Space' : event.key;
  socket.emit('input:key', { key: [...modifiers, key].join('+') });
});

socket.on('connect', function socketOnConnect() {
  if (session) subscribe();
});
// A refused token (data.code token_missing, token_invalid, …) ends the handshake here.
socket.on('connect_error', function socketOnConnectError(error) {
  // A link's own refusal (revoked, expired, used up) says it all; a missing token needs the hint.
  if (error.data?.code) say(error.data.code === 'token_missing' ? `${error.message}: add ?token=… to this page's URL` : error.message);
});
socket.on('disconnect', function socketOnDisconnect() {
  setState('Disconnected', 'error');
});
socket.on('subscribed', function socketOnSubscribed(data) {
  setState(`Session ${data.session_id}`, 'live');
  $('quality').value = data.quality;
  $('fps').value = data.fps;
});
socket.on('frame', function socketOnFrame(data) {
  stats.onFrame(data.size, data.timestamp);
  screen.src = `data:image/jpeg;base64,${data.image}`;
});
socket.on('quality:updated', (data) => { $('quality').value = data.quality; });
socket.on('fps:updated', (data) => { $('fps').value = data.fps; });
socket.on('adaptive:updated', (data) => { $('adaptive').checked = data.enabled; });
socket.on('error', function socketOnError(data) {
  say(data?.message ?? 'error');
});
socket.on('status', function socketOnStatus(data) {
  say(data.message);
});

setInterval(function tick() {
  $('stats').textContent = session
    ? `${stats.fps().toFixed(0)} fps · ${(stats.bytes / 1024).toFixed(0)} KiB received · page ${session.width}×${session.height}`
    : '';
}, 1000);

/**
 * A share link (`/session.html?session=<id>&token=…`, docs/sessions.md "Share links") joins its
 * session at once. What the token may do comes from the server (`can_control`), not from the URL.
 */
async function joinFromLink(id) {
  try {
    const info = await api('GET', `/api/session/${encodeURIComponent(id)}`);
    join(info);
    if (!info.can_control) viewOnly();
  } catch (error) {
    setState('Refused', 'error');
    say(error.message);
  }
}

/** A view link watches: the controls that drive the page go, and the picture takes no pointer or keys (the server would refuse them anyway). */
function viewOnly() {
  document.body.dataset.mode = 'view';
  for (const element of [$('create'), $('url'), document.querySelector('#navigate button')]) {
    element.disabled = true;
    element.style.display = 'none';
  }
  screen.style.pointerEvents = 'none';
  screen.removeAttribute('tabindex');
  screen.blur();
  say('View only: this link lets you watch the page, not drive it.');
}

const LINKED_SESSION = new URLSearchParams(location.search).get('session');
if (LINKED_SESSION) void joinFromLink(LINKED_SESSION);
else void refreshExisting();
