import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from './helpers.js';
import { startHostileUpstream, type HostileUpstream } from './hostile-upstream.js';
import { near, pixelAt, postJson, startSessionServer } from './session-helpers.js';
import { waitUntil, withTimeout as within } from './wait.js';

const GREEN: [number, number, number] = [20, 160, 20];

/**
 * A real browser session pointed at a hostile site: every request Chromium makes goes through
 * the guard proxy. Whatever the site sends, this process (the server, and Chromium with it)
 * keeps running, loads end at once, and the session goes on working.
 */
describe('a browser session loading a hostile site', () => {
  let upstream: HostileUpstream;
  let server: TestServer;

  before(async () => {
    upstream = await startHostileUpstream();
    server = await startSessionServer();
  });
  after(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('survives status 099, bad images and a truncated page, and loads the next page', async (t) => {
    async function timedLoad(id: string, url: string): Promise<{ status: number; body: any; ms: number }> {
      const started = performance.now();
      const answer = await within(postJson(`${server.http}/api/session/${id}/load`, { url }), 25_000, `load ${url}`);
      const ms = performance.now() - started;
      t.diagnostic(`load ${new URL(url).pathname}: ${answer.status} after ${Math.round(ms)} ms`);
      return { ...answer, ms };
    }

    const created = await postJson(`${server.http}/api/session/create`, { session_id: 'hostile', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const session = server.server.sessions.get('hostile')!;
    const pid = await server.server.sessions.pool.pid();
    assert.ok(pid, 'the browser runs');

    // The main document answers `HTTP/1.1 099 Oops`: the page shows the proxy's 502.
    const oops = await timedLoad('hostile', upstream.url('/status-099'));
    assert.equal(oops.status, 200, JSON.stringify(oops.body));
    const text = await (await session.page()).page.evaluate(() => document.body.innerText);
    assert.match(text, /framehub guard proxy/);

    // Every fast-failing behaviour at once, as <img> subresources (status text with \x01, ...).
    const images = await timedLoad('hostile', upstream.url('/page-of-hostile-images'));
    assert.equal(images.status, 200, JSON.stringify(images.body));
    assert.equal(
      await (await session.page()).page.evaluate(() => Promise.all([...document.images].map((img) => img.decode().then(() => 'loaded', () => 'broken')))).then((r) => r.filter((x) => x === 'loaded').length),
      0,
      'no hostile image renders',
    );

    // A page whose body breaks off: the load ends at once, not after the 20 s navigation timeout.
    // Chromium leaves such a document "loading" for good; the load answers 502 as soon as the body breaks.
    const truncated = await timedLoad('hostile', upstream.url('/truncated-html'));
    assert.ok(truncated.ms < 5000, `load of a truncated page took ${Math.round(truncated.ms)} ms (${truncated.status})`);
    assert.equal(truncated.status, 502, JSON.stringify(truncated.body));
    assert.match(truncated.body.error, /ERR_CONTENT_LENGTH_MISMATCH \(the site broke off its answer\)/);

    // After a body broken off mid-chunk, the session still answers for its picture at once
    // (Chromium's "loading for good" document made screenshots wait 30 s).
    for (const path of ['/bad-chunk', '/chunk-overflow', '/truncated-chunked'] as const) {
      await timedLoad('hostile', upstream.url(path));
      const started = performance.now();
      const picture = await within(fetch(`${server.http}/api/session/hostile/frame/data`), 10_000, `the frame after ${path}`);
      t.diagnostic(`frame/data after ${path}: ${picture.status} after ${Math.round(performance.now() - started)} ms`);
      assert.equal(picture.status, 200, path);
    }

    // The same browser, the same session, a good page: rendered and served as a frame.
    const ok = await timedLoad('hostile', upstream.url('/ok'));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.url, upstream.url('/ok'));
    // `load` answers at DOMContentLoaded; the first paint may come a moment later.
    const colour = await waitUntil(async () => {
      const frame = await fetch(`${server.http}/api/session/hostile/frame`);
      assert.equal(frame.status, 200);
      return pixelAt(Buffer.from(await frame.arrayBuffer()), 10, 10);
    }, (rgb) => near(rgb, GREEN), { timeoutMs: 10_000, intervalMs: 100, what: 'the good page to show' });
    assert.ok(near(colour, GREEN), `the good page shows (pixel ${colour.join(',')})`);
    assert.equal(await server.server.sessions.pool.pid(), pid, 'Chromium was never restarted');
  });
  it('stops a navigation that timed out: the old page stays and its picture answers at once', async (t) => {
    const created = await postJson(`${server.http}/api/session/create`, { session_id: 'silent', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ok = await within(postJson(`${server.http}/api/session/silent/load`, { url: upstream.url('/ok') }), 25_000, 'load /ok');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));

    // The site accepts and never answers: the load gives up at its 20 s navigation timeout,
    // 10 s before the guard proxy's own 504 would commit an error page.
    const silent = await within(postJson(`${server.http}/api/session/silent/load`, { url: upstream.url('/silent') }), 25_000, 'load /silent');
    assert.equal(silent.status, 502, JSON.stringify(silent.body));
    // A navigation left pending made every screenshot wait for its commit (up to those 10 s).
    const started = performance.now();
    const picture = await within(fetch(`${server.http}/api/session/silent/frame/data`), 5_000, 'the frame after /silent');
    t.diagnostic(`frame/data after /silent: ${picture.status} after ${Math.round(performance.now() - started)} ms`);
    assert.equal(picture.status, 200);
    assert.equal(server.server.sessions.get('silent')!.url, upstream.url('/ok'), 'the session still names the page it had');
    assert.equal((await server.server.sessions.get('silent')!.page()).page.url(), upstream.url('/ok'));
  });
});
