import { createServer, type Server } from 'node:http';
import sharp from 'sharp';
import { startServer, type TestServer } from './helpers.js';
import { listenLocal } from './listen-local.js';
import { withTimeout } from './wait.js';
import type { Config } from '../src/config/config.js';

export type Rgb = [number, number, number];
export const RED: Rgb = [220, 20, 20];
export const BLUE: Rgb = [20, 20, 220];

/** A page the tests load into a session: one colour filling the viewport, the other after a click. */
const COLOUR_PAGE = `<!doctype html><html><head><meta charset="utf-8"><style>
html,body{margin:0;height:100%}
body{background:rgb(${RED.join(',')})}
body.clicked{background:rgb(${BLUE.join(',')})}
</style></head><body>
<script>
// What reached the page, for tests that check coordinates and keys (read through the session's page).
window.seen = { clicks: [], keys: [], wheel: [] };
document.addEventListener('mousedown', (e) => {
  window.seen.clicks.push([e.clientX, e.clientY, e.button]);
  document.body.classList.toggle('clicked');
});
document.addEventListener('keydown', (e) => window.seen.keys.push(e.key));
document.addEventListener('wheel', (e) => window.seen.wheel.push([e.deltaX, e.deltaY]));
</script></body></html>`;

/**
 * A page for touch input (test/session-touch): a text field at its top left, a sentence to select,
 * 3000 px tall so it scrolls. It records what reached it: mouse buttons and moves with a button
 * held (`[type, x, y, button]`), context menus, keys, wheel deltas.
 */
const TOUCH_PAGE = `<!doctype html><html><head><meta charset="utf-8"><style>
html,body{margin:0}
body{height:3000px;background:rgb(${RED.join(',')})}
#field{position:absolute;left:0;top:0;width:200px;height:60px;margin:0;border:0;padding:0}
#sentence{position:absolute;left:0;top:100px;margin:0}
</style></head><body>
<textarea id="field"></textarea><p id="sentence">copy this sentence</p>
<script>
window.seen = { mouse: [], contextmenu: 0, keys: [], wheel: [] };
for (const type of ['mousedown', 'mousemove', 'mouseup']) {
  document.addEventListener(type, (e) => {
    if (type !== 'mousemove' || e.buttons !== 0) window.seen.mouse.push([type, e.clientX, e.clientY, e.button]);
  });
}
document.addEventListener('contextmenu', (e) => { window.seen.contextmenu++; e.preventDefault(); });
document.addEventListener('keydown', (e) => window.seen.keys.push(e.key));
document.addEventListener('wheel', (e) => window.seen.wheel.push([e.deltaX, e.deltaY]));
</script></body></html>`;

/** A 1280x720 canvas repainting on every animation frame, for frame-rate measurements. */
const ANIMATED_PAGE = `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;overflow:hidden}</style></head><body>
<canvas id="c" width="1280" height="720"></canvas>
<script>
const c = document.getElementById('c').getContext('2d');
let n = 0;
function draw() {
  n++;
  c.fillStyle = 'hsl(' + (n % 360) + ',70%,50%)';
  c.fillRect(0, 0, 1280, 720);
  c.fillStyle = '#fff';
  c.font = '48px sans-serif';
  c.fillText('frame ' + n + ' ' + new Date().toISOString(), 40, 100);
  for (let i = 0; i < 40; i++) c.fillRect((n * 7 + i * 31) % 1280, (i * 17) % 720, 40, 40);
  requestAnimationFrame(draw);
}
draw();
document.addEventListener('mousedown', () => { document.body.dataset.clicked = '1'; });
</script></body></html>`;

/**
 * seeds/003's WebView snippet, with framehub serving the Socket.IO client instead of a CDN.
 * The seed loads it as a data: URL; Chromium's Private Network Access rules block a data: page
 * (public, not secure) from loading anything on 127.0.0.1, so the test serves it from another
 * origin on 127.0.0.1 instead: still cross-origin to framehub, so CORS is exercised.
 */
