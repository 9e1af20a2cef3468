import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { BLUE, createLoadedSession, frameOfColour, postJson, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent } from './wait.js';

/** The session stream's states and notices from now on, timed: what a failed recovery went through. */
function recordRecovery(server: TestServer, id: string): string[] {
  const story: string[] = [];
  const start = performance.now();
  const at = () => `${Math.round(performance.now() - start)} ms`;
  const stream = server.server.sessions.get(id)!.stream;
  stream.on('state:change', ({ newState }) => story.push(`${at()} state ${newState}`));
  stream.on('notice', ({ level, message }) => story.push(`${at()} ${level} ${message}`));
  server.server.sessions.pool.on('disconnected', ({ error }) => story.push(`${at()} pool: ${error.message}`));
  return story;
}

describe('browser session crash recovery', () => {
  let pages: PageServer;
  let server: TestServer;
  let socket: Socket | undefined;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
  });
  after(async () => {
    socket?.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('tells subscribers when the browser process is killed, then comes back on the same URL', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'crashy' });
    socket = connect(server.http, { reconnection: false, transports: ['websocket'] });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: id });
    await subscribed;
    await nextEvent(socket, 'frame');

    const pid = await server.server.sessions.pool.pid();
    assert.ok(pid, 'the browser runs');
    const story = recordRecovery(server, id);
    const error = nextEvent(socket, 'error', (e) => /browser/.test(e.message));
    const back = nextEvent(socket, 'status', (s) => /back/.test(s.message), 30_000);
    const frameAfter = error.then(() => nextEvent(socket!, 'frame', () => true, 30_000));
    process.kill(pid, 'SIGKILL');
    assert.match((await error).message, /browser closed; restarting/);
    await back.catch(async (e: Error) => {
      const pool = server.server.sessions.pool;
      story.push(`now: browser pid ${await pool.pid()}, standby pid ${await pool.standbyPid()}`);
      assert.fail(`${e.message}; what the stream went through:\n${story.join('\n')}`);
    });
    const newPid = await server.server.sessions.pool.pid();
    assert.ok(newPid && newPid !== pid, `a new browser process (${newPid}, was ${pid})`);

    // The page was reloaded: frames flow again and input works on it.
    assert.ok((await frameAfter).size > 0);
    const list = await (await fetch(`${server.http}/api/sessions`)).json() as { sessions: any[] };
    assert.equal(list.sessions.find((s) => s.session_id === id).url, `${pages.origin}/`);
    const blue = frameOfColour(socket, BLUE, 20_000);
    const click = await postJson(`${server.http}/api/session/${id}/input`, { type: 'click', x: 20, y: 20 });
    assert.equal(click.status, 200, JSON.stringify(click.body));
    await blue;
  });

  it('recovers a session whose page crashed, leaving the browser and other sessions alone', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`, { session_id: 'tab_crash' });
    const session = server.server.sessions.get(id)!;
    const pid = await server.server.sessions.pool.pid();
    const watcher = connect(server.http, { reconnection: false, transports: ['websocket'] });
    try {
      const subscribed = nextEvent(watcher, 'subscribed');
      watcher.emit('subscribe', { session_id: id });
      await subscribed;
      await nextEvent(watcher, 'frame');
      const error = nextEvent(watcher, 'error', (e) => /crashed/.test(e.message));
      const back = nextEvent(watcher, 'status', (s) => /back/.test(s.message), 30_000);
      const frameAfter = error.then(() => nextEvent(watcher, 'frame', () => true, 30_000));
      // Crash the renderer the way a misbehaving site would.
      const { cdp } = await session.page();
      void cdp.send('Page.crash').catch(() => {});
      await error;
      await back;
      await frameAfter;
      assert.equal(await server.server.sessions.pool.pid(), pid, 'same browser process');
      assert.equal(session.url, `${pages.origin}/`);
    } finally {
      watcher.disconnect();
    }
  });
});
