import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { createLoadedSession, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent } from './wait.js';

/**
 * A page that takes memory V8's heap cap does not see (array buffers) is stopped by the memory
 * watch at SESSION_MEMORY_LIMIT: its session hears why and shows a blank page; the browser and
 * the other sessions go on as they were.
 */
describe('a browser session over its memory limit', () => {
  let pages: PageServer;
  let server: TestServer;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer({ sessionMemoryLimit: 300 });
  });
  after(async () => {
    await server?.close();
    await pages?.close();
  });

  it('kills the page that holds 600 MiB, tells its subscribers, and leaves the browser and the other session alone', async () => {
    const calm = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'calm' });
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'hog' });
    const pid = await server.server.sessions.pool.pid();
    assert.ok(pid, 'the browser runs');
    const watcher = connect(server.http, { reconnection: false, transports: ['websocket'] });
    try {
      const subscribed = nextEvent(watcher, 'subscribed');
      watcher.emit('subscribe', { session_id: id });
      await subscribed;
      await nextEvent(watcher, 'frame');
      const error = nextEvent(watcher, 'error', (e) => /memory/.test(e.message), 30_000);
      const back = nextEvent(watcher, 'status', (s) => /back/.test(s.message), 30_000);

      const loaded = await fetch(`${server.http}/api/session/${id}/load`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${pages.origin}/hog?mb=600` }),
      });
      assert.equal(loaded.status, 200);
      assert.match((await error).message, /the page used \d+ MiB of memory, over the 300 MiB a session's page may use/);
      await back;
      const session = server.server.sessions.get(id)!;
      assert.equal(session.url, 'about:blank', 'the page that ate the memory is not loaded again');
      assert.equal((await session.page()).page.url(), 'about:blank');
      assert.equal(await server.server.sessions.pool.pid(), pid, 'the same browser process');
      const other = server.server.sessions.get(calm)!;
      assert.equal(other.url, `${pages.origin}/`);
      assert.equal(await (await other.page()).page.evaluate(() => 1 + 1), 2, 'the other session\'s page still runs');
    } finally {
      watcher.disconnect();
    }
  });
});
