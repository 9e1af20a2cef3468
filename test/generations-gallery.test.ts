import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { launchBrowser } from './browser-helpers.js';
import { JWT_SECRET, numberedPng, startGenServer } from './generations-helpers.js';

test('gallery.html lists stored images with prompt, seed and workflow, and adds new ones live (real Chromium)', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: '<b>not bold</b> a harbour', seed: '99', workflow: 'harbour.json' });
  await srv.publishImage(job.job_id, await numberedPng(1, 32), { imageIdx: 0, imageLength: 3 });
  await srv.publishImage(job.job_id, await numberedPng(2, 32), { imageIdx: 1, imageLength: 3 });

  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await browser.newPage();
  await page.goto(`${srv.http}/gallery.html`);
  await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 2, undefined, { timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 10_000 });

  await srv.publishImage(job.job_id, await numberedPng(3, 32), { imageIdx: 2, imageLength: 3 });
  await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 3, undefined, { timeout: 10_000 });

  const cards = await page.$$eval('#grid figure', (figures) => figures.map((f) => ({
    prompt: f.querySelector('.prompt')?.textContent,
    bold: f.querySelector('.prompt b') !== null,
    meta: f.querySelector('.meta')?.textContent,
    loaded: (f.querySelector('img') as HTMLImageElement).complete && (f.querySelector('img') as HTMLImageElement).naturalWidth,
  })));
  assert.equal(cards[0]!.prompt, '<b>not bold</b> a harbour', 'prompts are text, not HTML');
  assert.ok(cards.every((c) => !c.bold));
  assert.match(cards[0]!.meta!, /seed: 99.*workflow: harbour\.json.*size: 32×32/);
  await page.waitForFunction(() => [...document.querySelectorAll('#grid img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 32), undefined, { timeout: 10_000 });
  assert.deepEqual(errors, []);
});

test('gallery.html runs on the client library: without the token it says so and stops retrying; with ?token= it passes the token on and shows that user\'s images only (real Chromium)', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const { json: mine } = await srv.api('POST', '/api/generations', { prompt: 'alice harbour', user_id: 'alice' });
  const { json: theirs } = await srv.api('POST', '/api/generations', { prompt: 'bob secret', user_id: 'bob' });
  await srv.publishImage(mine.job_id, await numberedPng(1, 32), { imageIdx: 0, imageLength: 2 });
  await srv.publishImage(theirs.job_id, await numberedPng(2, 32), { imageIdx: 0, imageLength: 1 });
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, errors } = await browser.newPage();
  const paths: string[] = [];
  const sockets: string[] = [];
  page.on('request', (request) => paths.push(new URL(request.url()).pathname));
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${srv.http}/gallery.html`);
  await page.waitForFunction(() => /need a token/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.ok(paths.includes('/framehub-client.min.js'), paths.join(' '));
  // 4401 is final: the policy gives up. An absence is shown over an interval: the first retry
  // of the backoff would come after about 1 s.
  await page.waitForTimeout(1500);
  assert.equal(sockets.length, 1, `one attempt only: ${sockets.join(' ')}`);
  assert.equal(await page.$$eval('#grid figure', (f) => f.length), 0, 'nothing listed without a token');
  // The browser logs the refused GET /api/images itself; nothing else went wrong.
  assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)), []);

  const token = await new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
  errors.length = 0;
  await page.goto(`${srv.http}/gallery.html?token=${token}`);
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', undefined, { timeout: 10_000 });
  await srv.publishImage(mine.job_id, await numberedPng(3, 32), { imageIdx: 1, imageLength: 2 });
  await page.waitForFunction(() => document.querySelectorAll('#grid figure').length === 2, undefined, { timeout: 10_000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#grid img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth === 32), undefined, { timeout: 10_000 });
  const prompts = await page.$$eval('#grid .prompt', (p) => p.map((e) => e.textContent));
  assert.ok(prompts.every((p) => p === 'alice harbour' || p === '(no prompt)'), prompts.join(' | '));
  assert.deepEqual(errors, []);
});
