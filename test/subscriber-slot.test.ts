import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deliverFromPromise, SubscriberSlot, type Deliver, type DeliveryDone } from '../src/hub/subscriber-slot.js';
import type { Frame } from '../src/sources/frame.js';
import { FakeClock, flushMicrotasks } from './fake-clock.js';
import { fakeFrame as frame } from './fake-frame.js';

/** A transport whose writes complete only when the test says so. */
function manualTransport() {
  const writes: { frame: Frame; complete: () => void; fail: (e: Error) => void }[] = [];
  const deliver: Deliver = (f, done) => {
    writes.push({ frame: f, complete: () => done(undefined, f.bytes.length), fail: (e) => done(e, 0) });
  };
  return { writes, deliver };
}

describe('SubscriberSlot', () => {
  it('writes a frame at once when idle', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 30, clock);
    slot.offer(frame(1));
    assert.equal(t.writes.length, 1);
    assert.equal(t.writes[0]!.frame.seq, 1);
    assert.equal(slot.inFlight, true);
  });

  it('starts the next write only after the previous one completed', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 1000, clock);
    slot.offer(frame(1));
    slot.offer(frame(2));
    await clock.advance(100);
    assert.equal(t.writes.length, 1, 'no second write while the first is in flight');
    t.writes[0]!.complete();
    await flushMicrotasks();
    assert.equal(t.writes.length, 2);
    assert.equal(t.writes[1]!.frame.seq, 2);
  });

  it('drops the pending frame when a newer one arrives during a write', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 1000, clock);
    for (let seq = 1; seq <= 10; seq++) slot.offer(frame(seq));
    assert.equal(t.writes.length, 1);
    t.writes[0]!.complete();
    await clock.advance(1); // past the 1000 fps cap
    assert.equal(t.writes.length, 2);
    assert.equal(t.writes[1]!.frame.seq, 10, 'the latest frame wins');
    assert.equal(slot.counters.dropped, 8, 'frames 2..9 were dropped');
    t.writes[1]!.complete();
    await flushMicrotasks();
    assert.equal(slot.counters.sent, 2);
    assert.equal(slot.counters.bytes, 200);
    assert.equal(slot.hasPending, false);
  });

  it('holds at most one pending frame for a client that never completes a write', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 30, clock);
    for (let seq = 1; seq <= 1000; seq++) {
      slot.offer(frame(seq));
      await clock.advance(33);
    }
    assert.equal(t.writes.length, 1, 'one write in flight, nothing queued behind it');
    assert.equal(slot.hasPending, true);
    assert.equal(slot.counters.dropped, 998);
  });

  it('caps the rate at the client fps', async () => {
    const clock = new FakeClock();
    const writesAt: number[] = [];
    const slot = new SubscriberSlot(deliverFromPromise(async (f) => {
      writesAt.push(clock.now());
      return f.bytes.length;
    }), 10, clock);
    // A 60 fps source for two seconds into a 10 fps client.
    for (let seq = 1; seq <= 120; seq++) {
      slot.offer(frame(seq));
      await clock.advance(1000 / 60);
    }
    assert.ok(writesAt.length >= 19 && writesAt.length <= 21, `~20 writes in 2 s at 10 fps, got ${writesAt.length}`);
    for (let i = 1; i < writesAt.length; i++) {
      assert.ok(writesAt[i]! - writesAt[i - 1]! >= 99.4, `writes ${writesAt[i - 1]} and ${writesAt[i]} closer than the cap`);
    }
    assert.ok(slot.counters.skipped > 90, 'frames over the cap are counted as skipped');
    assert.equal(slot.counters.dropped, 0, 'a fast client drops nothing');
  });

  it('sends a frame held by the fps cap when its time comes, with no newer frame needed', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 10, clock);
    slot.offer(frame(1));
    t.writes[0]!.complete();
    await flushMicrotasks();
    slot.offer(frame(2));
    assert.equal(t.writes.length, 1, 'too early for the second frame');
    await clock.advance(100);
    assert.equal(t.writes.length, 2);
    assert.equal(t.writes[1]!.frame.seq, 2);
  });

  it('applies a new fps cap at once', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 1, clock);
    slot.offer(frame(1));
    t.writes[0]!.complete();
    await flushMicrotasks();
    slot.offer(frame(2));
    await clock.advance(50);
    assert.equal(t.writes.length, 1);
    slot.setFps(60);
    await flushMicrotasks();
    assert.equal(t.writes.length, 2);
  });

  it('counts failed writes and carries on', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const errors: unknown[] = [];
    const slot = new SubscriberSlot(t.deliver, 1000, clock, (e) => errors.push(e));
    slot.offer(frame(1));
    t.writes[0]!.fail(new Error('socket gone'));
    await clock.advance(1);
    assert.equal(slot.counters.failed, 1);
    assert.equal(errors.length, 1);
    slot.offer(frame(2));
    assert.equal(t.writes.length, 2);
  });

  it('ignores a done that comes when no write is in flight', async () => {
    const clock = new FakeClock();
    const dones: DeliveryDone[] = [];
    const slot = new SubscriberSlot((_f, done) => {
      dones.push(done);
    }, 1000, clock);
    slot.offer(frame(1));
    dones[0]!(undefined, 100);
    dones[0]!(undefined, 100); // a transport completing frame 1 again
    assert.equal(slot.counters.sent, 1);
    assert.equal(slot.counters.bytes, 100);
    slot.close();
    dones[0]!(undefined, 100); // or completing after the client left
    assert.equal(slot.counters.sent, 1);
  });

  it('counts a Deliver that throws as a failed write and carries on', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    let calls = 0;
    const slot = new SubscriberSlot((f, done) => {
      calls++;
      if (f.seq === 1) throw new Error('encoder exploded');
      done(undefined, f.bytes.length);
    }, 1000, clock, (e) => errors.push(e));
    slot.offer(frame(1));
    assert.equal(slot.counters.failed, 1);
    assert.equal((errors[0] as Error).message, 'encoder exploded');
    await clock.advance(1);
    slot.offer(frame(2));
    assert.equal(calls, 2);
    assert.equal(slot.counters.sent, 1);
  });

  it('ignores frames after close', async () => {
    const clock = new FakeClock();
    const t = manualTransport();
    const slot = new SubscriberSlot(t.deliver, 10, clock);
    slot.offer(frame(1));
    slot.offer(frame(2));
    slot.close();
    t.writes[0]!.complete();
    await flushMicrotasks();
    slot.offer(frame(3));
    await clock.advance(1000);
    assert.equal(t.writes.length, 1);
    assert.equal(clock.pendingTimers, 0);
  });
});
