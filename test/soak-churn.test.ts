// Viewers that come and go leave nothing behind: no subscriber slot, no socket, no descriptor
// (issue 13, point 7). The long version with memory figures is `npm run bench -- --scenario
// churn` (docs/reliability.md); this one runs in seconds over real sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import type { WebSocket } from 'ws';
import { nextJson, openSocket, startServer, type TestServer } from './helpers.js';
import { waitUntil } from './wait.js';

/** Under the per-address cap a server may set by default: every viewer comes from 127.0.0.1. */
const VIEWERS = 48;
const ROUNDS = 3;

const openDescriptors = () => readdirSync('/proc/self/fd').length;

function connections(s: TestServer): Promise<number> {
  return new Promise((resolve, reject) => s.server.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

/**
 * Polls `read` until it returns `want` or `timeoutMs` passes; returns the last value. Polled:
 * a subscriber count and a descriptor table have no event to wait for.
 */
async function settlesAt(read: () => number | Promise<number>, want: number, timeoutMs = 10_000): Promise<number> {
  // The caller asserts on the value, so its failure shows what the count settled at instead.
  return waitUntil(read, (value) => value === want, { timeoutMs, intervalMs: 20 }).catch(() => read());
}

describe('viewers connecting and leaving (churn)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('leaves no subscriber, connection or descriptor behind, round after round', async () => {
    const stream = s.server.hub.resolve('demo');
    assert.ok(stream);
    // One viewer first, so the source, its encoder and the route are all warm before counting.
    const first = await openSocket(`${s.ws}/stream/demo?fps=5`);
    await nextJson(first, (m) => m.type === 'frame');
    first.close();
    await once(first, 'close');
    assert.equal(await settlesAt(() => stream.subscriberCount, 0), 0);
    assert.equal(await settlesAt(() => connections(s), 0), 0);
    const baseline = openDescriptors();

    for (let round = 1; round <= ROUNDS; round++) {
      const viewers: WebSocket[] = await Promise.all(Array.from({ length: VIEWERS }, () => openSocket(`${s.ws}/stream/demo?fps=5`)));
      await Promise.all(viewers.map((ws) => nextJson(ws, (m) => m.type === 'frame')));
      assert.equal(stream.subscriberCount, VIEWERS, `round ${round}: every viewer subscribed`);
      // Half say goodbye with a close frame, half vanish (the TCP connection dropped).
      const gone = viewers.map((ws) => once(ws, 'close'));
      viewers.forEach((ws, i) => (i % 2 === 0 ? ws.close(1000) : ws.terminate()));
      await Promise.all(gone);
      assert.equal(await settlesAt(() => stream.subscriberCount, 0), 0, `round ${round}: subscribers left behind`);
      assert.equal(await settlesAt(() => connections(s), 0), 0, `round ${round}: connections left open on the server`);
      assert.equal(await settlesAt(openDescriptors, baseline), baseline, `round ${round}: descriptors left open`);
    }
  });
});
