// Recording (issue 19, first slice; docs/recording.md): start and stop over REST, list,
// download with Range, delete; real sockets, real ffmpeg, ffprobe on what was written.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import pino from 'pino';
import { startServer, type TestServer } from './helpers.js';
import { tempDir } from './temp-dir.js';
import { createLoadedSession, startPageServer, startSessionServer } from './session-helpers.js';
import { waitFor, waitUntil } from './wait.js';
import { collectUnits, untilUnits } from './video-helpers.js';
import { Recordings } from '../src/recording/recordings.js';
import { FlvWriter } from '../src/recording/flv.js';
import { AccessUnit } from '../src/hub/access-unit.js';
import { parseRange } from '../src/server/http-range.js';
import { videoTier } from '../src/hub/video-tier-spec.js';

const run = promisify(execFile);
const ADMIN = 'recording-admin-token-0123456789';
const VIEWER = 'recording-viewer-token-0123456789';

interface Probe { codec: string; width: number; height: number; duration: number }

/** What ffprobe reads in `file`: the first video stream and the container's duration. */
async function probe(file: string): Promise<Probe> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height:format=duration', '-of', 'json', file]);
  const json = JSON.parse(stdout) as { streams: { codec_name: string; width: number; height: number }[]; format: { duration?: string } };
  const video = json.streams[0]!;
  return { codec: video.codec_name, width: video.width, height: video.height, duration: Number(json.format.duration) };
}

