import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket, type RawData } from 'ws';
import { openSocket, type TestServer } from './helpers.js';
import {
  BLUE, createLoadedSession, near, pixelAt, postJson, RED, startPageServer, startSessionServer, type PageServer, type Rgb,
} from './session-helpers.js';
import { withTimeout as within } from './wait.js';

/** Resolves with the first image from `next()` whose pixel (10, 10) is near `colour`. */
async function untilColour(next: () => Promise<Buffer>, colour: Rgb): Promise<Buffer> {
  for (;;) {
    const image = await next();
    if (near(await pixelAt(image, 10, 10), colour)) return image;
  }
}

/** Images from seeds/002's JSON frames (`data.data_url`) on `WS /stream/:id`. */
function streamJsonImages(ws: WebSocket): () => Promise<Buffer> {
  const queue: Buffer[] = [];
  let waiting: ((image: Buffer) => void) | undefined;
  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (isBinary) return;
    const message = JSON.parse(data.toString());
    if (message.type !== 'frame') return;
    const image = Buffer.from(String(message.data.data_url).split(',')[1]!, 'base64');
    if (waiting) {
      waiting(image);
      waiting = undefined;
    } else {
      queue.splice(0, queue.length, image); // only the newest matters
    }
  });
  return () => queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => (waiting = resolve));
}

