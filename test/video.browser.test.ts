import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from './helpers.js';
import { useBrowser, type TestPage } from './browser-helpers.js';

/**
 * The H.264 path in real headless Chromium: WebCodecs decodes the units of `/video/:id` with
 * the client library's VideoPlayer, the viewer at `/` plays them and shows bitrate and decode
 * time, and a viewer joining a running tier draws its first picture within the bound.
 * 127.0.0.1 is a secure context, so WebCodecs is there over plain http.
 */

const WAIT = { timeout: 60_000 };

describe('H.264 in Chromium', () => {
  const browser = useBrowser();
  let server: TestServer;
  before(async () => {
    server = await startServer({
      streams: {
        demo: { source: 'pattern', width: 640, height: 360, fps: 30 },
        red: { source: 'video', lavfi: 'color=c=red:size=640x480:rate=30' },
      },
    });
  });
  after(() => server.close());

  async function openPage(t: TestContext, path: string): Promise<TestPage> {
    const opened = await browser().newPage();
    t.after(() => opened.page.close());
    await opened.page.goto(`${server.http}${path}`);
    return opened;
  }

  it('the viewer plays H.264: the picture is the source colour, bitrate and decode time shown', async (t) => {
    const { page, errors } = await openPage(t, '/?stream=red&format=h264&tier=480p&connect=1');
    await page.waitForSelector('#connection-state[data-state="connected"]', WAIT);
    await page.waitForFunction(() => Number(document.getElementById('stat-drawn')?.dataset['value']) >= 5, undefined, WAIT);
    const centre = await page.$eval('#stream-canvas', (canvas) => {
      const c = canvas as HTMLCanvasElement;
      const { data } = c.getContext('2d')!.getImageData(c.width / 2, c.height / 2, 1, 1);
      return { rgb: [data[0]!, data[1]!, data[2]!], width: c.width, height: c.height };
    });
    assert.deepEqual([centre.width, centre.height], [640, 480]);
    const [r, g, b] = centre.rgb as [number, number, number];
    assert.ok(r > 200 && g < 60 && b < 60, `centre pixel is red: ${r},${g},${b}`);
    await page.waitForFunction(() => Number(document.getElementById('stat-bitrate')?.dataset['value']) > 0, undefined, WAIT);
    const decode = await page.getAttribute('#stat-decode', 'data-value');
    assert.ok(Number(decode) >= 0 && (decode ?? '') !== '', `decode time shown: ${decode}`);
    assert.match((await page.textContent('#stat-image')) ?? '', /^avc1\.4D/);
    assert.deepEqual(errors, []);
  });

  it('falls back to JPEG where the browser has no VideoDecoder, and says so', async (t) => {
    const opened = await browser().newPage();
    t.after(() => opened.page.close());
    const { page, errors } = opened;
    // A browser without WebCodecs: the page's scripts see no VideoDecoder.
    await page.addInitScript({ content: 'delete globalThis.VideoDecoder;' });
    await page.goto(`${server.http}/?stream=red&format=h264&connect=1`);
    await page.waitForSelector('#connection-state[data-state="connected"]', WAIT);
    await page.waitForFunction(() => Number(document.getElementById('stat-drawn')?.dataset['value']) >= 2, undefined, WAIT);
    assert.match((await page.textContent('#status')) ?? '', /cannot decode H\.264.*showing JPEG/);
    assert.match((await page.textContent('#stat-image')) ?? '', /^JPEG/);
    assert.deepEqual(errors, []);
  });

  it('draws the pattern source through the library VideoPlayer; a joining viewer has a picture within 300 ms', async (t) => {
    const { page: first, errors } = await openPage(t, '/');
    const { page: second } = await openPage(t, '/');
    // The tier runs for the first viewer, so the second joins a tier with a GOP in hand.
    await first.evaluate(async () => {
      const { VideoPlayer, VideoPlayerEvent } = await import('/framehub-client.min.js' as string);
      const canvas = document.createElement('canvas');
      const player = new VideoPlayer({ url: location.origin, stream: 'demo', tier: '360p', canvas });
      (globalThis as Record<string, unknown>)['player'] = player;
      await new Promise<void>((resolve) => {
        let drawn = 0;
        player.on(VideoPlayerEvent.Frame, () => { if (++drawn === 10) resolve(); });
        player.connect();
      });
    });
    const joined = await second.evaluate(async () => {
      const { VideoPlayer, VideoPlayerEvent } = await import('/framehub-client.min.js' as string);
      const canvas = document.createElement('canvas');
      const player = new VideoPlayer({ url: location.origin, stream: 'demo', tier: '360p', canvas });
      const startedAt = performance.now();
      let openedAt = Number.NaN;
      player.on(VideoPlayerEvent.Open, () => { openedAt = performance.now(); });
      const firstFrame = await new Promise<number>((resolve) => {
        player.on(VideoPlayerEvent.Frame, () => resolve(performance.now()));
        player.connect();
      });
      // Colourful: the demo's bars, not a blank or grey picture.
      const ctx = canvas.getContext('2d')!;
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const colours = new Set<number>();
      for (let i = 0; i < data.length; i += 4 * 13) colours.add(((data[i]! >> 5) << 6) | ((data[i + 1]! >> 5) << 3) | (data[i + 2]! >> 5));
      const stats = player.stats;
      player.close();
      return { sinceOpen: firstFrame - openedAt, sinceConnect: firstFrame - startedAt, colours: colours.size, width: canvas.width, height: canvas.height, stats };
    });
    await first.evaluate(() => ((globalThis as unknown as Record<string, { close(): void }>)['player'])!.close());
    t.diagnostic(`joining viewer: first picture ${joined.sinceOpen.toFixed(0)} ms after open, ${joined.sinceConnect.toFixed(0)} ms after connect(); ${joined.stats.units} units, decode ${joined.stats.decodeMs.toFixed(1)} ms`);
    assert.deepEqual([joined.width, joined.height], [640, 360]);
    assert.ok(joined.colours >= 6, `the pattern's bars are drawn (${joined.colours} colours)`);
    // 300 ms is the goal; a loaded 2-core CI machine gets slack, the measured figure is in docs/video.md.
    assert.ok(joined.sinceOpen < 1000, `first picture ${joined.sinceOpen.toFixed(0)} ms after the socket opened`);
    assert.deepEqual(errors, []);
  });
});

