import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from './helpers.js';
import { createLoadedSession, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { clientFrame, rawConnection, receivedText, upgradeRequest } from './raw-socket.js';

describe('Socket.IO session subscriptions against hostile packets', () => {
  let pages: PageServer;
  let server: TestServer;

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
  });
  after(async () => {
    await server?.close();
    await pages?.close();
  });

  it('leaves no subscription behind when an invalid packet follows subscribe in the same read', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/`);
    const stream = server.server.sessions.get(id)!.stream;
    for (const invalid of ['9garbage', '4{not socket.io', '42["subscribe",']) {
      const connection = await rawConnection(server.port, upgradeRequest('/socket.io/?EIO=4&transport=websocket'));
      await receivedText(connection, '0{');
      connection.socket.write(clientFrame(1, Buffer.from('40')));
      await receivedText(connection, '40{');
      // One TCP write: socket.io dispatches the subscribe a tick after the invalid packet closed the socket.
      connection.socket.write(Buffer.concat([
        clientFrame(1, Buffer.from(`42["subscribe",{"session_id":"${id}"}]`)),
        clientFrame(1, Buffer.from(invalid)),
      ]));
      // engine.io answers with a close frame (0x88) and waits for ours: that is the socket gone.
      await receivedText(connection, '\x88');
      connection.socket.destroy();
      assert.equal(stream.subscriberCount, 0, `a subscription outlived the socket (invalid packet ${JSON.stringify(invalid)})`);
    }
  });
});
