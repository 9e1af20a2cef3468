import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deliverFromPromise, SubscriberSlot } from '../src/hub/subscriber-slot.js';
import { FakeClock } from './fake-clock.js';
import { fakeFrame as frame } from './fake-frame.js';

/**
 * The fps cap must not hold back frames of a source that is no faster than the cap, whatever
 * phase the slot's pacing started in (found by bench/fanout.ts: with the default 30 fps cap
 * and a 30 fps source every frame waited for a timer, up to a whole interval).
 */
describe('SubscriberSlot pacing phase', () => {
  it('sends frames of a source at the cap rate as they arrive once settled, whatever the start phase', async () => {
    for (const offset of [3, 12, 20, 31]) {
      const clock = new FakeClock();
      const written = new Map<number, number>();
      const slot = new SubscriberSlot(deliverFromPromise(async (f) => {
        written.set(f.seq, clock.now());
        return f.bytes.length;
      }), 30, clock);
      const interval = 1000 / 30;
      // The catch-up frame on subscribe, then a 30 fps source `offset` ms out of phase,
      // its timer late by 0-1.5 ms as real timers are.
      slot.offer(frame(0, 0));
      const offeredAt = new Map<number, number>();
      for (let seq = 1; seq <= 150; seq++) {
        const at = offset + (seq - 1) * interval + (seq % 4) * 0.5;
        await clock.advance(at - clock.now());
        offeredAt.set(seq, clock.now());
        slot.offer(frame(seq, at));
      }
      await clock.advance(100);
      // After three seconds the last second of frames must go out the moment they arrive.
      for (let seq = 120; seq <= 150; seq++) {
        const delay = written.get(seq)! - offeredAt.get(seq)!;
        assert.ok(delay < 0.01, `offset ${offset} ms: frame ${seq} waited ${delay.toFixed(2)} ms for the cap`);
      }
      assert.ok(slot.counters.sent >= 145, `offset ${offset} ms: ${slot.counters.sent} of 151 frames sent`);
    }
  });

  it('sends frames of a source at the cap rate as they arrive right after a slow write', async () => {
    const clock = new FakeClock();
    const interval = 1000 / 30;
    const written = new Map<number, number>();
    // Writes take 1 ms, but frame 20's takes 80 ms, as when the event loop is swamped: the
    // pacing schedule then restarts out of phase with the source.
    const slot = new SubscriberSlot((f, done) => {
      written.set(f.seq, clock.now());
      clock.setTimeout(() => done(undefined, f.bytes.length), f.seq === 20 ? 80 : 1);
    }, 30, clock);
    const offeredAt = new Map<number, number>();
    for (let seq = 1; seq <= 40; seq++) {
      await clock.advance(5 + (seq - 1) * interval - clock.now());
      offeredAt.set(seq, clock.now());
      slot.offer(frame(seq, clock.now()));
    }
    await clock.advance(100);
    for (let seq = 23; seq <= 40; seq++) {
      const delay = written.get(seq)! - offeredAt.get(seq)!;
      assert.ok(delay < 0.01, `frame ${seq} waited ${delay.toFixed(2)} ms for the cap after the slow write`);
    }
  });

  it('still holds a faster source to the cap', async () => {
    const clock = new FakeClock();
    const writesAt: number[] = [];
    const slot = new SubscriberSlot(deliverFromPromise(async (f) => {
      writesAt.push(clock.now());
      return f.bytes.length;
    }), 30, clock);
    // 120 fps for ten seconds into a 30 fps client.
    for (let seq = 1; seq <= 1200; seq++) {
      slot.offer(frame(seq, clock.now()));
      await clock.advance(1000 / 120);
    }
    const fps = writesAt.length / 10;
    assert.ok(fps >= 29 && fps <= 30.5, `${fps} fps for a cap of 30`);
    for (let i = 1; i < writesAt.length; i++) {
      assert.ok(writesAt[i]! - writesAt[i - 1]! >= 1000 / 30 - 1, `writes ${writesAt[i - 1]} and ${writesAt[i]} closer than the cap allows`);
    }
  });
});
