import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { io as connectIo } from 'socket.io-client';
import { WebSocket } from 'ws';
import { Consumer, PRODUCER_TOKEN, numberedPng } from './generations-helpers.js';
import { alive, descendants, serveImages as serve, signalAndWait, type ServerProcess } from './server-process.js';
import { tempDir } from './temp-dir.js';

// Real `framehub serve` processes and real signals: run `npm run build` first.

async function openWs(url: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const closed = once(ws, 'close').then(([code]) => code as number);
  await once(ws, 'open');
  return { ws, closed };
}

/** A browser session, so that the server runs Chromium; resolves with Chromium's pids. */
async function startChromium(server: ServerProcess): Promise<number[]> {
  const response = await fetch(`${server.http}/api/session/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(response.status, 201, await response.text());
  // Chromium is a child of the server (no event tells a test its pid; it exists once create answered).
  const pids = descendants(server.child.pid!);
  assert.ok(pids.length > 0, 'Chromium runs under the server');
  return pids;
}

/** Publishes images over HTTP one after another until the server stops answering 201; resolves with the acked event ids. */
async function publishUntilRefused(server: ServerProcess, jobId: string, started: () => void): Promise<number[]> {
  const acked: number[] = [];
  for (let i = 0; ; i++) {
    let response: Response;
    try {
      response = await fetch(`${server.http}/api/generations/${jobId}/images?imageIdx=${i}&imageLength=1000`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, 'content-type': 'image/png' },
        body: new Uint8Array(await numberedPng(i, 64)),
      });
    } catch {
      return acked; // the connection was closed under the request: not acked
    }
    const json = (await response.json()) as { event_id?: number; error?: string };
    if (response.status !== 201) {
      assert.equal(json.error, 'shutting_down', `refused with ${response.status} ${JSON.stringify(json)}`);
      return acked;
    }
    acked.push(json.event_id!);
    if (acked.length === 5) started();
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: every WebSocket client gets 1001, Socket.IO clients are disconnected, Chromium stops, publishes under way are kept, exit 0 well within 10 s`, async (t) => {
    const dir = await tempDir(t);
    const server = await serve(t, dir);
    const chromium = await startChromium(server);

    const stream = await openWs(`${server.ws}/stream/0`);
    await once(stream.ws, 'message'); // the source is running
    const streaming = await openWs(`${server.ws}/ws/streaming`);
    const events = await openWs(`${server.ws}/ws`);
    const videoFeed = await openWs(`${server.ws}/ws/video_feed`);
    const producer = await openWs(`${server.ws}/ws/producer?token=${PRODUCER_TOKEN}`);
    const socketIo = connectIo(server.http, { reconnection: false, transports: ['websocket'] });
    t.after(() => socketIo.close());
    await new Promise<void>((resolve) => socketIo.once('connect', resolve));
    const ioDisconnected = new Promise<string>((resolve) => socketIo.once('disconnect', resolve));

    const job = await fetch(`${server.http}/api/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'during shutdown', job_id: 'stop-1' }),
    });
    assert.equal(job.status, 201);
    const jobEventId = ((await job.json()) as { event_id: number }).event_id;
    let publishing!: () => void;
    const fiveAcked = new Promise<void>((resolve) => (publishing = resolve));
    const acked = publishUntilRefused(server, 'stop-1', publishing);
    await fiveAcked;

    // The signal arrives while the producer is publishing.
    const stop = await signalAndWait(server, signal);
    t.diagnostic(`${signal}: exit code ${stop.code} after ${Math.round(stop.ms)} ms`);
    assert.equal(stop.code, 0, `exit code 0 (got ${stop.code ?? stop.signal}):\n${server.output().slice(-2000)}`);
    assert.ok(stop.ms < 5_000, `exited after ${Math.round(stop.ms)} ms`);
    assert.match(server.output(), new RegExp(`${signal}: shutting down`));
    assert.match(server.output(), /shut down cleanly/);
    assert.deepEqual(
      await Promise.all([stream.closed, streaming.closed, events.closed, videoFeed.closed, producer.closed]),
      [1001, 1001, 1001, 1001, 1001],
      '/stream/0, /ws/streaming, /ws, /ws/video_feed and /ws/producer closed with 1001',
    );
    assert.equal(await ioDisconnected, 'io server disconnect');
    assert.deepEqual(chromium.filter(alive), [], 'Chromium and its helpers are gone');

    // Every publish that was answered 201 is there after a restart, in order.
    const ids = await acked;
    assert.ok(ids.length >= 5);
    const again = await serve(t, dir);
    const consumer = await new Consumer().connect(`${again.ws}/ws?since=${jobEventId}`);
    const note = await fetch(`${again.http}/api/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ severity: 'info', message: 'back' }),
    });
    const noteId = ((await note.json()) as { event_id: number }).event_id;
    await consumer.until(() => consumer.messages.some((m) => m.id === noteId), 'the notification after the restart');
    const replayed = consumer.messages.filter((m) => m.type === 'image.generation.completed').map((m) => m.id as number);
    // Publishes that finished during the shutdown but whose answer did not get out are there too (the
    // producer's retry gets 404 then, never a double): the acked ones are a prefix, in order.
    assert.deepEqual(replayed.slice(0, ids.length), ids);
    consumer.ws.close();
    await signalAndWait(again, 'SIGTERM');
  });
}

test('a shutdown that hangs (Chromium stopped with SIGSTOP) ends at the 10 s deadline with exit code 1; a second signal ends it at once', async (t) => {
  const dir = await tempDir(t);
  for (const second of [false, true]) {
    const server = await serve(t, dir);
    const chromium = await startChromium(server);
    // A frozen Chromium never answers the close: the shutdown cannot finish on its own.
    for (const pid of chromium) signalIfAlive(pid, 'SIGSTOP');
    t.after(() => {
      for (const pid of chromium) signalIfAlive(pid, 'SIGKILL');
    });
    const started = performance.now();
    server.child.kill('SIGTERM');
    await server.printed(/SIGTERM: shutting down/);
    if (second) {
      server.child.kill('SIGTERM');
      const { code, signal } = await server.exited;
      t.diagnostic(`second SIGTERM: exit code ${code ?? signal} after ${Math.round(performance.now() - started)} ms`);
      assert.equal(code, 128 + 15, `a second SIGTERM exits at once with 143 (got ${code ?? signal}):\n${server.output().slice(-1500)}`);
      assert.ok(performance.now() - started < 5_000);
      assert.match(server.output(), /SIGTERM during shutdown: exiting without waiting/);
    } else {
      const { code } = await server.exited;
      const ms = performance.now() - started;
      t.diagnostic(`hung shutdown: exit code ${code} after ${Math.round(ms)} ms`);
      assert.equal(code, 1);
      assert.ok(ms >= 9_500 && ms < 14_000, `exited after ${Math.round(ms)} ms`);
      assert.match(server.output(), /shutdown did not finish within 10 s/);
    }
    for (const pid of chromium) signalIfAlive(pid, 'SIGKILL');
  }
});

/** A helper process may have exited since it was listed. */
function signalIfAlive(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
