import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { loadConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import { Stream } from '../src/hub/stream.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { PatternSource } from '../src/sources/pattern-source.js';
import { systemClock } from '../src/util/clock.js';
import { BenchSource } from './bench-source.js';
import { BENCH_STREAM, runServerChild } from './child-ipc.js';
import { SESSION_PAGE } from './session-page.js';

/**
 * Timers set through framehub's clock: subscriber slots wait on one when a frame comes before
 * their fps cap allows it, one timer per client and frame, so this counts how often pacing,
 * not the source, decided when frames went out (the heartbeat adds one per interval).
 */
const clockTimers = { set: 0 };
const setTimer = systemClock.setTimeout;
systemClock.setTimeout = (fn, ms) => {
  clockTimers.set++;
  return setTimer(fn, ms);
};

/** The session `--source session` opens; its stream is `session:<id>`. */
const SESSION_ID = 'bench';

/**
 * Child process: the real framehub (createServer, real routes, real hub). Its bench stream is
 * one extra stream added through the public `hub.add`, fed by the bench's pre-encoded frames
 * or framehub's own demo pattern (`--source demo`); or, with `--source session`, a browser
 * session made through the HTTP API, showing an animated page this child serves.
 */
await runServerChild(async ({ fps, cap, frameBytes, quality, maxClients, source: sourceKind = 'pre-encoded' }) => {
  const config = loadConfig({
    // Every bench client comes from 127.0.0.1: framehub's per-address and overall connection
    // caps must let all of them in (a margin for the ones still closing from a previous round).
    env: { MAX_CONNECTIONS_PER_IP: String(maxClients + 64), MAX_CONNECTIONS: String(maxClients + 64) },
    overrides: {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'error',
      maxClients,
      // All of them from one address: /ws/video_feed's per-address share (half of maxClients by
      // default) would refuse the second half.
      maxClientsPerIp: maxClients,
      // The clients' fps cap (WS_FRAME_RATE); the default equals the source rate, as in production.
      frameRate: cap,
      quality,
      // Stalled clients must stay connected for the whole stall scenario; the heartbeat would
      // drop them after two intervals (that is its job in production).
      pingInterval: 3600,
      ...(sourceKind === 'session' && { browserAllowHosts: '127.0.0.1' }),
    },
  });
  const server = await createServer(config);
  let frameSizes: number[] = [];
  let wireBytes = 0;
  let stream: Stream;
  const { port } = await server.listen();
  const page = sourceKind === 'session' ? createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(SESSION_PAGE)) : undefined;
  if (sourceKind === 'session') {
    page!.listen(0, '127.0.0.1');
    await once(page!, 'listening');
    const { port: pagePort } = page!.address() as { port: number };
    // Quality as the clients ask: the screencast's JPEGs pass through, as the bench's own do.
    await postJson(`http://127.0.0.1:${port}/api/session/create`, { session_id: SESSION_ID, width: 1280, height: 720, fps, quality });
    await postJson(`http://127.0.0.1:${port}/api/session/${SESSION_ID}/load`, { url: `http://127.0.0.1:${pagePort}/` });
    stream = server.hub.resolve(`session:${SESSION_ID}`)!;
  } else {
    const bench = sourceKind === 'demo' ? undefined : new BenchSource({ fps, frameBytes, quality });
    if (bench) {
      frameSizes = await bench.prepare();
      wireBytes = bench.sampleBytes;
    }
    // The demo stream framehub serves by default, at the clients' quality so its JPEGs pass through.
    stream = new Stream(BENCH_STREAM, bench ?? new PatternSource({ fps, quality }), new SharpEncoder(), { idleGraceMs: 60_000 });
    server.hub.add(stream);
  }
  process.on('SIGTERM', function processOnSigterm() {
    page?.close();
    void server.close().finally(() => process.exit(0));
  });
  return { port, frameSizes, wireBytes, streamId: stream.id, stats: () => ({ ...stream.stats(), clockTimers: clockTimers.set }) };
});

async function postJson(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
}
