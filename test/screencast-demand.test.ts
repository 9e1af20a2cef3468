import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CDPSession } from 'playwright-core';
import { ScreencastSource } from '../src/sessions/screencast-source.js';
import { ReaderDemand } from '../src/hub/reader-demand.js';
import { withTimeout } from './wait.js';

interface StartParams { maxWidth: number; maxHeight: number; quality: number }

/** A CDP session that records the screencast's starts and stops; `nextStart` resolves on the next start. */
function fakeCdp() {
  const starts: StartParams[] = [];
  let waiting: ((params: StartParams) => void) | undefined;
  const cdp = {
    on: () => cdp,
    off: () => cdp,
    send: async (method: string, params?: StartParams) => {
      if (method === 'Page.startScreencast') {
        starts.push(params!);
        waiting?.(params!);
        waiting = undefined;
      }
      return {};
    },
  };
  return {
    cdp: cdp as unknown as CDPSession,
    starts,
    nextStart: () => withTimeout(new Promise<StartParams>((resolve) => (waiting = resolve)), 10_000, 'a screencast start'),
  };
}

const size = (p: StartParams) => [p.maxWidth, p.maxHeight, p.quality];

describe('ScreencastSource follows its readers\' demand', () => {
  it('starts at the largest size any reader needs, goes up at once, and not down while a reader comes back within the delay', async () => {
    const fake = fakeCdp();
    const source = new ScreencastSource({ cdp: async () => fake.cdp, responsive: async () => true },
      { quality: 80, fps: 30, maxWidth: 1280, maxHeight: 720, watchdogMs: 60_000, lowerAfterMs: 60_000 });
    const demand = new ReaderDemand();
    source.useDemand(demand);
    demand.hold({ kind: 'variant', spec: { format: 'jpeg', quality: 50, maxWidth: 640 } });
    await source.start();
    try {
      assert.deepEqual(fake.starts.map(size), [[640, 360, 50]]);
      const up = fake.nextStart();
      const full = demand.hold({ kind: 'frames' });
      assert.deepEqual(size(await up), [1280, 720, 80], 'a full-size reader: full size at once');
      // The full-size reader leaves and comes back on a later turn (a page reload), well within
      // the 60 s delay: no restart either way. Leaving arms the delayed follow at once; how long
      // the reader is away within the delay changes nothing, so one turn stands for it.
      full();
      await new Promise((resolve) => setImmediate(resolve));
      const again = demand.hold({ kind: 'frames' });
      assert.deepEqual(fake.starts.map(size), [[640, 360, 50], [1280, 720, 80]]);
      again();
    } finally {
      await source.stop();
    }
  });

  it('goes down to what the readers need once they have needed less for the delay, and never above the session', async () => {
    const fake = fakeCdp();
    const source = new ScreencastSource({ cdp: async () => fake.cdp, responsive: async () => true },
      { quality: 70, fps: 30, maxWidth: 1280, maxHeight: 720, watchdogMs: 60_000, lowerAfterMs: 20 });
    const demand = new ReaderDemand();
    source.useDemand(demand);
    const big = demand.hold({ kind: 'variant', spec: { format: 'jpeg', quality: 95 } });
    await source.start();
    try {
      assert.deepEqual(fake.starts.map(size), [[1280, 720, 70]], 'quality capped at the session\'s');
      const tier = demand.hold({ kind: 'pixels', maxHeight: 480 });
      const down = fake.nextStart();
      big();
      assert.deepEqual(size(await down), [853, 480, 70], 'an H.264 tier: its size, the session\'s quality');
      assert.deepEqual(source.sending, { width: 853, height: 480, quality: 70 });
      tier();
    } finally {
      await source.stop();
    }
  });
});