describe('VideoPlayer across a lost connection', () => {
  const browser = useBrowser();
  const streams = { demo: { source: 'pattern', width: 320, height: 180, fps: 30 } } as const;

  it('reconnects by itself when the server goes away and plays again from a keyframe once it is back', async (t) => {
    const first = await startServer({ streams });
    let second: TestServer | undefined;
    t.after(async () => {
      await first.close();
      await second?.close();
    });
    const { page, errors } = await browser().newPage();
    t.after(() => page.close());
    await page.goto(`${first.http}/`);
    // The player and what it says, kept on the page: opens, closes, pictures drawn since the last open.
    await page.evaluate(async () => {
      const { VideoPlayer, VideoPlayerEvent } = await import('/framehub-client.min.js' as string);
      const log = { opens: 0, closes: [] as string[], drawnSinceOpen: 0, reconnecting: 0 };
      const player = new VideoPlayer({ url: location.origin, stream: 'demo', tier: '360p', canvas: document.createElement('canvas') });
      Object.assign(globalThis, { log, player });
      player.on(VideoPlayerEvent.Open, () => { log.opens++; log.drawnSinceOpen = 0; });
      player.on(VideoPlayerEvent.Frame, () => { log.drawnSinceOpen++; });
      player.on(VideoPlayerEvent.Close, ({ code, willReconnect }: { code: number; willReconnect: boolean }) => { log.closes.push(`${code} ${willReconnect}`); });
      player.on(VideoPlayerEvent.Reconnecting, () => { log.reconnecting++; });
      player.connect();
    });
    const log = () => page.evaluate(() => (globalThis as unknown as { log: { opens: number; closes: string[]; drawnSinceOpen: number; reconnecting: number } }).log);
    await page.waitForFunction(() => (globalThis as unknown as { log: { drawnSinceOpen: number } }).log.drawnSinceOpen >= 5, undefined, WAIT);

    await first.close();
    await page.waitForFunction(() => (globalThis as unknown as { log: { reconnecting: number } }).log.reconnecting >= 1, undefined, WAIT);
    const lost = await log();
    assert.ok(lost.closes.length >= 1 && lost.closes.every((c) => c.endsWith(' true')), `the player will reconnect: ${JSON.stringify(lost.closes)}`);

    // The same address again: the player's next attempt finds it.
    second = await startServer({ port: first.port, streams });
    await page.waitForFunction(() => {
      const { log: l } = globalThis as unknown as { log: { opens: number; drawnSinceOpen: number } };
      return l.opens >= 2 && l.drawnSinceOpen >= 5;
    }, undefined, WAIT);
    const state = await page.evaluate(() => (globalThis as unknown as { player: { state: string; close(): void } }).player.state);
    assert.equal(state, 'connected');
    await page.evaluate(() => (globalThis as unknown as { player: { close(): void } }).player.close());
    assert.deepEqual(errors, []);
  });
});
