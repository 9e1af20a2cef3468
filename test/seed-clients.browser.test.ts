import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from './helpers.js';
import { canvasInk, useBrowser, type TestPage } from './browser-helpers.js';
import { listenLocal } from './listen-local.js';

/**
 * Browser pages that talk to framehub exactly the way the seeds' own pages do (same calls,
 * same parsing, same drawing; written here, not copied), loaded in real Chromium from another
 * origin, with only host and port changed:
 *
 * - seeds/002: `new WebSocket('ws://host/stream/<id>?fps=&quality=&format=')`,
 *   `JSON.parse(event.data)`, `img.src = message.data.data_url`, commands as
 *   `{command, options}`;
 * - seeds/004: `ws://host/ws/video_feed`, `binaryType = 'arraybuffer'`,
 *   `new Blob([data], {type: 'image/jpeg'})` → `<img>` → drawn into a 640x480 canvas.
 */

const WAIT = { timeout: 15_000 };

/** seeds/002's page behaviour. `HOST` is framehub's host:port, the one thing that differs. */
function jsonStreamPage(host: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>seeds/002-style client</title><link rel="icon" href="data:,"></head>
<body>
<div id="status">Disconnected</div>
<img id="stream-image" alt="stream" style="display:none">
<div>Frames: <span id="frame-count">0</span>, data: <span id="data-received">0</span></div>
<script>
  var ws = null;
  var frameCount = 0;
  var totalDataReceived = 0;
  var statusLog = []; // observation only: the seed overwrites the status line on close
  function setStatus(text) { statusLog.push(text); document.getElementById('status').textContent = text; }
  function connect(windowId, fps, quality, format) {
    ws = new WebSocket('ws://${host}/stream/' + windowId + '?fps=' + fps + '&quality=' + quality + '&format=' + format);
    ws.onopen = function () {
      setStatus('Connected');
      document.getElementById('stream-image').style.display = 'block';
    };
    ws.onmessage = function (event) {
      try {
        var message = JSON.parse(event.data);
        if (message.type === 'frame') {
          frameCount++;
          totalDataReceived += event.data.length;
          document.getElementById('stream-image').src = message.data.data_url;
          document.getElementById('frame-count').textContent = String(frameCount);
          document.getElementById('data-received').textContent = String(totalDataReceived);
        } else if (message.type === 'error') {
          setStatus('Error: ' + message.error.message);
        }
      } catch (e) {
        console.error('Failed to parse message:', e);
      }
    };
    ws.onclose = function () { setStatus('Disconnected'); ws = null; };
  }
  function sendCommand(command, options) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ command: command, options: options || {} }));
    }
  }
</script>
</body></html>`;
}

/** seeds/004's page behaviour: connects on load, draws every binary message into the canvas. */
function videoFeedPage(host: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>seeds/004-style client</title><link rel="icon" href="data:,"></head>
<body>
<canvas id="video-canvas" width="640" height="480"></canvas>
<div id="stats"></div>
<script>
  var canvas = document.getElementById('video-canvas');
  var ctx = canvas.getContext('2d');
  var stats = document.getElementById('stats');
  var frameCount = 0;
  var lastTime = performance.now();
  // Observation only (the seed has no such counters): what arrived, what drew, what failed.
  var observed = { messages: 0, drawn: 0, failed: 0, textMessages: 0, sizes: [] };
  var ws = new WebSocket('ws://${host}/ws/video_feed');
  ws.binaryType = 'arraybuffer';
  ws.onmessage = function (event) {
    observed.messages++;
    if (typeof event.data === 'string') observed.textMessages++;
    else observed.sizes.push(event.data.byteLength);
    var blob = new Blob([event.data], { type: 'image/jpeg' });
    var img = new Image();
    img.onload = function () {
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(img.src);
      observed.drawn++;
      frameCount++;
      var now = performance.now();
      if (now - lastTime >= 1000) {
        stats.textContent = 'FPS: ' + frameCount;
        frameCount = 0;
        lastTime = now;
      }
    };
    img.onerror = function () { observed.failed++; };
    img.src = URL.createObjectURL(blob);
  };
</script>
</body></html>`;
}

/** Serves the two pages from their own origin (another port), as a seed page would be. */
async function servePages(framehubHost: string): Promise<{ server: Server; origin: string }> {
  const pages: Record<string, string> = {
    '/seed-002.html': jsonStreamPage(framehubHost),
    '/seed-004.html': videoFeedPage(framehubHost),
  };
  const server = createHttpServer(function pagesOnRequest(request, response) {
    const body = pages[request.url ?? ''];
    response.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    response.end(body ?? 'not found');
  });
  return { server, origin: `http://127.0.0.1:${await listenLocal(server)}` };
}

async function openPage(t: TestContext, newPage: () => Promise<TestPage>, url: string): Promise<TestPage> {
  const opened = await newPage();
  t.after(() => opened.page.close());
  await opened.page.goto(url);
  return opened;
}

/** Draws the seeds/002 page's `<img>` into a scratch canvas and reports what it shows. */
async function imageInk(page: Page): Promise<{ src: string; width: number; height: number; colours: number }> {
  return page.evaluate(`(async () => {
    // A copy of the current frame: the page replaces the <img>'s src with every frame, and a
    // decode() under way when that happens rejects (EncodingError).
    const img = new Image();
    img.src = document.getElementById('stream-image').src;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4 * 7) colours.add(((data[i] >> 5) << 6) | ((data[i + 1] >> 5) << 3) | (data[i + 2] >> 5));
    return { src: img.src.slice(0, 30), width: img.naturalWidth, height: img.naturalHeight, colours: colours.size };
  })()`);
}

