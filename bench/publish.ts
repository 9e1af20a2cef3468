/**
 * Publish throughput: `node --import tsx bench/publish.ts [--images 400] [--size 64] [--concurrency 1,8]`.
 * Starts a framehub in this process with a fresh image directory on the same disk as the
 * checkout (not tmpfs: the point is what fsync costs), creates a job and publishes `--images`
 * PNGs over HTTP (raw body) with each concurrency, one after another per producer. Prints
 * images/s and the latency of the 201 (p50, p99).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadConfig } from '../src/config/config.js';
import { createServer } from '../src/server/create-server.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '400' },
    size: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '1,8' },
  },
});
const IMAGES = Number(values.images);
const SIDE = Number(values.size);
const TOKEN = 'bench-producer-token';

const raw = Buffer.alloc(SIDE * SIDE * 3);
for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) & 255;
const png = await sharp(raw, { raw: { width: SIDE, height: SIDE, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();

const dir = await mkdtemp(join(process.cwd(), '.bench-publish-'));
const server = await createServer(loadConfig({
  overrides: { port: 0, host: '127.0.0.1', logLevel: 'silent', producerToken: TOKEN, imageDir: dir, streams: { demo: { source: 'pattern', width: 64, height: 36, fps: 1 } } },
}));
const { port } = await server.listen();
const base = `http://127.0.0.1:${port}`;
const headers = { authorization: `Bearer ${TOKEN}` };

console.log(`publish bench: ${IMAGES} images of ${png.length} bytes (${SIDE}x${SIDE} PNG), image dir ${dir}`);
try {
  for (const concurrency of values.concurrency.split(',').map(Number)) {
    const jobs = await Promise.all(Array.from({ length: concurrency }, async (_, p) => {
      const response = await fetch(`${base}/api/generations`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'bench', job_id: `bench-c${concurrency}-p${p}` }) });
      if (response.status !== 201) throw new Error(`job: ${response.status}`);
      return `bench-c${concurrency}-p${p}`;
    }));
    const latencies: number[] = [];
    const per = Math.ceil(IMAGES / concurrency);
    const started = performance.now();
    await Promise.all(jobs.map(async (job) => {
      for (let i = 0; i < per; i++) {
        const t0 = performance.now();
        const response = await fetch(`${base}/api/generations/${job}/images?imageIdx=${i}&imageLength=${per}`, { method: 'POST', headers: { ...headers, 'content-type': 'image/png' }, body: new Uint8Array(png) });
        await response.arrayBuffer();
        if (response.status !== 201) throw new Error(`image: ${response.status}`);
        latencies.push(performance.now() - t0);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
    console.log(`concurrency ${concurrency}: ${(latencies.length / seconds).toFixed(0)} images/s, 201 latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
  }
} finally {
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
