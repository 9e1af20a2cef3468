import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { startServer, type TestServer } from './helpers.js';
import { useBrowser } from './browser-helpers.js';
import { startShapeServer, type ShapeServer } from './client-helpers.js';
import { numberedPng, startGenServer } from './generations-helpers.js';
import { listenLocal } from './listen-local.js';

const root = new URL('..', import.meta.url).pathname;
const bundlePath = join(root, 'dist/framehub-client.min.js');

/** Serves a blank page, the client bundle and the React test app from a real HTTP server. */
async function startPageServer(files: Record<string, { path: string; type: string } | { body: string; type: string }>): Promise<{ url: string; server: Server }> {
  const server = createServer(async function pageServerOnRequest(req, res) {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const body = 'body' in file ? file.body : await readFile(file.path);
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body);
  });
  return { url: `http://127.0.0.1:${await listenLocal(server)}`, server };
}

describe('client bundle in real headless Chromium', () => {
  const browser = useBrowser();
  let framehub: TestServer;
  let events: ShapeServer;
  let pages: { url: string; server: Server };
  let workDir: string;

  before(async () => {
    // The artifact under test is the real build output; rebuild it so this file runs alone too.
    await promisify(execFile)(process.execPath, [join(root, 'scripts/build-client.mjs'), '--quiet']);
    workDir = await mkdtemp(join(tmpdir(), 'framehub-react-'));
    await build({
      entryPoints: [join(root, 'test/fixtures/client/react-app.ts')],
      outfile: join(workDir, 'react-app.js'),
      bundle: true, format: 'esm', platform: 'browser', logLevel: 'warning',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    framehub = await startServer();
    events = await startShapeServer();
    pages = await startPageServer({
      '/': { body: '<!doctype html><meta charset="utf-8"><title>client test</title><div id="root"></div>', type: 'text/html' },
      '/framehub-client.min.js': { path: bundlePath, type: 'text/javascript' },
      '/framehub-client.min.js.map': { path: `${bundlePath}.map`, type: 'application/json' },
      '/react-app.js': { path: join(workDir, 'react-app.js'), type: 'text/javascript' },
      '/favicon.ico': { body: '', type: 'image/x-icon' },
    });
  });
  after(async () => {
    await framehub?.close();
    await events?.close();
    pages?.server.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('PixelSocket receives framehub frames, JSON (/stream/:id) and binary (/ws/video_feed), and never saves', async () => {
    const { page, errors } = await browser().newPage();
    try {
      await page.goto(pages.url);
      const result = await page.evaluate(async ({ streamUrl, feedUrl }) => {
        const { PixelSocket } = await import('/framehub-client.min.js' as string);
        const collect = (url: string, n: number) => new Promise<unknown[]>((resolve, reject) => {
          const got: unknown[] = [];
          const client = new PixelSocket({
            url,
            saveDirectory: './images',
            onImage: (data: Uint8Array, metadata: Record<string, unknown>) => {
              got.push({ bytes: data.length, isUint8Array: data instanceof Uint8Array, format: metadata.format, width: metadata.width, height: metadata.height });
              if (got.length === n) {
                client.disconnect();
                resolve(got);
              }
            },
            onError: (error: Error) => reject(error),
          });
          client.connect().catch(reject);
          setTimeout(() => reject(new Error(`only ${got.length} images from ${url}`)), 15000);
        });
        return { json: await collect(streamUrl, 3), binary: await collect(feedUrl, 3) };
      }, { streamUrl: `${framehub.ws}/stream/demo?fps=15&format=png`, feedUrl: `${framehub.ws}/ws/video_feed?stream=demo` });
      for (const image of result.json as Array<Record<string, unknown>>) {
        assert.deepEqual({ ...image, bytes: undefined }, { bytes: undefined, isUint8Array: true, format: 'png', width: 320, height: 180 });
        assert.ok((image['bytes'] as number) > 0);
      }
      for (const image of result.binary as Array<Record<string, unknown>>) {
        assert.equal(image['format'], 'jpeg');
        assert.equal(image['width'], 320);
      }
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('WebSocketClient receives typed events and sends its token in the browser', async () => {
    const { page, errors } = await browser().newPage();
    try {
      await page.goto(pages.url);
      const connection = events.nextConnection(15000);
      const pending = page.evaluate(async (url) => {
        const { WebSocketClient } = await import('/framehub-client.min.js' as string);
        const client = new WebSocketClient(url, async () => 'browser-token', { heartbeatInterval: 0 });
        const completed = new Promise((resolve) => client.on('image.generation.completed', (event: { payload: unknown }) => resolve(event.payload)));
        const states: string[] = [];
        client.on('state:change', (e: { newState: string }) => states.push(e.newState));
        await client.connect();
        const payload = await completed;
        client.disconnect();
        return { payload, states };
      }, `${events.url}/ws`);
      const { ws, url } = await connection;
      assert.equal(url.searchParams.get('token'), 'browser-token');
      ws.send(JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'b1', image_url: 'http://img/b1.png' }, timestamp: new Date().toISOString() }));
      const { payload, states } = await pending;
      assert.deepEqual(payload, { job_id: 'b1', image_url: 'http://img/b1.png' });
      assert.deepEqual(states.slice(0, 2), ['connecting', 'connected']);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('framehub/react: useLatestImage shows the latest frame, useWebSocket tracks state, unmount disconnects', async () => {
    const { page, errors } = await browser().newPage();
    try {
      await page.goto(pages.url);
      await page.addScriptTag({ url: '/react-app.js', type: 'module' });
      await page.waitForFunction(() => typeof window.startApp === 'function', undefined, { timeout: 10000 });
      const connection = events.nextConnection(15000);
      await page.evaluate(({ imageUrl, eventsUrl }) => window.startApp(imageUrl, eventsUrl),
        { imageUrl: `${framehub.ws}/stream/demo?fps=15&format=webp`, eventsUrl: `${events.url}/ws` });
      await page.waitForFunction(() => {
        const img = document.getElementById('latest') as HTMLImageElement | null;
        return img !== null && img.complete && img.naturalWidth === 320 && img.src.startsWith('blob:')
          && Number(document.getElementById('image-count')!.textContent) >= 3;
      }, undefined, { timeout: 15000 });
      assert.equal(await page.getAttribute('#latest', 'data-format'), 'webp');
      assert.equal(await page.textContent('#image-state'), 'connected');
      await page.waitForFunction(() => document.getElementById('events-state')?.textContent === 'connected', undefined, { timeout: 10000 });
      const { ws, url } = await connection;
      assert.equal(url.searchParams.get('token'), 'react-token');
      ws.send(JSON.stringify({ type: 'image.generation.completed', payload: { job_id: 'r1', image_url: 'http://img/r1.png' }, timestamp: new Date().toISOString() }));
      await page.waitForFunction(() => window.hookEvents.length === 1, undefined, { timeout: 10000 });
      const closedOnUnmount = once(ws, 'close');
      await page.evaluate(() => window.stopApp());
      await Promise.race([closedOnUnmount, new Promise((_, reject) => setTimeout(() => reject(new Error('unmount did not disconnect')), 10000))]);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });

  it('seeds/001 "Complete React Component" and useLatestImage show a generated image from framehub /ws and /ws/streaming', async () => {
    const gen = await startGenServer();
    const { page, errors } = await browser().newPage();
    try {
      // Served from framehub's own origin, so the relative image_url of the event resolves.
      // framehub has no favicon; the browser's automatic request for one is not the client's error.
      await page.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
      await page.goto(`${gen.http}/healthz`);
      await page.evaluate(() => { document.body.innerHTML = '<div id="root"></div>'; });
      await page.addScriptTag({ content: await readFile(join(workDir, 'react-app.js'), 'utf8'), type: 'module' });
      await page.waitForFunction(() => typeof window.startMonitor === 'function', undefined, { timeout: 10000 });
      await page.evaluate(({ eventsUrl, streamingUrl }) => window.startMonitor(eventsUrl, streamingUrl),
        { eventsUrl: `${gen.ws}/ws`, streamingUrl: `${gen.ws}/ws/streaming` });
      await page.waitForFunction(() => document.getElementById('monitor-status')?.textContent === 'Status: connected'
        && document.getElementById('image-state')?.textContent === 'connected', undefined, { timeout: 10000 });
      const created = await gen.api('POST', '/api/generations', { prompt: 'a lighthouse at dusk' });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const png = await numberedPng(5, 24);
      const published = await gen.publishImage(created.json.job_id, png, { imageIdx: 0, imageLength: 1, filename: 'out_0.png' });
      assert.equal(published.status, 201, JSON.stringify(published.json));
      await page.waitForFunction(() => {
        const generated = document.querySelector('img.generated') as HTMLImageElement | null;
        const latest = document.getElementById('latest') as HTMLImageElement | null;
        return document.getElementById('monitor-count')?.textContent === 'Images: 1'
          && generated !== null && generated.complete && generated.naturalWidth === 24
          && latest !== null && latest.complete && latest.naturalWidth === 24;
      }, undefined, { timeout: 15000 });
      assert.equal(await page.getAttribute('img.generated', 'src'), published.json.image_url);
      assert.equal(await page.getAttribute('#latest', 'data-format'), 'png');
      await page.evaluate(() => window.stopApp());
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await gen.close();
    }
  });
});
