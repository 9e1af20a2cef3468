// Playback of a recording as a stream (issue 19 point 2; docs/recording.md "Playback"):
// `recording:<id>` on /ws/video_feed, Socket.IO and REST, with seek, speed, pause and play.
// The recorded stream is a lavfi colour whose hue turns 30° a second, so what a frame shows
// says where in the recording it is; the truth at a time is read from the file by ffmpeg.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { WebSocket, type RawData } from 'ws';
import sharp from 'sharp';
import { io as connect, type Socket } from 'socket.io-client';
import { closed, startServer, type TestServer } from './helpers.js';
import { tempDir } from './temp-dir.js';
import { nextEvent, waitUntil, withTimeout } from './wait.js';
import { useBrowser } from './browser-helpers.js';
import { collectUnits, untilUnits } from './video-helpers.js';
import type { Page } from 'playwright-core';

const run = promisify(execFile);
/** 30° a second: a recording under 12 s never shows the same hue twice. */
const HUE_GRAPH = 'color=c=red:s=320x180:r=30,hue=h=t*30';
const ADMIN = 'playback-admin-token-0123456789';
const DEMO_VIEWER = 'playback-demo-viewer-token-0123456789';
const OTHER_VIEWER = 'playback-other-viewer-token-0123456789';

/** The hue (degrees) of a picture's mean colour. */
async function hueOf(image: Buffer): Promise<number> {
  const { channels } = await sharp(image).stats();
  const [r, g, b] = channels.slice(0, 3).map((c) => c.mean / 255) as [number, number, number];
  const max = Math.max(r, g, b);
  const d = max - Math.min(r, g, b);
  if (d === 0) return 0;
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (h * 60 + 360) % 360;
}

function hueDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 360;
  return Math.min(d, 360 - d);
}

/** What the recording shows at `seconds`, read from the file itself. */
async function truthAt(file: string, seconds: number): Promise<number> {
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-ss', String(seconds), '-i', file, '-frames:v', '1', '-f', 'mjpeg', 'pipe:1'], { encoding: 'buffer', maxBuffer: 1 << 24 });
  return hueOf(stdout);
}

async function api(server: TestServer, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.http}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

/** Records `stream` until ffmpeg has been handed `units` units, then stops; the recording's id. */
async function record(server: TestServer, stream: string, units: number, token?: string): Promise<string> {
  const started = await api(server, 'POST', `/api/streams/${stream}/record`, undefined, token);
  assert.equal(started.status, 201, JSON.stringify(started.body));
  await waitUntil(() => server.server.recordings.counters(stream)?.units ?? 0, (n) => n >= units, { timeoutMs: 60_000, what: `${units} units recorded` });
  const stopped = await api(server, 'DELETE', `/api/streams/${stream}/record`, undefined, token);
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  return started.body.recording_id as string;
}

/** A `/ws/video_feed` viewer: its frames and text messages as they come. */
class FeedViewer {
  readonly ws: WebSocket;
  readonly messages: any[] = [];
  frames = 0;

