import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from './helpers.js';
import { launchBrowser, type TestBrowser } from './browser-helpers.js';
import { startPageServer, startSessionServer, type PageServer } from './session-helpers.js';

describe('web/session.html: create a session, load a URL, drive it', () => {
  let pages: PageServer;
  let server: TestServer;
  let browser: TestBrowser;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await pages?.close();
  });

  it('scales mouse coordinates from the shown size to the page and forwards wheel and keys', async () => {
    const { page, errors } = await browser.newPage();
    const paths: string[] = [];
    page.on('request', (request) => paths.push(new URL(request.url()).pathname));
    // The viewer at / leads to the session page.
    await page.goto(`${server.http}/`);
    await page.getByTestId('link-session').click();
    await page.waitForURL(`${server.http}/session.html`);
    await page.getByTestId('session-id').fill('web1');
    await page.locator('#width').fill('640');
    await page.locator('#height').fill('400');
    await page.getByTestId('create').click();
    await page.getByTestId('url').fill(`${pages.origin}/`);
    await page.getByTestId('go').click();
    await page.getByTestId('message').filter({ hasText: 'Loaded' }).waitFor({ timeout: 20_000 });
    const screen = page.getByTestId('screen');
    await page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).naturalWidth === 640, undefined, { timeout: 20_000 });
    // Show the 640x400 page at half size: a click at (100, 50) on screen is (200, 100) on the page.
    await screen.evaluate((img: HTMLImageElement) => { img.style.width = '320px'; });
    await screen.click({ position: { x: 100, y: 50 } });
    await screen.hover({ position: { x: 10, y: 10 } });
    await page.mouse.wheel(0, 120);
    await page.keyboard.type('hi');
    await page.keyboard.press('Enter');

    const remote = (await server.server.sessions.get('web1')!.page()).page;
    await remote.waitForFunction(() => {
      const seen = (window as any).seen;
      return seen.clicks.length > 0 && seen.wheel.length > 0 && seen.keys.includes('Enter');
    }, undefined, { timeout: 20_000 });
    const seen = await remote.evaluate(() => (window as any).seen);
    assert.deepEqual(seen.clicks[0], [200, 100, 0]);
    assert.deepEqual(seen.wheel[0], [0, 120]);
    assert.deepEqual(seen.keys, ['h', 'i', 'Enter']);
    // Frames are counted by the client library's ReceiveStats, loaded from framehub itself.
    assert.ok(paths.includes('/framehub-client.min.js'), paths.join(' '));
    await page.getByTestId('stats').filter({ hasText: /^\d+ fps · [1-9]\d* KiB received · page 640×400$/ }).waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
  });

  /** The colour at the centre of the session page's H.264 canvas, or null before a picture. */
  const canvasCentre = (page: import('playwright-core').Page) => page.$eval('[data-testid=screen-video]', (canvas) => {
    const c = canvas as HTMLCanvasElement;
    if (c.width === 0) return null;
    const { data } = c.getContext('2d')!.getImageData(c.width / 2, c.height / 2, 1, 1);
    return [data[0]!, data[1]!, data[2]!];
  });

  it('plays the session as H.264 where the browser can: the picture on a canvas, input on it unchanged, no JPEG over Socket.IO', async () => {
    const { page, errors } = await browser.newPage();
    const socketFrames: number[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
      if (ws.url().includes('/socket.io/') && typeof payload === 'string' && payload.startsWith('42["frame"')) socketFrames.push(payload.length);
    }));
    const videoSockets: string[] = [];
    page.on('websocket', (ws) => { if (ws.url().includes('/video/')) videoSockets.push(new URL(ws.url()).pathname); });
    await page.goto(`${server.http}/session.html`);
    await page.getByTestId('session-id').fill('web_h264');
    await page.locator('#width').fill('320');
    await page.locator('#height').fill('240');
    await page.getByTestId('create').click();
    await page.getByTestId('url').fill(`${pages.origin}/`);
    await page.getByTestId('go').click();
    await page.getByTestId('message').filter({ hasText: 'Loaded' }).waitFor({ timeout: 20_000 });
    // The page's red, decoded from H.264.
    const isRed = (rgb: number[] | null) => rgb !== null && rgb[0]! > 180 && rgb[1]! < 70 && rgb[2]! < 70;
    await page.waitForFunction(() => {
      const c = document.querySelector('[data-testid=screen-video]') as HTMLCanvasElement | null;
      if (!c || c.width === 0) return false;
      const [r, g, b] = c.getContext('2d')!.getImageData(c.width / 2, c.height / 2, 1, 1).data;
      return r! > 180 && g! < 70 && b! < 70;
    }, undefined, { timeout: 30_000 });
    assert.ok(isRed(await canvasCentre(page)));
    assert.deepEqual(videoSockets, ['/video/session%3Aweb_h264']);
    // A click on the picture still drives the page: it turns blue.
    await page.getByTestId('screen').click({ position: { x: 20, y: 20 } });
    await page.waitForFunction(() => {
      const c = document.querySelector('[data-testid=screen-video]') as HTMLCanvasElement;
      const [r, g, b] = c.getContext('2d')!.getImageData(c.width / 2, c.height / 2, 1, 1).data;
      return b! > 180 && r! < 70 && g! < 70;
    }, undefined, { timeout: 30_000 });
    await page.getByTestId('stats').filter({ hasText: /^\d+ fps · [1-9]\d* KiB received · page 320×240$/ }).waitFor({ timeout: 10_000 });
    assert.deepEqual(socketFrames, [], 'no frame events over Socket.IO');
    assert.deepEqual(errors, []);
  });

  it('keeps seeds/003\'s JPEG frames over Socket.IO with ?video=jpeg', async () => {
    const { page, errors } = await browser.newPage();
    const videoSockets: string[] = [];
    page.on('websocket', (ws) => { if (ws.url().includes('/video/')) videoSockets.push(ws.url()); });
    await page.goto(`${server.http}/session.html?video=jpeg`);
    await page.getByTestId('session-id').fill('web_jpeg');
    await page.locator('#width').fill('320');
    await page.locator('#height').fill('240');
    await page.getByTestId('create').click();
    await page.getByTestId('url').fill(`${pages.origin}/`);
    await page.getByTestId('go').click();
    await page.waitForFunction(() => (document.querySelector('[data-testid=screen]') as HTMLImageElement).src.startsWith('data:image/jpeg'), undefined, { timeout: 20_000 });
    assert.equal(await page.$('[data-testid=screen-video]'), null);
    assert.deepEqual(videoSockets, []);
    assert.deepEqual(errors, []);
  });
});
