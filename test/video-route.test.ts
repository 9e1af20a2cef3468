// The H.264 route over real sockets: WS /video/:id?tier= (src/server/video-route.ts).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { closed, startServer, type TestServer } from './helpers.js';
import { waitFor } from './wait.js';
import { annexBOf, collectUnits, decodeLastPicture, pixelAt } from './video-helpers.js';
import { CloseCode } from '../src/wire/close-codes.js';

describe('WS /video/:id', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      streams: {
        demo: { source: 'pattern', width: 320, height: 180, fps: 30 },
        red: { source: 'video', lavfi: 'color=c=red:size=640x480:rate=15' },
      },
    });
  });
  after(() => server.close());

  async function open(path: string): Promise<WebSocket> {
    const ws = new WebSocket(`${server.ws}${path}`);
    ws.on('error', () => {});
    await once(ws, 'open');
    return ws;
  }

  it('starts with a keyframe and its decoder config, and the picture decodes to the source colour', async () => {
    const ws = await open('/video/red?tier=480p');
    const units = collectUnits(ws);
    try {
      await waitFor('ten units', () => units.length >= 10, 60_000);
      const first = units[0]!;
      assert.equal(first.keyframe, true);
      assert.ok(first.config && first.config.length > 8);
      assert.match(first.codec, /^avc1\.4D[0-9A-F]{4}$/);
      assert.deepEqual([first.width, first.height], [640, 480]);
      assert.ok(units.slice(1, 10).every((u) => !u.config), 'config only on keyframes');
      assert.ok(Date.now() - first.capturedAt < 60_000 && first.capturedAt > Date.now() - 600_000, 'a capture time in ms since the epoch');
      const rgb = await decodeLastPicture(annexBOf(units.slice(0, 10)), 640, 480);
      const [r, g, b] = pixelAt(rgb, 640, 320, 240);
      assert.ok(r > 200 && g < 60 && b < 60, `centre pixel is red: ${r},${g},${b}`);
    } finally {
      ws.close();
    }
  });

  it('a viewer joining a running tier starts at the last keyframe, at once', async () => {
    const firstViewer = await open('/video/demo?tier=360p');
    const firstUnits = collectUnits(firstViewer);
    try {
      // Wait until the run since the last keyframe holds several units.
      await waitFor('a few units after the keyframe', () => firstUnits.length >= 5, 60_000);
      const ws = new WebSocket(`${server.ws}/video/demo?tier=360p`);
      ws.on('error', () => {});
      const units = collectUnits(ws);
      await once(ws, 'open');
      const openedAt = performance.now();
      const seenThen = firstUnits.at(-1)!.seq;
      await waitFor('a first unit', () => units.length > 0, 30_000, 1);
      const waitedMs = performance.now() - openedAt;
      assert.equal(units[0]!.keyframe, true);
      assert.ok(firstUnits.some((u) => u.keyframe && u.seq === units[0]!.seq), 'a keyframe of the same run the first viewer plays');
      // Unless the tier made a new keyframe meanwhile, it is one from before it joined (the
      // tier's last one), not one it waited for.
      const newKeyframe = firstUnits.some((u) => u.keyframe && u.seq > seenThen);
      if (!newKeyframe) assert.ok(units[0]!.seq <= seenThen, `started at keyframe ${units[0]!.seq}, first viewer had seen ${seenThen}`);
      // The bound is 300 ms; a loaded CI machine gets slack, the figure is in docs/video.md.
      assert.ok(waitedMs < 1500, `first unit after ${waitedMs.toFixed(0)} ms`);
      const rgb = await decodeLastPicture(annexBOf(units.slice(0, units.length)), units[0]!.width, units[0]!.height);
      assert.equal(rgb.length, units[0]!.width * units[0]!.height * 3, 'the joined run decodes');
      ws.close();
    } finally {
      firstViewer.close();
    }
  });

  it('switches tier on set_tier, starting the new tier at a keyframe', async () => {
    const ws = await open('/video/red?tier=480p');
    const units = collectUnits(ws);
    try {
      await waitFor('a unit', () => units.length > 0, 60_000);
      ws.send(JSON.stringify({ type: 'set_tier', tier: '360p' }));
      await waitFor('a 360p unit', () => units.some((u) => u.height === 360), 60_000);
      const switched = units.find((u) => u.height === 360)!;
      assert.equal(switched.keyframe, true);
      assert.equal(switched.width, 480);
    } finally {
      ws.close();
    }
  });

  it('refuses an unknown tier and an unknown stream', async () => {
    const badTier = new WebSocket(`${server.ws}/video/demo?tier=4k`);
    badTier.on('error', () => {});
    assert.equal((await closed(badTier)).code, CloseCode.BadRequest);
    const noStream = new WebSocket(`${server.ws}/video/nope`);
    noStream.on('error', () => {});
    assert.equal((await closed(noStream)).code, CloseCode.NotFound);
  });
});

describe('WS /video/:id under the access model', () => {
  it('needs view:<id>: a view:demo token plays demo, not another stream; no token is 4401', async () => {
    const token = 'video-view-demo-token-0123456789';
    const server = await startServer({
      accessTokens: `${token}=view:demo`,
      streams: { demo: { source: 'pattern', width: 160, height: 90, fps: 15 }, other: { source: 'pattern', width: 160, height: 90, fps: 15 } },
    });
    try {
      const ws = new WebSocket(`${server.ws}/video/demo?tier=360p&token=${token}`);
      ws.on('error', () => {});
      const units = collectUnits(ws);
      await waitFor('a unit', () => units.length > 0, 60_000);
      assert.equal(units[0]!.keyframe, true);
      ws.close();
      const other = new WebSocket(`${server.ws}/video/other?token=${token}`);
      other.on('error', () => {});
      assert.equal((await closed(other)).code, CloseCode.Forbidden);
      const none = new WebSocket(`${server.ws}/video/demo`);
      none.on('error', () => {});
      assert.equal((await closed(none)).code, CloseCode.Unauthorized);
    } finally {
      await server.close();
    }
  });
});

describe('WS /video/:id at shutdown', () => {
  it('closes viewers with 1001 and ends every encoder process', async () => {
    const server = await startServer();
    const ws = new WebSocket(`${server.ws}/video/demo?tier=360p`);
    ws.on('error', () => {});
    const units = collectUnits(ws);
    await waitFor('a unit', () => units.length > 0, 60_000);
    assert.equal(server.server.videoTiers.running, 1);
    const closing = closed(ws);
    await server.close();
    assert.equal((await closing).code, 1001);
    assert.equal(server.server.videoTiers.running, 0);
  });
});