function webviewPage(framehub: string, session: string): string {
  return `<script src='${framehub}/socket.io/socket.io.js'></script>`
    + `<img id='view' style='width:100%;height:100%'/>`
    + `<script>`
    + `const socket = io('${framehub}');`
    + `socket.emit('subscribe', {session_id: '${session}'});`
    + `socket.on('frame', d => {`
    + `  document.getElementById('view').src = 'data:image/jpeg;base64,' + d.image;`
    + `});`
    + `</script>`;
}

const PIXEL_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

export interface PageServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Pages on 127.0.0.1: `/` (red, blue after a click), `/animated`, `/touch` (records touch-made input), `/redirect?to=<url>` (302),
 * `/webview?framehub=<origin>&session=<id>` (seeds/003's WebView snippet), `/pixel.png`,
 * `/embed?to=<image url>` (sets `window.probe` to `loaded` or `blocked`), `/hog?mb=<n>` (after
 * loading, holds n MiB of array buffers, every page of them written: resident, not only reserved).
 */
export async function startPageServer(): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
      res.end();
      return;
    }
    if (url.pathname === '/pixel.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      res.end(PIXEL_PNG);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    if (url.pathname === '/embed') {
      // An image from another host: did the page's subresource get through?
      const to = JSON.stringify(url.searchParams.get('to') ?? '');
      res.end(`<img id="probe" onload="window.probe='loaded'" onerror="window.probe='blocked'"><script>document.getElementById('probe').src=${to}</script>`);
      return;
    }
    if (url.pathname === '/webview') {
      res.end(webviewPage(url.searchParams.get('framehub') ?? '', url.searchParams.get('session') ?? ''));
      return;
    }
    if (url.pathname === '/hog') {
      const mb = Math.min(4096, Number(url.searchParams.get('mb')) || 0);
      // Array buffers lie outside V8's heap cap: only the memory watch stops them.
      res.end(`<body style="margin:0;background:rgb(200,0,0)"><script>window.hog=[];setTimeout(()=>{for(let i=0;i<${mb};i++){const b=new Uint8Array(1048576);b.fill(1);hog.push(b)}},50)</script>`);
      return;
    }
    res.end(url.pathname === '/animated' ? ANIMATED_PAGE : url.pathname === '/touch' ? TOUCH_PAGE : COLOUR_PAGE);
  });
  const port = await listenLocal(server);
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A framehub that lets sessions load pages from 127.0.0.1 (the page server). */
export function startSessionServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  return startServer({ browserAllowHosts: '127.0.0.1', ...overrides });
}

/** POSTs JSON, returns status and parsed body. */
export async function postJson(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, body: await response.json() };
}

/** Creates a session and loads the colour page into it; returns the session id. */
export async function createLoadedSession(server: TestServer, pageUrl: string, body: Record<string, unknown> = {}): Promise<string> {
  const created = await postJson(`${server.http}/api/session/create`, { width: 320, height: 240, ...body });
  if (created.status !== 201) throw new Error(`create failed: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.session_id as string;
  const loaded = await postJson(`${server.http}/api/session/${id}/load`, { url: pageUrl });
  if (loaded.status !== 200) throw new Error(`load failed: ${loaded.status} ${JSON.stringify(loaded.body)}`);
  return id;
}

/** RGB of the pixel at (x, y) of an encoded image. */
export async function pixelAt(image: Buffer, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

/** Close enough for JPEG. */
export function near(actual: Rgb, expected: Rgb, tolerance = 40): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

/** Resolves with the first Socket.IO `frame` whose pixel (10, 10) is near `colour`, within `ms`. */
export function frameOfColour(socket: { on: Function; off: Function }, colour: Rgb, ms = 15_000): Promise<Buffer> {
  let onFrame: (data: { image: string }) => Promise<void>;
  const found = new Promise<Buffer>((resolve) => {
    let busy = false;
    onFrame = async (data) => {
      if (busy) return; // latest frame wins here too
      busy = true;
      const image = Buffer.from(data.image, 'base64');
      if (near(await pixelAt(image, 10, 10), colour)) resolve(image);
      busy = false;
    };
    socket.on('frame', onFrame);
  });
  return withTimeout(found, ms, `a frame of colour ${colour.join(',')}`).finally(() => socket.off('frame', onFrame));
}

