import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Stream, type StreamNotice } from '../src/hub/stream.js';
import { Source } from '../src/sources/source.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import type { Frame } from '../src/sources/frame.js';
import type { Deliver } from '../src/hub/subscriber-slot.js';
import { FakeClock } from './fake-clock.js';
import { FixedDelay, type ReconnectPolicy } from '../src/util/reconnect-policy.js';

/** A source driven by the test: it emits exactly the frames the test pushes. */
class ManualSource extends Source {
  declare emit: Source["emit"];
  readonly kind = 'manual';
  starts = 0;
  stops = 0;
  running = false;
  failStart: Error | undefined;
  async start() {
    this.starts++;
    if (this.failStart) throw this.failStart;
    this.running = true;
  }
  async stop() {
    this.stops++;
    this.running = false;
  }
  push(n: number) {
    this.emit('frame', { bytes: Buffer.from([0xff, 0xd8, 0xff, n]), format: 'jpeg', width: 1, height: 1, capturedAt: n });
  }
  die(restartable: boolean) {
    this.running = false;
    this.emit('exit', { error: new Error('ffmpeg exited with code 1'), restartable });
  }
}

function setup(options: { idleGraceMs?: number; restartPolicy?: ReconnectPolicy } = {}) {
  const clock = new FakeClock();
  const source = new ManualSource();
  const stream = new Stream('cam', source, new SharpEncoder(), {
    clock, idleGraceMs: options.idleGraceMs ?? 1000, ...(options.restartPolicy && { restartPolicy: options.restartPolicy }),
  });
  const received: Frame[] = [];
  const notices: StreamNotice[] = [];
  const subscribe = () => stream.subscribe({
    fps: 1000,
    deliver: (f, done) => {
      received.push(f);
      done(undefined, f.bytes.length);
    },
    onNotice: (n) => notices.push(n),
  });
  return { clock, source, stream, received, notices, subscribe };
}