describe('seed pages in Chromium against framehub', { timeout: 120_000 }, () => {
  const browser = useBrowser();
  let framehub: TestServer;
  let pages: { server: Server; origin: string };

  before(async () => {
    framehub = await startServer();
    pages = await servePages(`127.0.0.1:${framehub.port}`);
  });
  after(async () => {
    pages?.server.close();
    await framehub?.close();
  });

  it('seeds/002 page: JSON frames set <img>.src to a data URL that decodes to the pattern', async (t) => {
    const { page, errors } = await openPage(t, () => browser().newPage(), `${pages.origin}/seed-002.html`);
    await page.evaluate(`connect('0', 15, 85, 'jpeg')`);
    await page.waitForFunction(`document.getElementById('status').textContent === 'Connected'`, undefined, WAIT);
    await page.waitForFunction(`frameCount >= 5`, undefined, WAIT);

    const jpeg = await imageInk(page);
    assert.match(jpeg.src, /^data:image\/jpeg;base64,/);
    assert.deepEqual([jpeg.width, jpeg.height], [320, 180]);
    assert.ok(jpeg.colours >= 6, `the image shows the colour bars (${jpeg.colours} colours)`);
    assert.ok(Number(await page.textContent('#data-received')) > 1000);

    // The seed's controls: update_options per setting, and take_screenshot (with its empty options).
    await page.evaluate(`sendCommand('update_options', { fps: parseInt('30') })`);
    await page.evaluate(`sendCommand('update_options', { quality: parseInt('60') })`);
    await page.evaluate(`sendCommand('update_options', { format: 'png' })`);
    await page.waitForFunction(`document.getElementById('stream-image').src.startsWith('data:image/png;base64,')`, undefined, WAIT);
    const png = await imageInk(page);
    assert.deepEqual([png.width, png.height], [320, 180]);
    assert.ok(png.colours >= 6, 'the PNG frame decodes to the pattern');

    // The seed page has no branch for `screenshot` or `stats`; they must not disturb it.
    await page.evaluate(`sendCommand('take_screenshot')`);
    const count = Number(await page.evaluate('frameCount'));
    await page.waitForFunction(`frameCount >= ${count + 10}`, undefined, WAIT);
    assert.equal(await page.textContent('#status'), 'Connected');
    assert.deepEqual(errors, []);
  });

  it('seeds/002 page: an unknown window id shows the server\'s error message', async (t) => {
    const { page, errors } = await openPage(t, () => browser().newPage(), `${pages.origin}/seed-002.html`);
    await page.evaluate(`connect('no-such-window', 10, 80, 'jpeg')`);
    // Like the seed, the page shows the error, then "Disconnected" once the server closes.
    await page.waitForFunction(`ws === null`, undefined, WAIT);
    const log = (await page.evaluate('statusLog')) as string[];
    assert.ok(log.some((line) => /^Error: no stream with id "no-such-window"/.test(line)), `the error reached the page: ${JSON.stringify(log)}`);
    assert.equal(await page.evaluate('frameCount'), 0);
    assert.deepEqual(errors, []);
  });

  it('seeds/004 page: binary JPEG messages become Blobs that draw into the 640x480 canvas', async (t) => {
    const { page, errors } = await openPage(t, () => browser().newPage(), `${pages.origin}/seed-004.html`);
    await page.waitForFunction(`observed.drawn >= 5`, undefined, WAIT);
    const ink = await canvasInk(page, '#video-canvas');
    assert.deepEqual([ink.width, ink.height], [640, 480]);
    assert.ok(ink.colours >= 6, `the canvas shows the colour bars (${ink.colours} colours)`);
    assert.ok(ink.inked > 2000, `the canvas is not blank (${ink.inked} lit samples)`);
    await page.waitForFunction(`document.getElementById('stats').textContent.startsWith('FPS: ')`, undefined, WAIT);
    const fps = Number(((await page.textContent('#stats')) ?? '').slice(5));
    t.diagnostic(`seeds/004 page's own FPS counter: ${fps}`);
    assert.ok(fps >= 10, `the page's own counter shows a live rate (${fps})`);

    // The seed's commands: set_quality, then config with osd and resize:false.
    const sizesBefore = (await page.evaluate('observed.sizes.slice(-5)')) as number[];
    await page.evaluate(`ws.send(JSON.stringify({ type: 'command', action: 'set_quality', value: 10 }))`);
    const smaller = Math.min(...sizesBefore) * 0.6;
    await page.waitForFunction(`observed.sizes.slice(-3).every((n) => n < ${smaller})`, undefined, WAIT);
    await page.evaluate(`ws.send(JSON.stringify({ type: 'config', osd: true, resize: false }))`);
    const drawn = Number(await page.evaluate('observed.drawn'));
    await page.waitForFunction(`observed.drawn >= ${drawn + 10}`, undefined, WAIT);

    const observed = (await page.evaluate('({ ...observed, sizes: undefined })')) as { messages: number; drawn: number; failed: number; textMessages: number };
    assert.equal(observed.textMessages, 0, 'every message is a binary image (the seed page would try to draw text as JPEG)');
    assert.equal(observed.failed, 0, 'every message decodes as an image');
    assert.ok(observed.drawn >= observed.messages - 2, `the page draws what it receives (${observed.drawn} of ${observed.messages})`);
    assert.deepEqual(errors, []);
  });
});
