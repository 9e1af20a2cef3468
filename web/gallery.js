// The gallery of generated images: GET /api/images for the list (newest first), then the `/ws`
// event stream for new ones (image.generation.completed) through framehub's own client library
// (WebSocketClient: reconnects with backoff, resumes with ?since=, stops on a refused token).
// Only UI lives here. Prompts are user text: everything goes in with textContent, never as HTML.
import { CloseCode, ExponentialBackoff, StopOnCloseCodes, WebSocketClient } from '/framehub-client.min.js';

const PAGE = 60;
const grid = document.getElementById('grid');
const empty = document.getElementById('empty');
const more = document.getElementById('more');
const status = document.getElementById('status');
const shown = new Set();
let offset = 0;
/** This page's own `?token=`, passed on to every request it makes (framehub's access model). */
const TOKEN = new URLSearchParams(location.search).get('token') ?? '';

/** An image URL with the token: an `<img>` cannot send an Authorization header. */
function withToken(url) {
  return TOKEN ? `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(TOKEN)}` : url;
}

/** One card: image, prompt, seed, workflow, size and time. */
function card(image) {
  const figure = document.createElement('figure');
  figure.dataset.url = image.url;
  const link = document.createElement('a');
  link.href = withToken(image.url);
  link.target = '_blank';
  const img = document.createElement('img');
  img.src = withToken(image.url);
  img.loading = 'lazy';
  img.alt = image.prompt || 'generated image';
  link.append(img);
  const caption = document.createElement('figcaption');
  const prompt = document.createElement('div');
  prompt.className = 'prompt';
  prompt.textContent = image.prompt || '(no prompt)';
  const meta = document.createElement('div');
  meta.className = 'meta';
  const facts = [
    ['seed', image.seed],
    ['workflow', image.workflow],
    ['size', image.width && image.height ? `${image.width}×${image.height}` : ''],
    ['', image.created_at ? new Date(image.created_at).toLocaleString() : ''],
  ];
  for (const [label, value] of facts) {
    if (!value) continue;
    const span = document.createElement('span');
    span.textContent = label ? `${label}: ${value}` : value;
    meta.append(span);
  }
  caption.append(prompt, meta);
  figure.append(link, caption);
  return figure;
}

function add(image, atTop) {
  if (shown.has(image.url)) return;
  shown.add(image.url);
  const element = card(image);
  if (atTop) grid.prepend(element);
  else grid.append(element);
  empty.hidden = shown.size > 0;
}

async function loadPage() {
  const response = await fetch(`/api/images?limit=${PAGE}&offset=${offset}`, { headers: TOKEN ? { authorization: `Bearer ${TOKEN}` } : {} });
  if (response.status === 401 || response.status === 403) {
    const { message } = await response.json().catch(() => ({}));
    throw new Error(`the gallery needs a token that may view (${message ?? response.status}); add ?token=… to this page's URL`);
  }
  if (!response.ok) throw new Error(`GET /api/images answered ${response.status}`);
  const { images, total } = await response.json();
  for (const image of images) add(image, false);
  offset += images.length;
  more.hidden = offset >= total;
  empty.hidden = shown.size > 0;
}

/** New images live; `/ws` needs ?token= when the server checks tokens: pass it on from this page's URL. */
function follow() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const token = async () => TOKEN;
  const client = new WebSocketClient(`${scheme}://${location.host}/ws`, token, {
    reconnectPolicy: new StopOnCloseCodes(new ExponentialBackoff()),
  });
  client.on('connected', function clientOnConnected() {
    status.textContent = 'live';
  });
  client.on('image.generation.completed', function clientOnCompleted(event) {
    const { image_url: url, metadata = {} } = event.payload;
    add({ url, prompt: metadata.prompt, seed: metadata.seed, workflow: metadata.workflow, width: metadata.width, height: metadata.height, created_at: event.timestamp }, true);
  });
  client.on('disconnected', function clientOnDisconnected({ code, reason, willReconnect }) {
    if (code === CloseCode.Unauthorized) status.textContent = `live updates need a token (${reason}); add ?token=… to this page's URL`;
    else if (!willReconnect) status.textContent = `live updates stopped (code ${code}${reason ? `: ${reason}` : ''})`;
  });
  client.on('reconnecting', function clientOnReconnecting({ delay }) {
    status.textContent = `reconnecting in ${Math.max(1, Math.round(delay / 1000))} s…`;
  });
  // Connection failures carry no detail in browsers; the disconnected event says what happened.
  client.on('error', () => {});
  client.connect().catch(() => {});
}

more.addEventListener('click', () => void loadPage().catch((error) => (status.textContent = error.message)));
// Live updates follow even when the list failed: the socket says for itself why it stops.
loadPage()
  .catch((error) => {
    status.textContent = error.message;
  })
  .finally(() => follow());