  constructor(server: TestServer, stream: string, token?: string) {
    this.ws = new WebSocket(`${server.ws}/ws/video_feed?stream=${encodeURIComponent(stream)}${token ? `&token=${token}` : ''}`);
    this.ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) this.frames++;
      else this.messages.push(JSON.parse(data.toString()));
    });
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The next text message that `holds`. */
  next(holds: (message: any) => boolean, what: string, ms = 20_000): Promise<any> {
    return withTimeout(new Promise((resolve) => {
      const onMessage = (data: RawData, isBinary: boolean) => {
        if (isBinary) return;
        const message = JSON.parse(data.toString());
        if (!holds(message)) return;
        this.ws.off('message', onMessage);
        resolve(message);
      };
      this.ws.on('message', onMessage);
    }), ms, what);
  }

  /** The next frame whose hue `holds`, checked frame by frame (one at a time: a slow check skips frames, never piles them up). */
  frameWhere(holds: (hue: number) => boolean, what: string, ms = 20_000): Promise<number> {
    let last = NaN;
    let busy = false;
    let onMessage: (data: RawData, isBinary: boolean) => void = () => {};
    const found = new Promise<number>((resolve) => {
      onMessage = (data, isBinary) => {
        if (!isBinary || busy) return;
        busy = true;
        void hueOf(data as Buffer).then((hue) => {
          busy = false;
          last = hue;
          if (holds(hue)) resolve(hue);
        }, () => (busy = false));
      };
      this.ws.on('message', onMessage);
    });
    return withTimeout(found, ms, `${what} (last hue ${last.toFixed(1)})`).finally(() => this.ws.off('message', onMessage));
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Waits until the viewer's canvas shows a hue within `tolerance` of `truth` (checked in the
 * page, as each frame is drawn); resolves with the hue it found.
 */
async function canvasShowsHue(page: Page, truth: number, tolerance: number): Promise<number> {
  const handle = await page.waitForFunction(([truth, tolerance]) => {
    const canvas = document.getElementById('stream-canvas') as HTMLCanvasElement;
    const ctx = canvas.getContext('2d');
    if (!ctx || canvas.width === 0) return false;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let r = 0, g = 0, b = 0, n = 0;
    for (let i = 0; i < data.length; i += 4 * 13) {
      r += data[i]!; g += data[i + 1]!; b += data[i + 2]!; n++;
    }
    [r, g, b] = [r / n / 255, g / n / 255, b / n / 255];
    const max = Math.max(r, g, b), d = max - Math.min(r, g, b);
    if (d < 0.05) return false;
    const h = ((max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4) * 60 + 360) % 360;
    const off = Math.min(Math.abs(h - truth!) % 360, 360 - (Math.abs(h - truth!) % 360));
    return off < tolerance! ? h : false;
  }, [truth, tolerance] as const, { timeout: 20_000, polling: 'raf' });
  return (await handle.jsonValue()) as number;
}

const isPlaybackStatus = (holds: (playback: any) => boolean) => (message: any) => message.type === 'status' && message.data?.playback !== undefined && holds(message.data.playback);

