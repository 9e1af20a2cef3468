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
});