async function api(server: TestServer, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${server.http}${path}`, { method, headers });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: a download's bytes are read with fetch directly.
  }
  return { status: res.status, body, headers: res.headers };
}

async function listed(server: TestServer, id: string): Promise<any> {
  const { body } = await api(server, 'GET', '/api/recordings');
  return body.recordings.find((entry: any) => entry.recording_id === id);
}

/** Waits until the recording of `stream` has handed ffmpeg `units` units (about units/30 seconds of the 30 fps pattern). */
async function recorded(server: TestServer, stream: string, units: number): Promise<void> {
  await waitUntil(() => server.server.recordings.counters(stream)?.units ?? 0, (n) => n >= units, { timeoutMs: 60_000, what: `${units} units recorded` });
}

describe('parseRange', () => {
  it('honours one range of bytes, ignores what it does not honour, refuses what misses the file', () => {
    assert.deepEqual(parseRange(undefined, 100), { kind: 'whole' });
    assert.deepEqual(parseRange('bytes=10-19', 100), { kind: 'partial', start: 10, end: 19 });
    assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=90-500', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-500', 100), { kind: 'partial', start: 0, end: 99 });
    for (const ignored of ['bytes=x', 'items=0-1', 'bytes=0-1,5-6', 'bytes=5-1', 'bytes=-', '']) assert.deepEqual(parseRange(ignored, 100), { kind: 'whole' }, ignored);
    for (const missed of ['bytes=100-', 'bytes=100-200', 'bytes=-0']) assert.deepEqual(parseRange(missed, 100), { kind: 'unsatisfiable' }, missed);
    assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  });
});

describe('FlvWriter', () => {
  const unit = (capturedAt: number, keyframe: boolean, config?: Buffer) =>
    new AccessUnit(Buffer.from([0, 0, 0, 2, keyframe ? 0x65 : 0x41, 0x88]), keyframe, capturedAt, 1, 320, 240, 'avc1.42C01F', config);
  /** Tag type, timestamp (with its extended byte), frame type and AVC packet type of each tag. */
  const read = (tags: Buffer[]) => tags.map((tag) => ({
    type: tag[0], ts: tag.readUIntBE(4, 3) + tag[7]! * 2 ** 24, frame: tag[11]! >> 4, codec: tag[11]! & 15, packet: tag[12],
    size: tag.readUIntBE(1, 3), trailer: tag.readUInt32BE(tag.length - 4), length: tag.length,
  }));

  it('tags each unit with its capture time from the first, after a sequence header whenever the configuration is new', () => {
    const flv = new FlvWriter();
    const configA = Buffer.from([1, 0x42, 0xc0, 0x1f, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68]);
    const configB = Buffer.from([1, 0x42, 0xc0, 0x28, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68]);
    const first = read(flv.tags(unit(10_000, true, configA)));
    assert.deepEqual(first.map((t) => [t.type, t.ts, t.frame, t.codec, t.packet]), [[9, 0, 1, 7, 0], [9, 0, 1, 7, 1]]);
    for (const tag of first) {
      assert.equal(tag.size + 15, tag.length, 'data size: the tag less its 11-byte header and 4-byte trailer');
      assert.equal(tag.trailer, tag.size + 11, 'PreviousTagSize');
    }
    assert.deepEqual(read(flv.tags(unit(10_033.4, false))).map((t) => [t.ts, t.frame, t.packet]), [[33, 2, 1]]);
    // The same configuration again: no second sequence header.
    assert.deepEqual(read(flv.tags(unit(10_066, true, configA))).map((t) => t.packet), [1]);
    // A unit captured before the last one (never by a tier, but the times must not go back).
    assert.deepEqual(read(flv.tags(unit(10_050, false))).map((t) => t.ts), [66]);
    // A new configuration (a resized source) is announced before its keyframe.
    assert.deepEqual(read(flv.tags(unit(10_100, true, configB))).map((t) => t.packet), [0, 1]);
    // Past 2^24 ms (4.7 hours) the high byte carries on.
    assert.equal(read(flv.tags(unit(10_000 + 2 ** 24 + 5, false)))[0]!.ts, 2 ** 24 + 5);
  });
});

describe('recording a stream', () => {
  let server: TestServer;
  let dir: { path: string; cleanup(): Promise<void> };
  before(async () => {
    dir = await tempDir();
    server = await startServer({ recordingsDir: dir.path, streams: { demo: { source: 'pattern', width: 640, height: 360, fps: 30 } } });
  });
  after(async () => {
    await server.close();
    await dir.cleanup();
  });

  it('records the 720p tier to a playable MP4: start, 409 twice, list, stop, download', async () => {
    const started = await api(server, 'POST', '/api/streams/demo/record');
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.recording_id as string;
    assert.match(id, /^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
    assert.equal(started.body.stream, 'demo');
    assert.ok(Math.abs(Date.parse(started.body.started_at) - Date.now()) < 60_000);

    // The primary alias is the same stream.
    for (const path of ['/api/streams/demo/record', '/api/streams/0/record']) {
      const again = await api(server, 'POST', path);
      assert.equal(again.status, 409, path);
      assert.equal(again.body.error, 'already_recording');
    }

    await recorded(server, 'demo', 90);
    const metrics = await (await fetch(`${server.http}/metrics`)).text();
    assert.match(metrics, /^framehub_recordings_active 1$/m);
    assert.ok(Number(/^framehub_recording_units_total\{stream="demo"\} (\d+)$/m.exec(metrics)?.[1]) >= 90, 'units in /metrics');
    assert.match(metrics, /^framehub_recording_units_dropped_total\{stream="demo"\} 0$/m);
    const during = await listed(server, id);
    assert.equal(during.ended_at, null);
    assert.equal(during.stream, 'demo');

    const stopped = await api(server, 'DELETE', '/api/streams/demo/record');
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    assert.equal(stopped.body.recording_id, id);
    assert.ok(stopped.body.ended_at && Date.parse(stopped.body.ended_at) >= Date.parse(stopped.body.started_at));
    assert.ok(stopped.body.bytes > 10_000, `bytes: ${stopped.body.bytes}`);
    assert.deepEqual(await listed(server, id), stopped.body);

    assert.match(await (await fetch(`${server.http}/metrics`)).text(), /^framehub_recordings_active 0$/m);
    const again = await api(server, 'DELETE', '/api/streams/demo/record');
    assert.equal(again.status, 404);
    assert.equal(again.body.error, 'not_recording');

    const res = await fetch(`${server.http}/api/recordings/${id}.mp4`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'video/mp4');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(bytes.length, stopped.body.bytes);
    const file = join(dir.path, 'downloaded.mp4');
    await writeFile(file, bytes);
    const info = await probe(file);
    assert.equal(info.codec, 'h264');
    assert.deepEqual([info.width, info.height], [640, 360]);
    assert.ok(info.duration > 1, `duration ${info.duration} s`);
  });

  it('answers Range requests with 206 and the right bytes, 416 past the end', async () => {
    const started = await api(server, 'POST', '/api/streams/demo/record');
    assert.equal(started.status, 201);
    const id = started.body.recording_id as string;
    await recorded(server, 'demo', 30);
    await api(server, 'DELETE', '/api/streams/demo/record');
    const whole = await readFile(join(dir.path, `${id}.mp4`));
    assert.ok(whole.length > 300);

    const cases: [string, number, number][] = [['bytes=100-199', 100, 199], ['bytes=-50', whole.length - 50, whole.length - 1], [`bytes=${whole.length - 10}-`, whole.length - 10, whole.length - 1], [`bytes=0-${whole.length + 1000}`, 0, whole.length - 1]];
    for (const [range, start, end] of cases) {
      const res = await fetch(`${server.http}/api/recordings/${id}.mp4`, { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${whole.length}`, range);
      assert.equal(res.headers.get('content-length'), String(end - start + 1), range);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), whole.subarray(start, end + 1), range);
    }
    const past = await fetch(`${server.http}/api/recordings/${id}.mp4`, { headers: { range: `bytes=${whole.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${whole.length}`);
    assert.equal(((await past.json()) as any).error, 'range_not_satisfiable');
  });

  it('refuses malformed and unknown ids (400/404), never reading outside the directory', async () => {
    await writeFile(join(dir.path, 'secret.txt'), 'not a recording');
    for (const name of ['..%2F..%2Fetc%2Fpasswd', '..%2Fsecret.txt', 'secret.txt', '%2e%2e%2fsecret.mp4', '20261203T081500Z-0000000g.mp4', '20261203T081500Z-00000000', `${'1'.repeat(8)}T${'1'.repeat(6)}Z-aaaaaaaa.mp4.mp4`, 'a'.repeat(3000)]) {
      const res = await api(server, 'GET', `/api/recordings/${name}`);
      assert.equal(res.status, 400, name);
      assert.equal(res.body.error, 'invalid_recording_id', name);
      // DELETE takes the bare id: this one is well-formed there (and unknown: the 404 below).
      if (name === '20261203T081500Z-00000000') continue;
      const del = await api(server, 'DELETE', `/api/recordings/${name}`);
      assert.equal(del.status, 400, `DELETE ${name}`);
    }
    const unknown = await api(server, 'GET', '/api/recordings/20261203T081500Z-00000000.mp4');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'recording_not_found');
    const unknownDelete = await api(server, 'DELETE', '/api/recordings/20261203T081500Z-00000000');
    assert.equal(unknownDelete.status, 404);
    assert.equal(unknownDelete.body.error, 'recording_not_found');
  });

  it('answers 404 stream_not_found for a stream nothing resolves, and starts nothing', async () => {
    for (const id of ['nope', 'session:nope', encodeURIComponent('../../etc')]) {
      const res = await api(server, 'POST', `/api/streams/${id}/record`);
      assert.equal(res.status, 404, id);
      assert.equal(res.body.error, 'stream_not_found', id);
      const stop = await api(server, 'DELETE', `/api/streams/${id}/record`);
      assert.equal(stop.status, 404, id);
      assert.equal(stop.body.error, 'not_recording', id);
    }
    assert.equal(server.server.recordings.counters('nope'), undefined);
  });

  it('deletes a finished recording (409 while it records) and its file is gone', async () => {
    const started = await api(server, 'POST', '/api/streams/demo/record');
    const id = started.body.recording_id as string;
    const busy = await api(server, 'DELETE', `/api/recordings/${id}`);
    assert.equal(busy.status, 409);
    assert.equal(busy.body.error, 'recording_active');
    await recorded(server, 'demo', 10);
    await api(server, 'DELETE', '/api/streams/demo/record');
    const file = join(dir.path, `${id}.mp4`);
    assert.ok((await stat(file)).size > 0);
    const deleted = await api(server, 'DELETE', `/api/recordings/${id}`);
    assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
    await assert.rejects(stat(file), { code: 'ENOENT' });
    await assert.rejects(stat(join(dir.path, `${id}.json`)), { code: 'ENOENT' });
    assert.equal(await listed(server, id), undefined);
    assert.equal((await api(server, 'GET', `/api/recordings/${id}.mp4`)).status, 404);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`)).status, 404);
  });

  it('live viewers of the recorded tier keep getting units while it records', async () => {
    const ws = new WebSocket(`${server.ws}/video/demo?tier=720p`);
    ws.on('error', () => {});
    const units = collectUnits(ws);
    await once(ws, 'open');
    try {
      await untilUnits(ws, 'the viewer\'s first units', () => units.length >= 5, 60_000);
      const tier = server.server.videoTiers.get(server.server.hub.resolve('demo')!, videoTier('720p')!);
      const started = await api(server, 'POST', '/api/streams/demo/record');
      assert.equal(started.status, 201);
      const [viewerBefore, tierBefore] = [units.length, tier.unitsOut];
      // The recorder starts with the GOP so far, so its own count runs ahead: count the tier's new units instead.
      await waitUntil(() => tier.unitsOut - tierBefore, (n) => n >= 60, { timeoutMs: 60_000, what: '60 new units of the tier while recording' });
      await recorded(server, 'demo', 60);
      const made = tier.unitsOut - tierBefore;
      // The viewer got the tier's units while it recorded (a few may still be on the wire).
      await untilUnits(ws, 'the viewer to have the units made while recording', () => units.length - viewerBefore >= made - 5, 10_000);
      assert.equal(server.server.recordings.counters('demo')!.resyncs, 0, 'a recorder on a healthy disk never falls behind');
      const stopped = await api(server, 'DELETE', '/api/streams/demo/record');
      assert.equal(stopped.status, 200);
      const afterStop = units.length;
      await untilUnits(ws, 'units after the recording stopped', () => units.length >= afterStop + 10, 30_000);
    } finally {
      ws.close();
    }
  });
});

describe('a recorder that falls behind', () => {
  it('drops its own units until a keyframe and says so; the live viewer of the tier is unaffected', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    // A "ffmpeg" that never reads its input: the pipe fills, the recorder's writes never complete.
    const stalled = join(dir, 'stalled-ffmpeg');
    await writeFile(stalled, '#!/bin/sh\nexec sleep 600\n');
    await chmod(stalled, 0o755);
    const server = await startServer({ recordingsDir: dir, streams: { demo: { source: 'pattern', width: 1280, height: 720, fps: 30 } } });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => { warnings.push(JSON.parse(line).msg); } });
    const recordings = new Recordings({ dir, tiers: server.server.videoTiers, log, command: stalled, finishMs: 200 });
    const ws = new WebSocket(`${server.ws}/video/demo?tier=720p`);
    ws.on('error', () => {});
    const units = collectUnits(ws);
    await once(ws, 'open');
    try {
      await untilUnits(ws, 'the viewer\'s first units', () => units.length >= 5, 60_000);
      await recordings.start(server.server.hub.resolve('demo')!);
      const before = units.length;
      const counters = await waitUntil(() => recordings.counters('demo')!, (c) => c.resyncs >= 1 && c.dropped > 0, { timeoutMs: 90_000, what: 'the recorder to fall behind' });
      // The live viewer went on meanwhile: at least as many units as the recorder gave up on.
      assert.ok(units.length - before >= Math.min(counters.dropped, 30), `viewer got ${units.length - before} units; recorder dropped ${counters.dropped}`);
      const more = units.length;
      await untilUnits(ws, 'the viewer to go on', () => units.length >= more + 30, 30_000);
      await waitFor('the drop to be logged', () => warnings.some((msg) => msg.startsWith('recording fell behind')), 30_000);
      // stop() still ends: the stalled process is killed after finishMs.
      await recordings.stop('demo');
    } finally {
      ws.close();
      await recordings.close();
    }
  });
});

describe('a recorder whose writer fails', () => {
  it('ends the recording and logs ffmpeg\'s last words; the stream can be recorded again', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    // What ffmpeg does on a full disk (checked by hand against /dev/full): exit 1 with ENOSPC's words.
    const failing = join(dir, 'failing-ffmpeg');
    await writeFile(failing, '#!/bin/sh\nhead -c 20000 >/dev/null\necho "No space left on device" >&2\nexit 1\n');
    await chmod(failing, 0o755);
    const server = await startServer({ recordingsDir: dir });
    t.after(() => server.close());
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => { const { msg, err } = JSON.parse(line); warnings.push(`${msg} ${err?.message ?? ''}`); } });
    const recordings = new Recordings({ dir, tiers: server.server.videoTiers, log, command: failing });
    t.after(() => recordings.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const stream = server.server.hub.resolve('demo')!;
    const entry = await recordings.start(stream);
    const ended = await waitUntil(() => recordings.list(), (list) => list[0]?.ended_at !== null, { timeoutMs: 60_000, what: 'the recording to end' });
    assert.equal(ended[0]!.recording_id, entry.recording_id);
    assert.equal(recordings.counters('demo'), undefined);
    assert.ok(warnings.some((w) => w.startsWith('recording ended: ffmpeg failed') && w.includes('No space left on device')), warnings.join('\n'));
    // The stream is not held by the failed recording, and another one can start.
    const again = await recordings.start(stream);
    assert.notEqual(again.recording_id, entry.recording_id);
  });
});

describe('a stream that ends while it records', () => {
  it('ends the recording with it (the file finished, ended_at set); starting it again is 410 stream_ended', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const clip = join(dir, 'clip.mp4');
    // Three seconds of a moving test picture, played once.
    await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30:duration=3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-y', clip]);
    const server = await startServer({ recordingsDir: dir, streams: { clip: { source: 'video', file: clip, loop: false, fps: 30 } } });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const started = await api(server, 'POST', '/api/streams/clip/record');
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.recording_id as string;
    const entry = await waitUntil(() => listed(server, id), (e) => e?.ended_at !== null, { timeoutMs: 60_000, what: 'the recording to end with its stream' });
    assert.ok(entry.bytes > 0);
    assert.equal(server.server.recordings.counters('clip'), undefined);
    const info = await probe(join(dir, `${id}.mp4`));
    assert.equal(info.codec, 'h264');
    assert.deepEqual([info.width, info.height], [320, 180]);
    const again = await api(server, 'POST', '/api/streams/clip/record');
    assert.equal(again.status, 410);
    assert.equal(again.body.error, 'stream_ended');
    assert.equal((await api(server, 'DELETE', '/api/streams/clip/record')).status, 404);
  });
});

describe('recording a browser session', () => {
  it('records session:<id> like any stream; deleting the session ends its recording', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const pages = await startPageServer();
    t.after(() => pages.close());
    const server = await startSessionServer({ recordingsDir: dir });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const session = await createLoadedSession(server, `${pages.origin}/animated`);
    const stream = `session:${session}`;
    const started = await api(server, 'POST', `/api/streams/${stream}/record`);
    assert.equal(started.status, 201, JSON.stringify(started.body));
    assert.equal(started.body.stream, stream);
    const id = started.body.recording_id as string;
    assert.equal((await api(server, 'POST', `/api/streams/${stream}/record`)).status, 409);
    await recorded(server, stream, 40);
    assert.equal((await api(server, 'DELETE', `/api/session/${session}`)).status, 200);
    const entry = await waitUntil(() => listed(server, id), (e) => e?.ended_at !== null, { timeoutMs: 30_000, what: 'the recording to end with its session' });
    assert.ok(entry.bytes > 0);
    const info = await probe(join(dir, `${id}.mp4`));
    assert.equal(info.codec, 'h264');
    assert.deepEqual([info.width, info.height], [320, 240]);
    assert.equal((await api(server, 'DELETE', `/api/streams/${stream}/record`)).body.error, 'not_recording');
  });

  it('keeps the session\'s input timeline beside the video: navigations, clicks and keys with their times', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const pages = await startPageServer();
    t.after(() => pages.close());
    const server = await startSessionServer({ recordingsDir: dir });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const session = await createLoadedSession(server, `${pages.origin}/animated`);
    const stream = `session:${session}`;
    const started = await api(server, 'POST', `/api/streams/${stream}/record`);
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.recording_id as string;
    const post = (path: string, body: unknown) => fetch(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post(`/api/session/${session}/load`, { url: `${pages.origin}/` })).status, 200);
    assert.equal((await post(`/api/session/${session}/input`, { type: 'click', x: 20, y: 30 })).status, 200);
    assert.equal((await post(`/api/session/${session}/input`, { type: 'text', text: 'hi' })).status, 200);
    // Refused input never reached the page: not on the timeline.
    assert.equal((await post(`/api/session/${session}/input`, { type: 'click', x: -5, y: 30 })).status, 400);
    // Readable while it records: what is written so far.
    const during = await waitUntil(() => api(server, 'GET', `/api/recordings/${id}/events`), (r) => r.body.events?.length >= 3, { timeoutMs: 30_000, what: 'three timeline entries' });
    assert.equal(during.status, 200);
    assert.equal((await api(server, 'DELETE', `/api/streams/${stream}/record`)).status, 200);
    const { body } = await api(server, 'GET', `/api/recordings/${id}/events`);
    assert.equal(body.recording_id, id);
    assert.equal(body.stream, stream);
    const events = body.events as any[];
    assert.deepEqual(events.map((e) => e.type === 'navigate' ? `navigate ${e.url}` : `${e.input.type}`), [`navigate ${pages.origin}/`, 'click', 'text']);
    assert.deepEqual(events[1].input, { type: 'click', x: 20, y: 30, button: 'left' });
    assert.equal(events[2].input.text, 'hi');
    const times = events.map((e) => e.t as number);
    assert.ok(times.every((time, i) => time >= 0 && (i === 0 || time >= times[i - 1]!)), `times from the recording's start, in order: ${times}`);
    // Bad and unknown ids, as for the download; deleting the recording deletes its timeline.
    assert.equal((await api(server, 'GET', '/api/recordings/nope/events')).status, 400);
    assert.equal((await api(server, 'GET', '/api/recordings/20990101T000000Z-00000000/events')).status, 404);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`)).status, 200);
    await assert.rejects(stat(join(dir, `${id}.events.jsonl`)), /ENOENT/);
  });

  it('with access configured a session\'s recording is as private as the session', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const pages = await startPageServer();
    t.after(() => pages.close());
    const [owner, other, viewer] = ['recording-owner-token-0123456789', 'recording-other-token-0123456789', 'recording-view-token-01234567890'];
    const server = await startSessionServer({ recordingsDir: dir, accessTokens: `${owner}=control; ${other}=control; ${viewer}=view` });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const created = await fetch(`${server.http}/api/session/create`, { method: 'POST', headers: { ...as(owner), 'content-type': 'application/json' }, body: JSON.stringify({ width: 320, height: 240 }) });
    assert.equal(created.status, 201);
    const session = ((await created.json()) as any).session_id as string;
    const loaded = await fetch(`${server.http}/api/session/${session}/load`, { method: 'POST', headers: { ...as(owner), 'content-type': 'application/json' }, body: JSON.stringify({ url: `${pages.origin}/animated` }) });
    assert.equal(loaded.status, 200);
    const stream = `session:${session}`;
    // Another owner's bare control: the session is an unknown stream to it.
    const foreign = await api(server, 'POST', `/api/streams/${stream}/record`, as(other));
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error, 'stream_not_found');
    // A configured stream takes admin.
    assert.equal((await api(server, 'POST', '/api/streams/demo/record', as(owner))).status, 403);
    const started = await api(server, 'POST', `/api/streams/${stream}/record`, as(owner));
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.recording_id as string;
    assert.equal((await api(server, 'DELETE', `/api/streams/${stream}/record`, as(other))).body.error, 'not_recording');
    await recorded(server, stream, 10);
    assert.equal((await api(server, 'DELETE', `/api/streams/${stream}/record`, as(owner))).status, 200);
    // Download: the owner (control grants view:session:<id>) yes; bare view of another owner and bare control of another owner: unknown.
    assert.equal((await fetch(`${server.http}/api/recordings/${id}.mp4`, { headers: as(owner) })).status, 200);
    for (const token of [viewer, other]) {
      for (const path of [`/api/recordings/${id}.mp4`, `/api/recordings/${id}/events`]) {
        const res = await api(server, 'GET', path, as(token));
        assert.equal(res.status, 404, `${path} with ${token}`);
        assert.equal(res.body.error, 'recording_not_found');
      }
    }
    assert.equal((await api(server, 'GET', `/api/recordings/${id}/events`, as(owner))).status, 200);
    assert.deepEqual((await api(server, 'GET', '/api/recordings', as(viewer))).body.recordings, []);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`, as(other))).status, 404);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`, as(owner))).status, 200);
  });
});

describe('recording from the configuration', () => {
  it('prerecord: a recording started now begins that many seconds ago', async (t) => {
    const dir = await tempDir(t);
    const server = await startServer({ recordingsDir: dir, streams: { demo: { source: 'pattern', width: 320, height: 180, fps: 30, prerecord: 3 } } });
    t.after(() => server.close());
    // The buffer fills with nobody watching or recording: the stream is encoded all the time.
    await waitUntil(() => server.server.recordings.prerecordedMs('demo') ?? 0, (ms) => ms >= 3000, { timeoutMs: 60_000, what: '3 s in the pre-record buffer' });
    const askedAt = Date.now();
    const started = await api(server, 'POST', '/api/streams/demo/record');
    assert.equal(started.status, 201, JSON.stringify(started.body));
    const id = started.body.recording_id as string;
    assert.ok(askedAt - Date.parse(started.body.started_at) >= 2900, `started_at ${started.body.started_at} is 3 s or more before the request (${new Date(askedAt).toISOString()})`);
    await recorded(server, 'demo', 100); // the buffer's ~90+ units, then live ones after them
    const stoppedAt = Date.now();
    assert.equal((await api(server, 'DELETE', '/api/streams/demo/record')).status, 200);
    const info = await probe(join(dir, `${id}.mp4`));
    // The file's times are the pictures' own: the buffered past plus the time it ran.
    assert.ok(info.duration >= (stoppedAt - askedAt) / 1000 + 2, `duration ${info.duration} s covers the pre-record buffer and the ${((stoppedAt - askedAt) / 1000).toFixed(1)} s recorded`);
    assert.ok(info.duration <= (stoppedAt - Date.parse(started.body.started_at)) / 1000 + 1, `duration ${info.duration} s is no longer than started_at → stop`);
    // And the past is pictures, not a gap: about 30 of them a second, all through.
    const { stdout } = await run('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', join(dir, `${id}.mp4`)]);
    const frames = Number(stdout.trim());
    assert.ok(frames >= info.duration * 30 * 0.8, `${frames} pictures in ${info.duration} s`);
  });

  it('record: true records from the start in segments, and retention_age deletes the old ones', async (t) => {
    const dir = await tempDir(t);
    const server = await startServer({
      recordingsDir: dir,
      streams: { demo: { source: 'pattern', width: 320, height: 180, fps: 30, record: true, record_segment: 2, retention_age: 1 } },
    });
    t.after(() => server.close());
    const ofDemo = async () => ((await api(server, 'GET', '/api/recordings')).body.recordings as any[]).filter((r) => r.stream === 'demo');
    // Recording without anyone asking.
    const first = await waitUntil(ofDemo, (list) => list.length >= 1, { timeoutMs: 30_000, what: 'the always-on recording' });
    const firstId = first[0].recording_id as string;
    assert.equal(first[0].ended_at, null);
    // The next segment takes over; the first ends, and once it is more than 1 s old it is deleted at a later turn.
    await waitUntil(ofDemo, (list) => list.some((r) => r.recording_id !== firstId), { timeoutMs: 30_000, what: 'a second segment' });
    const later = await waitUntil(ofDemo, (list) => !list.some((r) => r.recording_id === firstId), { timeoutMs: 30_000, what: 'the first segment deleted by retention' });
    assert.equal(later.filter((r) => r.ended_at === null).length, 1, 'one segment records at a time');
    await assert.rejects(stat(join(dir, `${firstId}.mp4`)), /ENOENT/);
    // Stopped by hand: no segment follows until it is started again.
    assert.equal((await api(server, 'DELETE', '/api/streams/demo/record')).status, 200);
    assert.equal(server.server.recordings.activeOf('demo'), undefined);
    const again = await api(server, 'POST', '/api/streams/demo/record');
    assert.equal(again.status, 201);
  });

  it('retention_size deletes the oldest finished recordings past the stream\'s total', async (t) => {
    const dir = await tempDir(t);
    // Three finished recordings of 600 KiB each on disk, one of another stream.
    const ids = ['20260101T000000Z-00000001', '20260101T000100Z-00000002', '20260101T000200Z-00000003', '20260101T000300Z-00000004'];
    for (const [i, id] of ids.entries()) {
      const stream = i === 3 ? 'other' : 'demo';
      await writeFile(join(dir, `${id}.mp4`), Buffer.alloc(600 * 1024));
      await writeFile(join(dir, `${id}.json`), JSON.stringify({ recording_id: id, stream, started_at: '2026-01-01T00:00:00.000Z', ended_at: '2026-01-01T00:10:00.000Z' }));
    }
    const log = { warn: () => {}, debug: () => {} };
    const recordings = new Recordings({ dir, tiers: undefined as never, log, settings: { demo: { retention_size: 1 }, other: {} } });
    await recordings.load();
    await recordings.startConfigured(() => undefined);
    const left = (await recordings.list()).map((r) => r.recording_id);
    // 1.8 MiB of demo against 1 MiB: the two oldest go; the other stream's is not demo's to count.
    assert.deepEqual(left, [ids[2], ids[3]]);
    await assert.rejects(stat(join(dir, `${ids[0]}.mp4`)), /ENOENT/);
  });
});

describe('recordings across a restart, and access', () => {
  it('server close finishes the file; the next server lists it, ended', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const first = await startServer({ recordingsDir: dir });
    let id: string;
    try {
      const started = await api(first, 'POST', '/api/streams/demo/record');
      assert.equal(started.status, 201);
      id = started.body.recording_id;
      await recorded(first, 'demo', 75);
    } finally {
      await first.close();
    }
    const info = await probe(join(dir, `${id}.mp4`));
    assert.equal(info.codec, 'h264');
    assert.ok(info.duration > 1, `duration ${info.duration}`);
    const second = await startServer({ recordingsDir: dir });
    t.after(() => second.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const entry = await listed(second, id);
    assert.ok(entry, 'listed after the restart');
    assert.equal(entry.stream, 'demo');
    assert.notEqual(entry.ended_at, null);
    assert.ok(entry.bytes > 0);
  });

  it('with access configured: recording needs admin, listing and download view', async (t) => {
    const { path: dir, cleanup } = await tempDir();
    const server = await startServer({ recordingsDir: dir, accessTokens: `${ADMIN}=admin; ${VIEWER}=view` });
    t.after(() => server.close());
    // Last: hooks run in the order they were registered, and the server writes into the directory until it closes.
    t.after(cleanup);
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    assert.equal((await api(server, 'POST', '/api/streams/demo/record')).status, 401);
    const refused = await api(server, 'POST', '/api/streams/demo/record', as(VIEWER));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'scope_missing');
    const started = await api(server, 'POST', '/api/streams/demo/record', as(ADMIN));
    assert.equal(started.status, 201);
    const id = started.body.recording_id;
    assert.equal((await api(server, 'DELETE', '/api/streams/demo/record', as(VIEWER))).status, 403);
    await recorded(server, 'demo', 10);
    assert.equal((await api(server, 'DELETE', '/api/streams/demo/record', as(ADMIN))).status, 200);
    assert.equal((await api(server, 'GET', '/api/recordings')).status, 401);
    const list = await api(server, 'GET', '/api/recordings', as(VIEWER));
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.recordings.map((entry: any) => entry.recording_id), [id]);
    assert.equal((await fetch(`${server.http}/api/recordings/${id}.mp4?token=${VIEWER}`)).status, 200);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`, as(VIEWER))).status, 403);
    assert.equal((await api(server, 'DELETE', `/api/recordings/${id}`, as(ADMIN))).status, 200);
  });
});