describe('playing a recording back as a stream', () => {
  let server: TestServer;
  let dir: { path: string; cleanup(): Promise<void> };
  let id: string;
  let file: string;
  let duration: number;

  before(async () => {
    dir = await tempDir();
    server = await startServer({ recordingsDir: dir.path, streams: { hue: { source: 'video', lavfi: HUE_GRAPH, fps: 30 }, demo: { source: 'pattern', width: 320, height: 180, fps: 30 } } });
    // About 8 s: 240° of hue, none of it seen twice.
    id = await record(server, 'hue', 240);
    file = join(dir.path, `${id}.mp4`);
    const state = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
    assert.equal(state.status, 200, JSON.stringify(state.body));
    duration = state.body.duration;
    assert.ok(duration > 5 && duration < 11, `duration ${duration}`);
  });
  after(async () => {
    await server.close();
    await dir.cleanup();
  });
  const browser = useBrowser();

  it('the viewer at / shows a timeline for a recording: its extent and position; scrubbing seeks and the picture changes, pause/play and speed steer it', async (t) => {
    const { page, errors } = await browser().newPage();
    t.after(() => page.close());
    // A named playback: this page's scrubbing moves no other test's.
    const stream = `recording:${id}:page`;
    await page.goto(`${server.http}/?stream=${encodeURIComponent(stream)}&connect=1`);
    await page.waitForSelector('#connection-state[data-state="connected"]', { timeout: 15_000 });
    await page.waitForSelector('#timeline:not([hidden])', { timeout: 15_000 });
    // The extent is the recording's.
    await page.waitForFunction((d) => Math.abs(Number(document.getElementById('timeline')!.dataset['duration']) - d) < 0.5, duration, { timeout: 15_000 });
    assert.ok(Math.abs(Number(await page.getAttribute('#timeline-range', 'max')) - duration) < 0.5);

    await page.click('#timeline-play');
    await page.waitForSelector('#timeline-play[data-paused="true"]', { timeout: 15_000 });
    assert.equal((await api(server, 'GET', `/api/streams/${stream}/playback`)).body.paused, true);

    for (const at of [6, 2]) {
      const truth = await truthAt(file, at);
      await page.fill('#timeline-range', String(at));
      const shown = await canvasShowsHue(page, truth, 15);
      assert.ok(hueDistance(shown, truth) < 15);
      const state = await api(server, 'GET', `/api/streams/${stream}/playback`);
      assert.equal(state.body.position, at);
      assert.ok(Math.abs(Number(await page.getAttribute('#timeline', 'data-position')) - at) < 0.01);
      assert.match((await page.textContent('#timeline-position')) ?? '', new RegExp(`^0:0${at}\\.0 / `));
    }

    await page.selectOption('#timeline-speed', '4');
    await waitUntil(async () => (await api(server, 'GET', `/api/streams/${stream}/playback`)).body.speed, (speed) => speed === 4, { what: 'speed 4 from the page' });
    await page.click('#timeline-play');
    await page.waitForSelector('#timeline-play[data-paused="false"]', { timeout: 15_000 });
    // Playing at 4×, the position the page shows moves on.
    await page.waitForFunction(() => Number(document.getElementById('timeline')!.dataset['position']) > 3, undefined, { timeout: 15_000 });
    assert.deepEqual(errors, []);
  });

  it('states the playback over REST: position, duration, speed, paused; 409 for a stream that is no playback, 404 for unknown ids', async () => {
    const state = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
    assert.equal(state.status, 200);
    assert.deepEqual(Object.keys(state.body).sort(), ['duration', 'ended', 'paused', 'position', 'recording', 'recording_id', 'speed', 'stream']);
    assert.equal(state.body.stream, `recording:${id}`);
    assert.equal(state.body.recording_id, id);
    assert.equal(state.body.recording, false);
    assert.equal(state.body.speed, 1);
    const notPlayback = await api(server, 'GET', '/api/streams/demo/playback');
    assert.equal(notPlayback.status, 409);
    assert.equal(notPlayback.body.error, 'playback_not_accepted');
    for (const unknown of ['recording:20261203T081500Z-00000000', 'recording:..%2F..%2Fetc', 'recording:', `recording:${id}:${'x'.repeat(40)}`, 'nope']) {
      const res = await api(server, 'GET', `/api/streams/${unknown}/playback`);
      assert.equal(res.status, 404, unknown);
      assert.equal(res.body.error, 'stream_not_found', unknown);
      const post = await api(server, 'POST', `/api/streams/${unknown}/playback`, { paused: true });
      assert.equal(post.status, 404, unknown);
    }
  });

  it('plays on /ws/video_feed; pause, then a seek shows the picture at that time; speed 2 reaches the end in half the time and pauses on the last frame', async () => {
    const viewer = new FeedViewer(server, `recording:${id}`);
    try {
      const first = await viewer.frameWhere(() => true, 'a first frame');
      // From the start: the first picture is near the recording's first.
      assert.ok(hueDistance(first, await truthAt(file, 0)) < 60, `first hue ${first}`);

      viewer.send({ type: 'command', action: 'pause' });
      const paused = await viewer.next(isPlaybackStatus((p) => p.paused === true), 'a paused status');
      assert.match(paused.data.message, /paused/);
      assert.equal(paused.data.playback.recording_id, id);

      const target = 6;
      const truth = await truthAt(file, target);
      assert.ok(hueDistance(truth, first) > 90, 'the test needs a seek target that looks unlike the start');
      viewer.send({ type: 'command', action: 'seek', value: target });
      const sought = await viewer.next(isPlaybackStatus((p) => p.position === target), 'a status at the seek target');
      assert.equal(sought.data.playback.paused, true, 'a seek keeps the playback paused');
      // Within 15° (half a second of hue) of what the file shows there.
      await viewer.frameWhere((hue) => hueDistance(hue, truth) < 15, `a frame showing ${target} s (hue ${truth.toFixed(1)})`);
      const rest = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
      assert.equal(rest.body.position, target);
      assert.equal(rest.body.paused, true);

      viewer.send({ type: 'command', action: 'seek', value: 2 });
      await viewer.next(isPlaybackStatus((p) => p.position === 2), 'a status at 2 s');
      viewer.send({ type: 'command', action: 'speed', value: 2 });
      await viewer.next(isPlaybackStatus((p) => p.speed === 2), 'a status at speed 2');
      const playedAt = Date.now();
      viewer.send({ type: 'command', action: 'play' });
      await viewer.next(isPlaybackStatus((p) => p.paused === false), 'a playing status');
      const end = await viewer.next(isPlaybackStatus((p) => p.ended === true), 'the end of the recording', 30_000);
      const elapsed = (Date.now() - playedAt) / 1000;
      const media = duration - 2;
      assert.match(end.data.message, /reached the end/);
      assert.equal(end.data.playback.paused, true);
      assert.ok(Math.abs(end.data.playback.position - duration) < 1, `ended at ${end.data.playback.position} of ${duration}`);
      // 2×: about media / 2 seconds (1× would take media seconds); ffmpeg's start-up is slack.
      assert.ok(elapsed < media * 0.85 && elapsed > media * 0.3, `${media.toFixed(2)} s of recording played in ${elapsed.toFixed(2)} s`);
      // Not an error, not a close: the viewer is still there, on the last picture.
      assert.equal(viewer.ws.readyState, WebSocket.OPEN);
      assert.ok(!viewer.messages.some((m) => m.type === 'error'), JSON.stringify(viewer.messages.filter((m) => m.type === 'error')));
      const state = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
      assert.equal(state.body.ended, true);

      // play at the end of a finished recording starts again from its start.
      viewer.send({ type: 'command', action: 'speed', value: 1 });
      viewer.send({ type: 'command', action: 'play' });
      const again = await viewer.next(isPlaybackStatus((p) => p.paused === false), 'playing again');
      assert.ok(again.data.playback.position < 1, `play after the end: ${again.data.playback.position}`);
    } finally {
      viewer.close();
    }
  });

  it('plays on the other wire formats too: /stream/:id (seeds/002 JSON frames and the status) and /video/:id (H.264 units)', async () => {
    const json = new WebSocket(`${server.ws}/stream/recording:${id}:formats`);
    const video = new WebSocket(`${server.ws}/video/recording:${id}:formats?tier=360p`);
    try {
      const units = collectUnits(video);
      const frame = await new Promise<any>((resolve, reject) => {
        json.on('message', (data: RawData) => {
          const message = JSON.parse(data.toString());
          if (message.type === 'frame') resolve(message);
        });
        json.once('close', (code: number) => reject(new Error(`/stream closed with ${code}`)));
      });
      assert.match(frame.data.data_url, /^data:image\/jpeg;base64,/);
      await untilUnits(video, 'a keyframe on /video', () => units.some((unit) => unit.keyframe), 30_000);
      const status = new Promise<any>((resolve) => json.on('message', (data: RawData) => {
        const message = JSON.parse(data.toString());
        if (message.type === 'status' && message.data.playback?.paused === true) resolve(message);
      }));
      // Steered from the seeds/002 socket itself: `{"command":"playback","playback":{…}}`.
      json.send(JSON.stringify({ command: 'playback', playback: { paused: true } }));
      assert.equal((await withTimeout(status, 20_000, 'the paused status on /stream')).data.playback.recording_id, id);
      assert.equal((await api(server, 'GET', `/api/streams/recording:${id}:formats/playback`)).body.paused, true);
      // Bad playback commands on it get seeds/002 errors and keep the socket.
      const refused = new Promise<any>((resolve) => json.on('message', (data: RawData) => {
        const message = JSON.parse(data.toString());
        if (message.type === 'error') resolve(message);
      }));
      json.send(JSON.stringify({ command: 'playback', playback: { speed: 20 } }));
      assert.equal((await withTimeout(refused, 20_000, 'the error for speed 20')).error.code, 'invalid_options');
      assert.equal(json.readyState, WebSocket.OPEN);
    } finally {
      json.close();
      video.close();
    }
  });

  it('refuses bad commands on /ws/video_feed with defined errors and keeps the socket', async () => {
    const viewer = new FeedViewer(server, `recording:${id}`);
    try {
      await viewer.frameWhere(() => true, 'a first frame');
      const cases: [object, string][] = [
        [{ type: 'command', action: 'seek', value: -1 }, 'invalid_options'],
        [{ type: 'command', action: 'seek', value: '3' }, 'invalid_options'],
        [{ type: 'command', action: 'seek', value: 1e308 }, 'invalid_options'],
        [{ type: 'command', action: 'seek', value: null }, 'invalid_options'],
        [{ type: 'command', action: 'seek', value: duration + 30 }, 'invalid_options'],
        [{ type: 'command', action: 'speed', value: 0.1 }, 'invalid_options'],
        [{ type: 'command', action: 'speed', value: 9 }, 'invalid_options'],
        [{ type: 'command', action: 'speed', value: '2' }, 'invalid_options'],
        [{ type: 'command', action: 'rewind' }, 'unknown_command'],
      ];
      for (const [command, code] of cases) {
        viewer.send(command);
        const error = await viewer.next((m) => m.type === 'error', `an error for ${JSON.stringify(command)}`);
        assert.equal(error.error.code, code, JSON.stringify(command));
      }
      assert.equal(viewer.ws.readyState, WebSocket.OPEN);
      const state = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
      assert.ok(state.body.position <= duration && state.body.speed === 1, JSON.stringify(state.body));
    } finally {
      viewer.close();
    }
    // The same commands on a stream that is no playback.
    const live = new FeedViewer(server, 'demo');
    try {
      await live.frameWhere(() => true, 'a demo frame');
      live.send({ type: 'command', action: 'pause' });
      const error = await live.next((m) => m.type === 'error', 'an error for pause on demo');
      assert.equal(error.error.code, 'playback_not_accepted');
    } finally {
      live.close();
    }
  });

  it('takes playback:set over Socket.IO, answered with the state; bad payloads get error codes', async () => {
    const socket: Socket = connect(server.http, { transports: ['websocket'], reconnection: false });
    try {
      await nextEvent(socket, 'connect');
      const early = await socket.emitWithAck('playback:set', { paused: true });
      assert.equal(early.error.code, 'playback_not_accepted');
      const subscribed = await socket.emitWithAck('subscribe', { stream: `recording:${id}` });
      assert.equal(subscribed.stream, `recording:${id}`);
      await nextEvent(socket, 'frame');
      // Listening before the command: paused, the playback sends the one frame at 3 s.
      const truth = await truthAt(file, 3);
      let onFrame: (frame: { image: string }) => void = () => {};
      const shown = withTimeout(new Promise<void>((resolve) => {
        onFrame = (frame) => void hueOf(Buffer.from(frame.image, 'base64')).then((hue) => { if (hueDistance(hue, truth) < 15) resolve(); }, () => {});
        socket.on('frame', onFrame);
      }), 20_000, `a Socket.IO frame showing 3 s (hue ${truth.toFixed(1)})`);
      const paused = await socket.emitWithAck('playback:set', { paused: true, seek: 3 });
      assert.equal(paused.paused, true);
      assert.equal(paused.position, 3);
      await shown.finally(() => socket.off('frame', onFrame));
      const status = nextEvent(socket, 'status', (s: any) => s.playback?.speed === 4);
      const faster = await socket.emitWithAck('playback:set', { speed: 4 });
      assert.equal(faster.speed, 4);
      assert.equal((await status).playback.paused, true);

      for (const bad of [{ seek: -3 }, { seek: '3' }, { seek: duration + 30 }, { speed: 0 }, { speed: 8.5 }, { paused: 'yes' }, {}, { rewind: 1 }, 'seek', null, [1]]) {
        const answer = await socket.emitWithAck('playback:set', bad);
        assert.ok(answer.error, JSON.stringify(bad));
        assert.ok(['invalid_options', 'invalid_message'].includes(answer.error.code), `${JSON.stringify(bad)}: ${answer.error.code}`);
      }
      const after = await socket.emitWithAck('playback:set', { speed: 1, paused: false });
      assert.equal(after.speed, 1);
      assert.equal(after.paused, false);
      assert.ok(socket.connected);
      await socket.emitWithAck('subscribe', { stream: 'demo' });
      const refused = await socket.emitWithAck('playback:set', { paused: true });
      assert.equal(refused.error.code, 'playback_not_accepted');
    } finally {
      socket.close();
    }
  });

  it('shares one playback among the viewers of an id (REST steers what a socket viewer sees); recording:<id>:<name> is a playback of its own', async () => {
    const viewer = new FeedViewer(server, `recording:${id}`);
    const own = new FeedViewer(server, `recording:${id}:mine`);
    try {
      await viewer.frameWhere(() => true, 'a frame');
      await own.frameWhere(() => true, 'a frame of the own playback');
      // Paused, the playback sends one frame where it is: what the viewer shows is where REST put it.
      for (const [at, body] of [[1, { paused: true, seek: 1 }], [4, { seek: 4 }]] as const) {
        const truth = await truthAt(file, at);
        const shown = viewer.frameWhere((hue) => hueDistance(hue, truth) < 15, `the shared viewer showing ${at} s`);
        const heard = viewer.next(isPlaybackStatus((p) => p.paused === true && p.position === at), `the REST change to ${at} s, as a status`);
        const answer = await api(server, 'POST', `/api/streams/recording:${id}/playback`, body);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.position, at);
        assert.equal(answer.body.paused, true);
        await heard;
        await shown;
      }
      const mine = await api(server, 'GET', `/api/streams/recording:${id}:mine/playback`);
      // Paused only where it reached its own end, never by the shared playback's commands.
      assert.ok(!mine.body.paused || mine.body.ended, `the named playback: ${JSON.stringify(mine.body)}`);
      assert.equal(own.messages.filter((m) => m.data?.playback?.paused === true && !m.data.playback.ended).length, 0);
    } finally {
      viewer.close();
      own.close();
    }
  });

  it('refuses bad REST bodies with 400 and changes nothing', async () => {
    const before = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
    for (const body of [{ seek: -1 }, { seek: '1' }, { seek: duration + 100 }, { speed: 100 }, { speed: -1 }, { paused: 1 }, {}, { other: true }, [1], 'null', '"seek"']) {
      const res = await api(server, 'POST', `/api/streams/recording:${id}/playback`, body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(['invalid_body', 'invalid_options'].includes(res.body.error), `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    }
    const broken = await api(server, 'POST', `/api/streams/recording:${id}/playback`, '{"seek":');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error, 'invalid_json');
    const after = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
    assert.equal(after.body.speed, before.body.speed);
    assert.equal(after.body.paused, before.body.paused);
  });

  it('a burst of seeks runs one ffmpeg at a time (latest seek wins)', async () => {
    const viewer = new FeedViewer(server, `recording:${id}`);
    try {
      await viewer.frameWhere(() => true, 'a frame');
      await api(server, 'POST', `/api/streams/recording:${id}/playback`, { paused: false, speed: 1 });
      const children = async () => {
        const { stdout } = await run('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }));
        return stdout.split('\n').filter((line) => /ffmpeg/.test(line)).length;
      };
      // Earlier tests' playbacks stop within their idle grace; from here the shared one is the only ffmpeg.
      await waitUntil(children, (n) => n <= 1, { what: 'one ffmpeg before the burst' });
      let most = 0;
      for (let i = 0; i < 40; i++) {
        const res = await api(server, 'POST', `/api/streams/recording:${id}/playback`, { seek: (i % 7) + 0.5 });
        assert.equal(res.status, 200);
        most = Math.max(most, await children());
      }
      const last = 39 % 7 + 0.5;
      // The hue stream's ffmpeg is not running (nobody watches it); one playback ffmpeg, one being stopped.
      assert.ok(most <= 2, `${most} ffmpeg processes at once`);
      const state = await api(server, 'GET', `/api/streams/recording:${id}/playback`);
      assert.ok(state.body.position >= last && state.body.position < last + 3, `position ${state.body.position} after the last seek to ${last}`);
      const truth = await truthAt(file, last + 1);
      await viewer.frameWhere((hue) => hueDistance(hue, truth) < 45, `frames from the last seek (${last} s)`);
    } finally {
      viewer.close();
    }
  });

  it('ends the stream with a clear error when the recording is deleted while played', async () => {
    const short = await record(server, 'hue', 45);
    const viewer = new FeedViewer(server, `recording:${short}`);
    const socket: Socket = connect(server.http, { transports: ['websocket'], reconnection: false });
    const connected = nextEvent(socket, 'connect');
    try {
      await viewer.frameWhere(() => true, 'a frame');
      await connected;
      await socket.emitWithAck('subscribe', { stream: `recording:${short}` });
      await api(server, 'POST', `/api/streams/recording:${short}/playback`, { paused: true });
      const socketError = nextEvent(socket, 'error', (e: any) => e.code === 'stream_ended');
      const feedError = viewer.next((m) => m.type === 'error', 'an error on /ws/video_feed');
      const gone = closed(viewer.ws);
      const deleted = await api(server, 'DELETE', `/api/recordings/${short}`);
      assert.equal(deleted.status, 200);
      const error = await feedError;
      assert.equal(error.error.code, 'stream_ended');
      assert.match(error.error.message, new RegExp(`recording ${short} was deleted`));
      assert.equal((await gone).code, 4410);
      assert.match((await socketError).message, /was deleted/);
      const after = await api(server, 'GET', `/api/streams/recording:${short}/playback`);
      assert.equal(after.status, 404);
    } finally {
      viewer.close();
      socket.close();
    }
  });

  it('plays a recording still being written up to what is written, and says it is recording', async () => {
    const started = await api(server, 'POST', '/api/streams/hue/record');
    assert.equal(started.status, 201);
    const live = started.body.recording_id as string;
    try {
      await waitUntil(() => server.server.recordings.counters('hue')?.units ?? 0, (n) => n >= 120, { timeoutMs: 60_000, what: '4 s recorded' });
      const viewer = new FeedViewer(server, `recording:${live}`);
      try {
        await viewer.frameWhere(() => true, 'a frame of the recording under way');
        const state = await api(server, 'GET', `/api/streams/recording:${live}/playback`);
        assert.equal(state.body.recording, true);
        assert.ok(state.body.duration >= 2, JSON.stringify(state.body));
        await api(server, 'POST', `/api/streams/recording:${live}/playback`, { speed: 8 });
        // 8× catches up with the writer: the end of what is written, paused there.
        const end = await viewer.next(isPlaybackStatus((p) => p.ended === true), 'the end of what is written', 30_000);
        assert.equal(end.data.playback.recording, true);
        assert.equal(end.data.playback.paused, true);
        assert.equal(viewer.ws.readyState, WebSocket.OPEN);
      } finally {
        viewer.close();
      }
    } finally {
      await api(server, 'DELETE', '/api/streams/hue/record');
    }
  });
});

describe('who may watch and steer a playback', () => {
  let server: TestServer;
  let dir: { path: string; cleanup(): Promise<void> };
  let id: string;

  before(async () => {
    dir = await tempDir();
    server = await startServer({
      recordingsDir: dir.path,
      accessTokens: `${ADMIN}=admin; ${DEMO_VIEWER}=view:demo; ${OTHER_VIEWER}=view:other`,
      streams: { demo: { source: 'pattern', width: 320, height: 180, fps: 30 }, other: { source: 'pattern', width: 320, height: 180, fps: 30 } },
    });
    id = await record(server, 'demo', 45, ADMIN);
  });
  after(async () => {
    await server.close();
    await dir.cleanup();
  });

  it('takes what downloading the recording takes: view:<recorded stream>; a token that cannot download it cannot watch or steer it', async () => {
    // The download is the yardstick.
    assert.equal((await fetch(`${server.http}/api/recordings/${id}.mp4`, { headers: { authorization: `Bearer ${DEMO_VIEWER}` } })).status, 200);
    assert.equal((await fetch(`${server.http}/api/recordings/${id}.mp4`, { headers: { authorization: `Bearer ${OTHER_VIEWER}` } })).status, 403);

    const allowed = new FeedViewer(server, `recording:${id}`, DEMO_VIEWER);
    try {
      await allowed.frameWhere(() => true, 'a frame for view:demo');
    } finally {
      allowed.close();
    }
    const refused = new FeedViewer(server, `recording:${id}`, OTHER_VIEWER);
    const error = await refused.next((m) => m.type === 'error', 'a refusal');
    assert.equal(error.error.code, 'scope_missing');
    assert.equal((await closed(refused.ws)).code, 4403);

    assert.equal((await api(server, 'GET', `/api/streams/recording:${id}/playback`, undefined, DEMO_VIEWER)).status, 200);
    assert.equal((await api(server, 'POST', `/api/streams/recording:${id}/playback`, { paused: true }, DEMO_VIEWER)).status, 200);
    const rest = await api(server, 'POST', `/api/streams/recording:${id}/playback`, { paused: false }, OTHER_VIEWER);
    assert.equal(rest.status, 403);
    assert.equal(rest.body.error, 'scope_missing');
    assert.equal((await api(server, 'GET', `/api/streams/recording:${id}/playback`)).status, 401);

    const socket: Socket = connect(server.http, { transports: ['websocket'], reconnection: false, auth: { token: OTHER_VIEWER } });
    try {
      await nextEvent(socket, 'connect');
      const answer = await socket.emitWithAck('subscribe', { stream: `recording:${id}` });
      assert.equal(answer.error.code, 'scope_missing');
      const steer = await socket.emitWithAck('playback:set', { paused: false });
      assert.equal(steer.error.code, 'playback_not_accepted');
    } finally {
      socket.close();
    }
    // A view link of the recorded stream watches its playbacks, as it downloads its recordings.
    const link = await api(server, 'POST', '/api/streams/demo/share', {}, ADMIN);
    assert.equal(link.status, 201, JSON.stringify(link.body));
    const shared = new FeedViewer(server, `recording:${id}`, encodeURIComponent(link.body.token));
    try {
      await shared.frameWhere(() => true, 'a frame through a view link of demo');
    } finally {
      shared.close();
    }
    // An id no recording has asks the least scope: a token with `view:demo` only is told 403 (as the download is), not whether it exists.
    const unknown = await api(server, 'GET', '/api/streams/recording:20261203T081500Z-00000000/playback', undefined, DEMO_VIEWER);
    assert.equal(unknown.status, 403);
  });
});
