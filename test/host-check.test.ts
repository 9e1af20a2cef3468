import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from './helpers.js';
import { rawConnection, receivedText, upgradeRequest } from './raw-socket.js';
import { hostCheck } from '../src/server/host-check.js';

/** The status line of the answer to a raw request with this Host header. */
async function statusFor(s: TestServer, request: string): Promise<string> {
  const connection = await rawConnection(s.port, request);
  await receivedText(connection, '\r\n');
  connection.socket.destroy();
  return connection.received().split('\r\n')[0]!;
}

const get = (path: string, host: string) => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
const upgrade = (path: string, host: string) => upgradeRequest(path).replace('Host: 127.0.0.1', `Host: ${host}`);

describe('Host check (DNS rebinding)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ publicHosts: 'framehub.example' }); // bound to 127.0.0.1
  });
  after(() => s.close());

  it('refuses a rebound name on REST, WebSocket upgrades and Socket.IO handshakes', async () => {
    const evil = 'rebind.attacker.example';
    assert.match(await statusFor(s, get('/api/streams', evil)), /^HTTP\/1\.1 403/);
    assert.match(await statusFor(s, get('/', `${evil}:${s.port}`)), /^HTTP\/1\.1 403/);
    assert.match(await statusFor(s, upgrade('/stream/demo', evil)), /^HTTP\/1\.1 403/);
    assert.match(await statusFor(s, get('/socket.io/?EIO=4&transport=polling', evil)), /^HTTP\/1\.1 403/);
    assert.match(await statusFor(s, upgrade('/socket.io/?EIO=4&transport=websocket', evil)), /^HTTP\/1\.1 40[03]/);
  });

  it('answers loopback names and the configured public names', async () => {
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, 'framehub.example', 'FRAMEHUB.example:443']) {
      assert.match(await statusFor(s, get('/api/streams', host)), /^HTTP\/1\.1 200/, host);
    }
    assert.match(await statusFor(s, upgrade('/stream/demo', `localhost:${s.port}`)), /^HTTP\/1\.1 101/);
  });

  it('checks nothing when bound beyond loopback with no public names, loopback names only when bound to loopback', () => {
    assert.equal(hostCheck({ host: '0.0.0.0', publicHosts: '' }), undefined);
    const loopbackOnly = hostCheck({ host: '127.0.0.1', publicHosts: '' })!;
    assert.equal(loopbackOnly('localhost:8080'), true);
    assert.equal(loopbackOnly('127.0.0.5'), true);
    assert.equal(loopbackOnly('evil.example:8080'), false);
    assert.equal(loopbackOnly(undefined), true);
  });
});