describe('browser sessions over REST and WebSocket', () => {
  let pages: PageServer;
  let server: TestServer;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer({ maxSessions: 3, maxSessionsPerIp: 2 });
  });
  after(async () => {
    await server?.close();
    await pages?.close();
  });

  it('clicks through REST and shows the new colour on WS /stream/session:<id>', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`);
    const ws = await openSocket(`${server.ws}/stream/session:${id}?fps=30&quality=80&format=jpeg`);
    try {
      const next = streamJsonImages(ws);
      await within(untilColour(next, RED), 15_000, 'a red frame');
      const click = await postJson(`${server.http}/api/session/${id}/input`, { type: 'click', x: 100, y: 100 });
      assert.equal(click.status, 200, JSON.stringify(click.body));
      await within(untilColour(next, BLUE), 15_000, 'a blue frame after the click');
    } finally {
      ws.close();
    }

    // seeds/004's route delivers the same session as binary JPEG, latest frame at once.
    // Listening before 'open': the first frame can come in the same packet as the handshake.
    const feed = new WebSocket(`${server.ws}/ws/video_feed?stream=session:${id}`);
    try {
      const [data] = (await within(once(feed, 'message'), 15_000, 'a binary frame')) as [Buffer];
      assert.ok(near(await pixelAt(data, 10, 10), BLUE));
    } finally {
      feed.close();
    }

    // Polling fallback: PNG and JSON with base64 PNG, both showing the page as it is now.
    const png = await fetch(`${server.http}/api/session/${id}/frame`);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get('content-type'), 'image/png');
    assert.ok(near(await pixelAt(Buffer.from(await png.arrayBuffer()), 10, 10), BLUE));
    const data = await (await fetch(`${server.http}/api/session/${id}/frame/data`)).json() as Record<string, any>;
    assert.equal(data['success'], true);
    assert.equal(data['session_id'], id);
    assert.equal(data['format'], 'png');
    assert.equal(typeof data['timestamp'], 'number');
    assert.ok(near(await pixelAt(Buffer.from(data['frame'], 'base64'), 10, 10), BLUE));

    const viewer = await fetch(`${server.http}/api/session/${id}/viewer`);
    assert.match(viewer.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await viewer.text(), new RegExp(`/api/session/${id}/frame`));

    const keepalive = await postJson(`${server.http}/api/session/${id}/keepalive`, {});
    assert.equal(keepalive.status, 200);
    assert.equal(keepalive.body.success, true);

    const list = await (await fetch(`${server.http}/api/sessions`)).json() as { sessions: any[] };
    const listed = list.sessions.find((s) => s.session_id === id);
    assert.equal(listed.url, `${pages.origin}/`);
    assert.equal(listed.width, 320);

    const deleted = await fetch(`${server.http}/api/session/${id}`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.equal((await fetch(`${server.http}/api/session/${id}/frame`)).status, 404);
    const gone = await openSocket(`${server.ws}/stream/session:${id}`);
    const [code] = (await within(once(gone, 'close'), 5000, 'close of an unknown stream')) as [number];
    assert.equal(code, 4404);
  });

  it('refuses URLs with bad schemes or private hosts, also after a redirect', async () => {
    const created = await postJson(`${server.http}/api/session/create`, { session_id: 'guarded', width: 320, height: 240 });
    assert.equal(created.status, 201);
    const load = (url: unknown) => postJson(`${server.http}/api/session/guarded/load`, { url });
    try {
      for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'ftp://example.com/', 'not a url', 'data:text/html,hi']) {
        const refused = await load(url);
        assert.equal(refused.status, 400, `${url}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.success, false);
        assert.equal(typeof refused.body.error, 'string');
      }
      assert.equal((await load(42)).status, 400);
      // Only 127.0.0.1 is allowed: other names and addresses of this machine and its networks are not.
      for (const url of [
        `http://localhost:${pages.port}/`, `http://[::1]:${pages.port}/`, `http://127.0.0.2:${pages.port}/`,
        'http://169.254.169.254/latest/meta-data/', 'http://10.1.2.3/', 'http://192.168.0.1/', 'http://0.0.0.0/',
      ]) {
        const refused = await load(url);
        assert.equal(refused.status, 403, `${url}: ${JSON.stringify(refused.body)}`);
        assert.match(refused.body.error, /loopback, private, link-local, unspecified/);
      }
      const redirected = await load(`${pages.origin}/redirect?to=${encodeURIComponent(`http://localhost:${pages.port}/`)}`);
      assert.equal(redirected.status, 403, JSON.stringify(redirected.body));
      assert.match(redirected.body.error, /after a redirect.*localhost/);
      // An allowed redirect still works.
      const fine = await load(`${pages.origin}/redirect?to=${encodeURIComponent(`${pages.origin}/`)}`);
      assert.equal(fine.status, 200, JSON.stringify(fine.body));

      // Subresources go through the same check: an allowed page cannot pull from a private host.
      const remote = (await server.server.sessions.get('guarded')!.page()).page;
      for (const [host, expected] of [['localhost', 'blocked'], ['127.0.0.1', 'loaded']] as const) {
        const embedded = await load(`${pages.origin}/embed?to=${encodeURIComponent(`http://${host}:${pages.port}/pixel.png`)}`);
        assert.equal(embedded.status, 200);
        await remote.waitForFunction(() => (window as any).probe !== undefined, undefined, { timeout: 10_000 });
        assert.equal(await remote.evaluate(() => (window as any).probe), expected, host);
      }
    } finally {
      await fetch(`${server.http}/api/session/guarded`, { method: 'DELETE' });
    }
  });

  it('validates create bodies and input events, and rate-limits REST input', async () => {
    for (const body of [{ width: 10 }, { height: 'big' }, { quality: 5 }, { fps: 0 }, { session_id: 'bad id!' }, { session_id: 7 }]) {
      const refused = await postJson(`${server.http}/api/session/create`, body);
      assert.equal(refused.status, 400, JSON.stringify(body));
      assert.equal(refused.body.success, false);
    }
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'inputs' });
    try {
      const input = (body: unknown) => postJson(`${server.http}/api/session/${id}/input`, body);
      for (const body of [
        { type: 'click', x: '10', y: 10 }, { type: 'click', x: 10 }, { type: 'click', x: 1e9, y: 1 }, { type: 'click', x: -1, y: 1 },
        { type: 'click', x: 1, y: 1, button: 'thumb' }, { type: 'scroll', deltaY: 1e7 }, { type: 'text', text: 'x'.repeat(501) },
        { type: 'text', text: 5 }, { type: 'key', key: 'Enter; rm -rf' }, { type: 'key', key: 'NoSuchKey' }, { type: 'teleport' }, [1],
      ]) {
        const refused = await input(body);
        assert.equal(refused.status, 400, `${JSON.stringify(body)} → ${refused.status} ${JSON.stringify(refused.body)}`);
        assert.equal(typeof refused.body.error, 'string');
      }
      const malformed = await fetch(`${server.http}/api/session/${id}/input`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":',
      });
      assert.equal(malformed.status, 400);
      assert.equal((await input({ type: 'scroll', deltaX: 0, deltaY: 50 })).status, 200);
      assert.equal((await input({ type: 'text', text: 'hello' })).status, 200);
      assert.equal((await input({ type: 'key', key: 'Control+a' })).status, 200);
      assert.equal((await input({ type: 'move', x: 5, y: 5 })).status, 200);
      // A burst far beyond the limit: some answered 429, none crash, the session still works.
      const statuses = await Promise.all(Array.from({ length: 120 }, () => input({ type: 'move', x: 1, y: 1 }).then((r) => r.status)));
      assert.ok(statuses.includes(429), `no 429 among ${statuses.length} rapid inputs`);
      assert.ok(statuses.every((s) => s === 200 || s === 429));
      assert.equal((await fetch(`${server.http}/api/session/${id}/frame`)).status, 200);
    } finally {
      await fetch(`${server.http}/api/session/${id}`, { method: 'DELETE' });
    }
  });

  it('answers 429 beyond the per-IP and overall session limits, 409 for a taken id', async () => {
    const ids: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const ok = await postJson(`${server.http}/api/session/create`, { session_id: `limit${i}`, width: 200, height: 200 });
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        ids.push(ok.body.session_id);
      }
      const taken = await postJson(`${server.http}/api/session/create`, { session_id: 'limit0' });
      assert.equal(taken.status, 409);
      const third = await postJson(`${server.http}/api/session/create`, { width: 200, height: 200 });
      assert.equal(third.status, 429, JSON.stringify(third.body));
      assert.match(third.body.error, /too many sessions from 127\.0\.0\.1/);
    } finally {
      for (const id of ids) await fetch(`${server.http}/api/session/${id}`, { method: 'DELETE' });
    }
    const overall = await startSessionServer({ maxSessions: 1, maxSessionsPerIp: 5 });
    try {
      assert.equal((await postJson(`${overall.http}/api/session/create`, { width: 200, height: 200 })).status, 201);
      const refused = await postJson(`${overall.http}/api/session/create`, { width: 200, height: 200 });
      assert.equal(refused.status, 429);
      assert.match(refused.body.error, /too many sessions: 1 at most/);
    } finally {
      await overall.close();
    }
  });

  it('expires a session after SESSION_TIMEOUT without keepalive or subscriber', async () => {
    const short = await startSessionServer({ sessionTimeout: 1 });
    try {
      const created = await postJson(`${short.http}/api/session/create`, { session_id: 'brief', width: 200, height: 200 });
      assert.equal(created.status, 201);
      assert.ok(created.body.expires_in >= 0 && created.body.expires_in <= 1, `expires_in ${created.body.expires_in}`);
      const closed = new Promise((resolve) => short.server.sessions.once('session:closed', resolve));
      const event = await within(closed, 10_000, 'expiry');
      assert.deepEqual(event, { id: 'brief', reason: 'expired' });
      assert.equal((await fetch(`${short.http}/api/session/brief/frame`)).status, 404);
    } finally {
      await short.close();
    }
  });
});
