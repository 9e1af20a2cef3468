import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Hub } from '../hub/hub.js';
import type { Access } from './access.js';
import type { StreamStats } from '../hub/stream.js';
import type { Recordings } from '../recording/recordings.js';

type Counted = 'framesIn' | 'framesOut' | 'bytesOut' | 'framesDropped' | 'framesSkipped' | 'encodes';

const COUNTERS: [Counted, string, string][] = [
  ['framesIn', 'framehub_stream_frames_in_total', 'Frames the source produced'],
  ['framesOut', 'framehub_stream_frames_out_total', 'Frames written to subscribers'],
  ['bytesOut', 'framehub_stream_bytes_out_total', 'Bytes written to subscribers'],
  ['framesDropped', 'framehub_stream_frames_dropped_total', 'Frames replaced before a busy subscriber could take them'],
  ['framesSkipped', 'framehub_stream_frames_skipped_total', 'Frames skipped by a subscriber\'s fps cap'],
  ['encodes', 'framehub_stream_encodes_total', 'Variant encodes (once per frame and variant, never per client)'],
];

/**
 * `GET /metrics` in the Prometheus text format: per-stream gauges and counters read from the
 * hub at scrape time (nothing is recorded per frame), plus the process's CPU and memory. Each
 * server has its own registry, so several servers in one process do not mix. prom-client's
 * default metrics are left out on purpose: their event-loop monitor and GC observer run all
 * the time, and the fan-out path is measured against a bare ws loop (docs/benchmarks.md).
 * Needs `admin` when access is configured (access.ts).
 */
export function registerMetricsRoute(app: FastifyInstance, hub: Hub, access: Access, recordings?: Pick<Recordings, 'underWay'>): void {
  const registry = new Registry();
  new Counter({
    name: 'framehub_process_cpu_seconds_total', help: 'CPU time of the process (user + system), all threads', registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });
  new Gauge({
    name: 'framehub_process_resident_memory_bytes', help: 'Resident set size of the process', registers: [registry],
    collect() { this.set(process.memoryUsage.rss()); },
  });
  let snapshot: StreamStats[] = [];

  const gauge = (name: string, help: string, value: (s: StreamStats) => number) =>
    new Gauge({
      name, help, labelNames: ['stream'], registers: [registry],
      collect() {
        this.reset();
        for (const stats of snapshot) this.set({ stream: stats.id }, value(stats));
      },
    });
  gauge('framehub_stream_subscribers', 'Subscribers of the stream now', (s) => s.subscribers);
  gauge('framehub_stream_fps_in', 'Frames per second from the source, last second', (s) => s.fpsIn);
  gauge('framehub_stream_fps_out', 'Frames per second written to subscribers, last second', (s) => s.fpsOut);
  gauge('framehub_stream_running', '1 while the source runs', (s) => (s.state === 'running' ? 1 : 0));
  for (const [key, name, help] of COUNTERS) {
    new Counter({
      name, help, labelNames: ['stream'], registers: [registry],
      collect() {
        // The stream's totals only grow (departed subscribers are kept), so they are counters.
        this.reset();
        for (const stats of snapshot) this.inc({ stream: stats.id }, stats[key]);
      },
    });
  }

  // Per recording under way (docs/recording.md): a recording's counters start at 0 with it, which
  // Prometheus reads as a counter reset; a recorder that fell behind shows in `_dropped_total`.
  let recording: ReturnType<Recordings['underWay']> = [];
  new Gauge({
    name: 'framehub_recordings_active', help: 'Recordings being written now', registers: [registry],
    collect() { this.set(recording.length); },
  });
  const RECORDING_COUNTERS: ['units' | 'bytes' | 'dropped', string, string][] = [
    ['units', 'framehub_recording_units_total', 'H.264 units handed to the recording\'s ffmpeg'],
    ['bytes', 'framehub_recording_bytes_total', 'Bytes handed to the recording\'s ffmpeg'],
    ['dropped', 'framehub_recording_units_dropped_total', 'Units the recorder dropped because its writer fell behind (never a live viewer\'s)'],
  ];
  for (const [key, name, help] of RECORDING_COUNTERS) {
    new Counter({
      name, help, labelNames: ['stream'], registers: [registry],
      collect() {
        this.reset();
        for (const { stream, counters } of recording) this.inc({ stream }, counters[key]);
      },
    });
  }

  app.get('/metrics', { onRequest: access.hook(() => 'admin') }, async (_request, reply) => {
    snapshot = hub.stats();
    recording = recordings?.underWay() ?? [];
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
}
