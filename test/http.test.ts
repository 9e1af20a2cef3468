import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { collectJson, nextBinary, nextJson, openSocket, startServer, type TestServer } from './helpers.js';

describe('HTTP routes', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('GET /healthz answers ok', async () => {
    const response = await fetch(`${s.http}/healthz`);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.status, 'ok');
    assert.equal(typeof body.uptime, 'number');
  });

  it('GET /api/streams lists each stream with subscribers, fps in/out, bytes out and drops', async () => {
    const idle = await (await fetch(`${s.http}/api/streams`)).json();
    assert.equal(idle.primary, 'demo');
    assert.equal(idle.streams[0].id, 'demo');
    assert.equal(idle.streams[0].subscribers, 0);

    const ws = await openSocket(`${s.ws}/stream/demo?fps=30`);
    await collectJson(ws, 2, (m) => m.type === 'stats');
    const response = await fetch(`${s.http}/api/streams`);
    // No CORS header for a request without Origin; pages on other origins need ALLOWED_ORIGINS (test/origin-check).
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    const [demo] = (await response.json()).streams;
    ws.close();
    assert.equal(demo.subscribers, 1);
    assert.equal(demo.state, 'running');
    assert.ok(demo.fpsIn > 15, `fps in ${demo.fpsIn}`);
    assert.ok(demo.fpsOut > 15, `fps out ${demo.fpsOut}`);
    assert.ok(demo.bytesOut > 0);
    assert.ok(demo.framesOut > 0);
    assert.equal(typeof demo.framesDropped, 'number');
    assert.deepEqual(Object.keys(demo.latest).sort(), ['capturedAt', 'format', 'height', 'seq', 'size', 'width']);
  });

  it('stops the source after the idle grace period', async () => {
    const stream = s.server.hub.resolve('demo')!;
    const ws = await openSocket(`${s.ws}/stream/demo`);
    await nextJson(ws, (m) => m.type === 'frame');
    const stopped = new Promise<void>((resolve) => {
      stream.on('state:change', function onState({ newState }) {
        if (newState === 'stopped') {
          stream.off('state:change', onState);
          resolve();
        }
      });
    });
    ws.close();
    await stopped;
    assert.equal(stream.state, 'stopped');
    assert.equal(stream.subscriberCount, 0);
  });

  it('serves the web viewer at /', async () => {
    const response = await fetch(`${s.http}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
  });

  it('serves the client library\'s browser bundle at /framehub-client.min.js, the built file byte for byte', async () => {
    const response = await fetch(`${s.http}/framehub-client.min.js`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/javascript/);
    const built = await readFile(new URL('../dist/framehub-client.min.js', import.meta.url));
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(built));
  });

  it('GET /metrics: per-stream subscribers and frame counters in the Prometheus text format', async () => {
    const ws = await openSocket(`${s.ws}/ws/video_feed?stream=demo`);
    await nextBinary(ws);
    await nextBinary(ws);
    const response = await fetch(`${s.http}/metrics`);
    ws.close();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    assert.match(text, /^framehub_stream_subscribers\{stream="demo"\} 1$/m);
    const out = Number(/^framehub_stream_frames_out_total\{stream="demo"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(out >= 2, `frames out ${out}`);
    assert.match(text, /^framehub_process_cpu_seconds_total [\d.e+-]+$/m);
    assert.ok(Number(/^framehub_process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]) > 1e6, 'resident memory');
  });

  it('answers unknown routes with 404 JSON', async () => {
    const response = await fetch(`${s.http}/api/nothing`);
    assert.equal(response.status, 404);
    assert.equal((await response.json()).statusCode, 404);
  });
});
