import { loadConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';
import { Stream } from '../src/hub/stream.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { BenchSource } from './bench-source.js';
import { BENCH_STREAM, runServerChild } from './child-ipc.js';

/**
 * Child process: the real framehub (createServer, real routes, real hub) with one extra
 * stream fed by the bench source, added through the public `hub.add`.
 */
await runServerChild(async ({ fps, cap, frameBytes, quality, maxClients }) => {
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
    },
  });
  const server = await createServer(config);
  const source = new BenchSource({ fps, frameBytes, quality });
  const frameSizes = await source.prepare();
  const stream = new Stream(BENCH_STREAM, source, new SharpEncoder(), { idleGraceMs: 60_000 });
  server.hub.add(stream);
  const { port } = await server.listen();
  process.on('SIGTERM', function processOnSigterm() {
    void server.close().finally(() => process.exit(0));
  });
  return { port, frameSizes, wireBytes: source.sampleBytes, stats: () => stream.stats() };
});
