import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocket } from 'ws';
import { io as connect, type Socket } from 'socket.io-client';
import type { TestServer } from './helpers.js';
import { openSocket } from './helpers.js';
import { createLoadedSession, startPageServer, startSessionServer, type PageServer } from './session-helpers.js';
import { sniffImage } from '../src/image/sniff.js';
import type { Frame } from '../src/sources/frame.js';
import type { Stream } from '../src/hub/stream.js';
import { nextEvent, withTimeout } from './wait.js';

/** The next frame Chromium sends the session's stream that `predicate` accepts. */
function nextFrame(stream: Stream, predicate: (frame: Frame) => boolean, ms = 30_000): Promise<Frame> {
  let onFrame!: (frame: Frame) => void;
  const found = new Promise<Frame>((resolve) => {
    onFrame = (frame) => {
      if (predicate(frame)) resolve(frame);
    };
    stream.on('frame', onFrame);
  });
  return withTimeout(found, ms, 'a frame of the session').finally(() => stream.off('frame', onFrame));
}

/** A `/ws/video_feed` viewer of the session; `resize` as its config message sets it. */
async function viewer(server: TestServer, id: string, quality: number, resize?: [number, number]): Promise<WebSocket> {
  const ws = await openSocket(`${server.ws}/ws/video_feed?stream=session:${id}&quality=${quality}`);
  ws.on('error', () => {});
  if (resize) ws.send(JSON.stringify({ type: 'config', resize }));
  return ws;
}

describe('browser session screencast: size and quality follow the viewers', () => {
  let pages: PageServer;
  let server: TestServer;
  const sockets: WebSocket[] = [];
  const ioSockets: Socket[] = [];

  before(async () => {
    pages = await startPageServer();
    server = await startSessionServer();
  });
  after(async () => {
    for (const ws of sockets) ws.close();
    for (const socket of ioSockets) socket.disconnect();
    await server?.close();
    await pages?.close();
  });

  it('sends 640-wide frames at quality 50 to a 640-wide viewer at 50, full size again when a full-size viewer joins, and follows back down after it left', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { width: 1280, height: 720, quality: 80, fps: 10 });
    const session = server.server.sessions.get(id)!;
    const small = await viewer(server, id, 50, [640, 360]);
    sockets.push(small);
    const reduced = await nextFrame(session.stream, (frame) => frame.width < 1280)
      .catch(() => assert.fail(`Chromium still sends ${session.stream.latest?.width} wide frames (sending ${JSON.stringify(session.source.sending)})`));
    assert.deepEqual(session.source.sending, { width: 640, height: 360, quality: 50 });
    assert.deepEqual([reduced.width, reduced.height, reduced.quality], [640, 360, 50], 'the frame as Chromium encoded it');
    assert.deepEqual(sniffImage(reduced.bytes)?.width, 640);
    // The viewer gets Chromium's bytes as they are: no encode on the server.
    const encodes = session.stream.variants.encodes;
    const received = await new Promise<Buffer>((resolve) => small.once('message', (data: Buffer) => resolve(data)));
    assert.equal(sniffImage(received)?.width, 640);
    await nextFrame(session.stream, () => true);
    assert.equal(session.stream.variants.encodes, encodes, 'passed through');

    const full = await viewer(server, id, 80);
    sockets.push(full);
    const back = await nextFrame(session.stream, (frame) => frame.width === 1280 && frame.quality === 80);
    assert.equal(back.height, 720);
    assert.deepEqual(session.source.sending, { width: 1280, height: 720, quality: 80 });

    full.close();
    const down = await nextFrame(session.stream, (frame) => frame.width === 640 && frame.quality === 50);
    assert.equal(down.height, 360);
  });

  it('answers the REST frame at full size while the only viewer watches 640 wide', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { width: 1280, height: 720, quality: 80, fps: 10 });
    const session = server.server.sessions.get(id)!;
    const small = await viewer(server, id, 50, [640, 360]);
    sockets.push(small);
    await nextFrame(session.stream, (frame) => frame.width === 640);
    const response = await fetch(`${server.http}/api/session/${id}/frame`);
    assert.equal(response.status, 200);
    const png = Buffer.from(await response.arrayBuffer());
    assert.deepEqual(sniffImage(png), { format: 'png', mimeType: 'image/png', width: 1280, height: 720 });
  });

  it('sends a Socket.IO viewer\'s quality (seeds/003 quality:set), and the higher one when a viewer at the default joins', async () => {
    const id = await createLoadedSession(server, `${pages.origin}/animated`, { width: 1280, height: 720, quality: 80, fps: 10 });
    const session = server.server.sessions.get(id)!;
    const low = connect(server.http, { reconnection: false });
    ioSockets.push(low);
    low.emit('quality:set', { quality: 40 });
    const subscribed = nextEvent(low, 'subscribed');
    low.emit('subscribe', { session_id: id });
    assert.equal((await subscribed).quality, 40);
    const reduced = await nextFrame(session.stream, (frame) => frame.quality === 40)
      .catch(() => assert.fail(`Chromium still sends quality ${session.stream.latest?.quality} (sending ${JSON.stringify(session.source.sending)})`));
    assert.deepEqual([reduced.width, reduced.height], [1280, 720], 'Socket.IO viewers take the full size');

    const usual = connect(server.http, { reconnection: false });
    ioSockets.push(usual);
    usual.emit('subscribe', { session_id: id });
    await nextFrame(session.stream, (frame) => frame.quality === 80);
    assert.deepEqual(session.source.sending, { width: 1280, height: 720, quality: 80 });
  });
});