describe('Stream', () => {
  it('starts its source on the first subscriber, not before', async () => {
    const { source, subscribe, clock } = setup();
    await clock.advance(0);
    assert.equal(source.starts, 0);
    subscribe();
    subscribe();
    await clock.advance(0);
    assert.equal(source.starts, 1);
  });

  it('stops its source after the idle grace period, not sooner', async () => {
    const { source, stream, subscribe, clock } = setup({ idleGraceMs: 1000 });
    const a = subscribe();
    await clock.advance(0);
    a.close();
    await clock.advance(999);
    assert.equal(source.stops, 0);
    await clock.advance(1);
    assert.equal(source.stops, 1);
    assert.equal(stream.state, 'stopped');
  });

  it('keeps the source running when a subscriber returns within the grace period', async () => {
    const { source, subscribe, clock } = setup({ idleGraceMs: 1000 });
    subscribe().close();
    await clock.advance(500);
    subscribe();
    await clock.advance(5000);
    assert.equal(source.stops, 0);
    assert.equal(source.starts, 1);
  });

  it('hands every frame to every subscriber and keeps the latest', async () => {
    const { source, stream, subscribe, clock, received } = setup();
    subscribe();
    subscribe();
    await clock.advance(0);
    source.push(1);
    await clock.advance(1);
    source.push(2);
    await clock.advance(1);
    assert.deepEqual(received.map((f) => f.seq), [1, 1, 2, 2]);
    assert.equal(stream.latest?.seq, 2);
    const stats = stream.stats();
    assert.equal(stats.framesIn, 2);
    assert.equal(stats.framesOut, 4);
    assert.equal(stats.subscribers, 2);
    assert.equal(stats.bytesOut, 16);
  });

  it('measures fps in and out over the last second, with no ceiling on the rate', async () => {
    const { source, stream, subscribe, clock } = setup();
    // 300 clients at 30 fps: 9000 deliveries a second, more than a ring of event times held.
    for (let i = 0; i < 300; i++) subscribe();
    await clock.advance(0);
    for (let n = 1; n <= 60; n++) {
      source.push(n);
      await clock.advance(1000 / 30);
    }
    // Clear of the window's edge: the frames of the last second are the 29 pushed after 1010 ms.
    await clock.advance(10);
    assert.equal(stream.stats().fpsOut, 29 * 300);
    assert.equal(stream.stats().fpsIn, 29);
    // A frame every two seconds: its deliveries count for the second after it, then nothing.
    await clock.advance(2000);
    assert.equal(stream.stats().fpsOut, 0);
    source.push(61);
    await clock.advance(500);
    assert.equal(stream.stats().fpsOut, 300);
    assert.equal(stream.stats().fpsIn, 1);
    await clock.advance(600);
    assert.equal(stream.stats().fpsOut, 0);
  });

  it('lets a subscriber leave in the middle of a fan-out: it gets nothing more, the others get the frame', async () => {
    const { source, stream, clock } = setup();
    const got: string[] = [];
    const subscription = (name: string, onFrame?: () => void) => stream.subscribe({
      fps: 1000,
      deliver: (f, done) => {
        got.push(`${name}${f.seq}`);
        onFrame?.();
        done(undefined, f.bytes.length);
      },
    });
    const late = { close: () => {} };
    subscription('a', () => late.close());
    late.close = subscription('b').close;
    subscription('c');
    await clock.advance(0);
    source.push(1);
    await clock.advance(1);
    source.push(2);
    assert.deepEqual(got, ['a1', 'c1', 'a2', 'c2']);
    assert.equal(stream.stats().subscribers, 2);
  });

  it('gives a new subscriber the latest frame at once', async () => {
    const { source, subscribe, clock, received } = setup();
    subscribe();
    await clock.advance(0);
    source.push(7);
    await clock.advance(1);
    received.length = 0;
    subscribe();
    await clock.advance(0);
    assert.deepEqual(received.map((f) => f.capturedAt), [7]);
  });

  it('restarts a dead source with growing delays and tells subscribers', async () => {
    const { source, stream, subscribe, clock, notices } = setup();
    subscribe();
    await clock.advance(0);
    source.die(true);
    assert.equal(stream.state, 'restarting');
    assert.equal(notices.at(-1)?.level, 'error');
    assert.match(notices.at(-1)!.message, /ffmpeg exited with code 1; restarting in 500 ms/);
    await clock.advance(499);
    assert.equal(source.starts, 1);
    await clock.advance(1);
    assert.equal(source.starts, 2);
    source.die(true);
    await clock.advance(999);
    assert.equal(source.starts, 2, 'second delay is doubled');
    await clock.advance(1);
    assert.equal(source.starts, 3);
    assert.equal(stream.state, 'running');
  });

  it('retries a source that fails to start', async () => {
    const { source, stream, subscribe, clock, notices } = setup();
    source.failStart = new Error('ffmpeg not found');
    subscribe();
    await clock.advance(0);
    assert.equal(stream.state, 'restarting');
    assert.match(notices[0]!.message, /ffmpeg not found/);
    source.failStart = undefined;
    await clock.advance(500);
    assert.equal(stream.state, 'running');
  });

  it('asks an injected restart policy (deaths since the last frame) and ends when it gives up', async () => {
    const asked: number[] = [];
    const inner = new FixedDelay({ delay: 2000, maxAttempts: 2 });
    const restartPolicy: ReconnectPolicy = { nextDelay: (attempt) => { asked.push(attempt); return inner.nextDelay(attempt); } };
    const { source, stream, subscribe, clock, notices } = setup({ restartPolicy });
    subscribe();
    await clock.advance(0);
    source.push(1);
    source.die(true);
    assert.deepEqual(asked, [1]);
    assert.match(notices.at(-1)!.message, /restarting in 2000 ms/, 'the policy\'s delay, not the default immediate restart');
    await clock.advance(1999);
    assert.equal(source.starts, 1);
    await clock.advance(1);
    assert.equal(source.starts, 2);
    source.die(true);
    assert.deepEqual(asked, [1, 2], 'no frame in between: the second attempt');
    await clock.advance(2000);
    assert.equal(source.starts, 3);
    source.push(2);
    source.die(true);
    assert.deepEqual(asked, [1, 2, 1], 'a frame starts the count over');
    await clock.advance(2000);
    source.die(true);
    await clock.advance(2000);
    source.die(true);
    assert.deepEqual(asked, [1, 2, 1, 2, 3]);
    assert.equal(stream.state, 'ended');
    assert.deepEqual(notices.at(-1), { level: 'error', message: 'ffmpeg exited with code 1; not restarting (gave up after 3 attempt(s))', fatal: true });
    await clock.advance(60_000);
    assert.equal(source.starts, 5);
  });

  it('ends for good when the source says restarting cannot help', async () => {
    const { source, stream, subscribe, clock, notices } = setup();
    subscribe();
    await clock.advance(0);
    source.die(false);
    assert.equal(stream.state, 'ended');
    assert.deepEqual(notices.at(-1), { level: 'error', message: 'ffmpeg exited with code 1', fatal: true });
    await clock.advance(60_000);
    assert.equal(source.starts, 1);
  });

  it('answers nextFrame with the latest frame, or waits for one', async () => {
    const { source, stream, subscribe, clock } = setup();
    subscribe();
    await clock.advance(0);
    const waiting = stream.nextFrame(1000);
    source.push(3);
    assert.equal((await waiting).capturedAt, 3);
    assert.equal((await stream.nextFrame(1000)).capturedAt, 3);
    const late = stream.nextFrame(1000, false);
    await clock.advance(1000);
    await assert.rejects(late, /no frame/);
  });
});

describe('Stream lifecycle races', () => {
  it('starts the source again for a subscriber who arrived while it was stopping', async () => {
    const clock = new FakeClock();
    let releaseStop: () => void = () => {};
    class SlowStopSource extends Source {
      readonly kind = 'slow-stop';
      starts = 0;
      async start() {
        this.starts++;
      }
      stop() {
        return new Promise<void>((resolve) => (releaseStop = resolve));
      }
    }
    const source = new SlowStopSource();
    const stream = new Stream('s', source, new SharpEncoder(), { clock, idleGraceMs: 10 });
    const deliver: Deliver = (_f, done) => done(undefined, 0);
    stream.subscribe({ fps: 10, deliver }).close();
    await clock.advance(10);
    assert.equal(stream.state, 'stopping');
    stream.subscribe({ fps: 10, deliver });
    releaseStop();
    await clock.advance(0);
    assert.equal(source.starts, 2);
    assert.equal(stream.state, 'running');
  });

  it('drops the raw pixels of a frame once a newer one arrives', async () => {
    const clock = new FakeClock();
    const source = new ManualSource();
    const stream = new Stream('s', source, new SharpEncoder(), { clock });
    stream.subscribe({ fps: 10, deliver: (_f, done) => done(undefined, 0) });
    await clock.advance(0);
    const raw = { data: Buffer.alloc(3), width: 1, height: 1, channels: 3 as const };
    source.emit('frame', { bytes: Buffer.alloc(1), format: 'jpeg', width: 1, height: 1, capturedAt: 1, raw });
    const first = stream.latest!;
    assert.equal(first.raw, raw);
    source.push(2);
    assert.equal(first.raw, undefined);
  });
});
