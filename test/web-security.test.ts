// Issue 15, point 2: security headers on every answer, CORS only for the origins ALLOWED_ORIGINS
// names (preflights included), and a per-address REST rate limit answered in each route
// family's error shape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from './helpers.js';
import { canvasInk, launchBrowser, type TestBrowser } from './browser-helpers.js';
import { waitUntil } from './wait.js';

describe('security headers and CORS', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ allowedOrigins: 'http://app.example' });
  });
  after(() => s.close());

  it('sends a Content Security Policy and the usual hardening headers with the pages', async () => {
    const response = await fetch(`${s.http}/`);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /object-src 'none'/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(response.headers.get('cross-origin-resource-policy'), 'same-site');
  });

  it('answers a preflight from a listed origin with CORS headers naming it, and refuses one from another', async () => {
    const preflight = (origin: string) => fetch(`${s.http}/api/session/create`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    const listed = await preflight('http://app.example');
    assert.equal(listed.status, 204);
    assert.equal(listed.headers.get('access-control-allow-origin'), 'http://app.example');
    const other = await preflight('http://evil.example');
    assert.equal(other.status, 403);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });
});

describe('REST rate limit', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ restRateLimit: 5 });
  });
  after(() => s.close());

  it('answers 429 rate_limited past the limit, in each route family\'s shape, with Retry-After', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${s.http}/api/streams`)).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
    const limited = await fetch(`${s.http}/api/streams`);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal((await limited.json()).error, 'rate_limited');
    // seeds/003's session routes keep their own shape.
    const session = await fetch(`${s.http}/api/sessions`);
    assert.equal(session.status, 429);
    assert.deepEqual(Object.keys(await session.json()).sort(), ['error', 'success']);
  });
});

describe('the pages under their Content Security Policy (real Chromium, policy enforced)', () => {
  let s: TestServer;
  let browser: TestBrowser;
  before(async () => {
    s = await startServer();
    browser = await launchBrowser({ bypassCSP: false });
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('the viewer draws frames, and no page breaks the policy', async () => {
    const { page, errors } = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${s.http}/`);
    await page.click('#connect-button');
    await page.waitForSelector('#connection-state[data-state="connected"]', { timeout: 20_000 });
    const ink = await waitUntil(() => canvasInk(page, '#stream-canvas'), (i) => i.colours >= 6, { timeoutMs: 20_000, what: 'the demo pattern on the canvas' });
    assert.ok(ink.colours >= 6);
    for (const path of ['/session.html', '/gallery.html']) {
      await page.goto(`${s.http}${path}`);
      await page.waitForLoadState('networkidle');
    }
    assert.deepEqual(violations, []);
    assert.deepEqual(errors.filter((e) => /Content Security Policy/i.test(e)), []);
  });
});
