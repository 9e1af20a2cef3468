import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { BLUE, createLoadedSession, frameOfColour, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { nextEvent, waitUntil } from './wait.js';

describe('browser session screencast: frames skipped in Chromium', () => {
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

  it('skips paints of a page animating above the session fps, and still shows the last paint when it goes still', async () => {
    // 5 fps against a page painting every animation frame: Chromium should encode about one
    // paint in four, not all of them (a low fps so that a loaded machine still paints above it).
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { fps: 5 });
    const session = server.server.sessions.get(id)!;
    socket = connect(server.http, { reconnection: false, transports: ['websocket'] });
    const subscribed = nextEvent(socket, 'subscribed');
    socket.emit('subscribe', { session_id: id });
    await subscribed;
    await nextEvent(socket, 'frame', () => session.source.everyNthFrame > 1, 30_000)
      .catch(() => assert.fail(`Chromium still sends every frame (everyNthFrame ${session.source.everyNthFrame})`));

    // One last paint, then nothing: with paints skipped in Chromium it would be skipped too
    // (three times in four) unless the source goes back to every frame when frames stop.
    const blue = frameOfColour(socket, BLUE, 20_000);
    const { page } = await session.page();
    // The animation stops (its next requestAnimationFrame goes nowhere); the blue paint comes
    // two page frames later, once the last animated paint is behind it.
    await page.evaluate(`{ const frame = requestAnimationFrame; requestAnimationFrame = () => 0;
      frame(() => frame(() => { const c = document.getElementById('c').getContext('2d'); c.fillStyle = 'rgb(${BLUE.join(',')})'; c.fillRect(0, 0, 1280, 720); })); }`);
    await blue;
    // The blue paint may also be one Chromium sends anyway (one in four): then the source has
    // not seen the page go still yet. Either way it goes back to every frame within a few page
    // frames of stillness (no event says so: a bounded wait on its state).
    await waitUntil(() => session.source.everyNthFrame, (nth) => nth === 1, { timeoutMs: 5_000, what: 'a still page screencast with every frame again' });
  });
});
