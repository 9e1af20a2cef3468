// A stalled H.264 viewer over a real socket: it drops units until the next keyframe and
// resumes there, while another viewer of the same tier keeps every unit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { startServer } from './helpers.js';
import { waitFor } from './wait.js';
import { collectUnits } from './video-helpers.js';
import { videoTier } from '../src/hub/video-tier-spec.js';

const STALLED_CLIENT = fileURLToPath(new URL('./fixtures/stalled_video_client.py', import.meta.url));

describe('WS /video/:id with a stalled viewer', () => {
  it('the stalled viewer resumes at a keyframe; the other keeps every unit', async (t) => {
    const server = await startServer({ streams: { noisy: { source: 'video', lavfi: 'testsrc2=size=1280x720:rate=30' } } });
    const python = spawn('/usr/bin/python3', [STALLED_CLIENT, String(server.port), '/video/noisy?tier=720p', '4'], { stdio: ['pipe', 'pipe', 'inherit'] });
    python.stdin.on('error', () => {});
    const good = new WebSocket(`${server.ws}/video/noisy?tier=720p`);
    good.on('error', () => {});
    try {
      const stream = server.server.hub.resolve('noisy')!;
      const tier = server.server.videoTiers.get(stream, videoTier('720p')!);
      // Every unit the tier makes, in order, from a sink that never stalls.
      const all: { seq: number; keyframe: boolean }[] = [];
      tier.subscribe({ deliver: (units, done) => { for (const u of units) all.push({ seq: u.seq, keyframe: u.keyframe }); done(undefined, 0); } });
      const goodUnits = collectUnits(good);
      await once(good, 'open');
      await waitFor('the good viewer decoding', () => goodUnits.length > 0, 60_000);
      const lines = createInterface({ input: python.stdout });
      const output: string[] = [];
      lines.on('line', (line) => output.push(line));
      await waitFor('the stalled client connected', () => output.includes('stalled'), 60_000);

      const stalledAt = performance.now();
      await waitFor('the stalled viewer fell behind', () => tier.viewerCounters().resyncs >= 1, 120_000);
      t.diagnostic(`behind after ${((performance.now() - stalledAt) / 1000).toFixed(1)} s of not reading`);
      // While it stays stalled, the good viewer gets every unit the tier makes.
      const fromAll = all.length;
      const fromGood = goodUnits.length;
      await waitFor('60 more units', () => all.length >= fromAll + 60, 60_000);
      const madeSeqs = all.slice(fromAll, fromAll + 60).map((u) => u.seq);
      await waitFor('the good viewer has them', () => goodUnits.length >= fromGood + 60, 30_000);
      const goodSeqs = new Set(goodUnits.map((u) => u.seq));
      assert.deepEqual(madeSeqs.filter((seq) => !goodSeqs.has(seq)), [], 'the reading viewer missed nothing');

      python.stdin.write('resume\n');
      await once(python, 'close');
      const received = output.filter((line) => line !== 'stalled').map((line) => {
        const [seq, keyframe] = line.split(' ').map(Number);
        return { seq: seq!, keyframe: keyframe === 1 };
      });
      const position = new Map(all.map((u, i) => [u.seq, i]));
      let skips = 0;
      for (let i = 1; i < received.length; i++) {
        const at = position.get(received[i]!.seq);
        assert.ok(at !== undefined, `unit ${received[i]!.seq} is one the tier made`);
        if (at !== position.get(received[i - 1]!.seq)! + 1) {
          skips++;
          assert.equal(received[i]!.keyframe, true, `after skipping units the stalled viewer goes on at a keyframe (unit ${received[i]!.seq})`);
        }
      }
      t.diagnostic(`stalled viewer: ${received.length} units after resuming, ${skips} skips, each followed by a keyframe`);
      assert.ok(skips >= 1, `the stalled viewer skipped units (${received.length} received)`);
      assert.ok(received.at(-1)!.seq > madeSeqs[0]!, 'it resumed with current units');
    } finally {
      python.kill();
      good.close();
      await server.close();
    }
  });
});

describe('WS /video/:id?tier=auto', () => {
  it('moves a viewer whose link is slow down the ladder, to 360p', async (t) => {
    const server = await startServer({ streams: { noisy: { source: 'video', lavfi: 'testsrc2=size=1280x720:rate=30' } } });
    // 40 KB/s: 0.32 Mbit/s, below the 1 Mbit/s 480p needs.
    const python = spawn('/usr/bin/python3', [STALLED_CLIENT, String(server.port), '/video/noisy?tier=auto', '0', '40000'], { stdio: ['pipe', 'pipe', 'inherit'] });
    python.stdin.on('error', () => {});
    try {
      const lines = createInterface({ input: python.stdout });
      const output: string[] = [];
      lines.on('line', (line) => output.push(line));
      await waitFor('the slow client connected', () => output.includes('reading'), 60_000);
      const stream = server.server.hub.resolve('noisy')!;
      const tierOf = (name: string) => server.server.videoTiers.get(stream, videoTier(name)!);
      await waitFor('the viewer on 720p first', () => tierOf('720p').viewers === 1, 60_000);
      const startedAt = performance.now();
      await waitFor('the viewer moved to 360p', () => tierOf('360p').viewers === 1, 180_000);
      t.diagnostic(`moved to 360p ${((performance.now() - startedAt) / 1000).toFixed(1)} s after it started reading at 40 KB/s`);
      assert.equal(tierOf('720p').viewers, 0);
      assert.equal(tierOf('480p').viewers, 0);
    } finally {
      python.kill();
      await server.close();
    }
  });
});
