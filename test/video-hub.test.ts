import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { H264Encoder } from '../src/hub/h264-encoder.js';
import type { AccessUnit } from '../src/hub/access-unit.js';
import { AccessUnit as Unit } from '../src/hub/access-unit.js';
import { VideoSlot, MAX_WAITING_UNITS, type VideoSink } from '../src/hub/video-slot.js';
import { VideoTier } from '../src/hub/video-tier.js';
import { tierSize, VIDEO_LADDER, VIDEO_TIERS, videoTier, type VideoTierSpec } from '../src/hub/video-tier-spec.js';
import { AdaptiveController } from '../src/hub/adaptive-controller.js';
import { FakeClock } from './fake-clock.js';
import { avcConfig, splitNals, nalType, NalType, toLengthPrefixed } from '../src/hub/h264-bitstream.js';
import { PacketSplitter } from '../src/hub/packet-splitter.js';
import { Stream } from '../src/hub/stream.js';
import { SharpEncoder } from '../src/hub/encoder.js';
import { PatternSource } from '../src/sources/pattern-source.js';
import type { DeliveryDone } from '../src/hub/subscriber-slot.js';
import { nextEvent, withTimeout, waitFor } from './wait.js';

/** NAL types of a length-prefixed unit. */
function lengthPrefixedTypes(data: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at < data.length;) {
    const length = data.readUInt32BE(at);
    types.push(data[at + 4]! & 0x1f);
    at += 4 + length;
    assert.ok(at <= data.length, 'NAL lengths stay inside the unit');
  }
  return types;
}

describe('H.264 ladder', () => {
  it('fits a tier by height, never enlarges, keeps both sides even', () => {
    assert.deepEqual(tierSize(1280, 720, videoTier('480p')!), { width: 852, height: 480 });
    assert.deepEqual(tierSize(640, 360, videoTier('720p')!), { width: 640, height: 360 });
    assert.deepEqual(tierSize(641, 361, videoTier('720p')!), { width: 640, height: 360 });
    assert.deepEqual(VIDEO_TIERS.map((t) => t.name), ['720p', '480p', '360p']);
  });
});

describe('Annex-B and packet framing', () => {
  it('splits NAL units on 3- and 4-byte start codes', () => {
    const stream = Buffer.from([0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5]);
    const nals = splitNals(stream);
    assert.deepEqual(nals.map(nalType), [NalType.Sps, NalType.Pps, NalType.Idr]);
    assert.deepEqual([...nals[0]!], [0x67, 1, 2]);
  });

  it('hands on each mpjpeg part when its last byte arrives, however the chunks fall', () => {
    const parts = [Buffer.from('abc'), Buffer.alloc(5000, 7)];
    const wire = Buffer.concat(parts.flatMap((p) => [Buffer.from(`--ffmpeg\r\nContent-type: image/jpeg\r\nContent-length: ${p.length}\r\n\r\n`), p, Buffer.from('\r\n')]));
    const got: Buffer[] = [];
    const splitter = new PacketSplitter((p) => got.push(p));
    for (let at = 0; at < wire.length; at += 7) splitter.push(wire.subarray(at, at + 7));
    assert.deepEqual(got, parts);
  });
});

describe('H264Encoder', () => {
  it('gives one access unit per picture, the first a keyframe with its decoder config', async () => {
    const encoder = new H264Encoder({ width: 320, height: 240, fps: 30, bitrate: 400_000 });
    const units: AccessUnit[] = [];
    encoder.on('unit', (unit) => units.push(unit));
    try {
      const red = Buffer.alloc(320 * 240 * 3);
      for (let i = 0; i < red.length; i += 3) red[i] = 255;
      for (let n = 1; n <= 5; n++) {
        await new Promise<void>((resolve, reject) => encoder.encode(red, 1000 + n, n, (error) => (error ? reject(error) : resolve())));
      }
      await waitFor('five units', () => units.length === 5, 30_000);
    } finally {
      await encoder.stop();
    }
    assert.equal(units[0]!.keyframe, true);
    // Main profile (0x4D) with CABAC: the PPS after the avcC's SPS starts with pps_id 0 and
    // sps_id 0 (one bit each) and then entropy_coding_mode_flag, 1 for CABAC.
    assert.match(units[0]!.codec, /^avc1\.4D[0-9A-F]{4}$/);
    const config = units[0]!.config!;
    assert.ok(config && config[0] === 1, 'avcC on the keyframe');
    const pps = config.subarray(8 + config.readUInt16BE(6) + 3);
    assert.equal(nalType(pps), NalType.Pps);
    assert.equal(pps[1]! & 0xe0, 0xe0, 'the PPS says CABAC');
    assert.ok(lengthPrefixedTypes(units[0]!.data).includes(NalType.Idr));
    assert.deepEqual(units.map((u) => u.seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(units.map((u) => u.capturedAt), [1001, 1002, 1003, 1004, 1005]);
    for (const unit of units.slice(1)) {
      assert.equal(unit.keyframe, false);
      assert.equal(unit.config, undefined);
      assert.ok(!lengthPrefixedTypes(unit.data).includes(NalType.Aud));
    }
  });
});

function unit(seq: number, keyframe: boolean): AccessUnit {
  return new Unit(Buffer.alloc(10, seq), keyframe, seq, seq, 2, 2, 'avc1.42C01E', keyframe ? Buffer.from([1]) : undefined);
}

/** A sink that records what it was given and finishes writes only when told to. */
class HeldSink implements VideoSink {
  readonly written: number[] = [];
  readonly #held: DeliveryDone[] = [];
  auto = false;
  deliver(units: readonly AccessUnit[], done: DeliveryDone): void {
    this.written.push(...units.map((u) => u.seq));
    if (this.auto) done(undefined, units.length * 10);
    else this.#held.push(done);
  }
  release(): void {
    for (const done of this.#held.splice(0)) done(undefined, 10);
  }
}

describe('VideoSlot', () => {
  it('starts a joining viewer at the last keyframe and sends the run since then', () => {
    const sink = new HeldSink();
    sink.auto = true;
    const slot = new VideoSlot(sink);
    slot.join([unit(5, true), unit(6, false), unit(7, false)]);
    slot.offer(unit(8, false));
    assert.deepEqual(sink.written, [5, 6, 7, 8]);
  });

  it('waits for a keyframe when it joins with no run to start from', () => {
    const sink = new HeldSink();
    sink.auto = true;
    const slot = new VideoSlot(sink);
    slot.join([]);
    slot.offer(unit(1, false));
    slot.offer(unit(2, true));
    slot.offer(unit(3, false));
    assert.deepEqual(sink.written, [2, 3]);
    assert.equal(slot.counters.dropped, 1);
  });

  it('sends units that came during a write together when it completes, in order', () => {
    const sink = new HeldSink();
    const slot = new VideoSlot(sink);
    slot.offer(unit(1, true));
    slot.offer(unit(2, false));
    slot.offer(unit(3, false));
    assert.deepEqual(sink.written, [1]);
    sink.release();
    assert.deepEqual(sink.written, [1, 2, 3]);
  });

  it('a viewer that falls behind drops units until the next keyframe; another keeps every unit', () => {
    const stalled = new HeldSink();
    const healthy = new HeldSink();
    healthy.auto = true;
    const slow = new VideoSlot(stalled);
    const fast = new VideoSlot(healthy);
    let seq = 0;
    const offer = (keyframe: boolean) => {
      const u = unit(++seq, keyframe);
      slow.offer(u);
      fast.offer(u);
    };
    offer(true);
    for (let i = 0; i < MAX_WAITING_UNITS + 5; i++) offer(false);
    assert.equal(slow.waitingForKeyframe, true);
    assert.equal(slow.counters.resyncs, 1);
    offer(true);
    const keyframe = seq;
    offer(false);
    stalled.release();
    // The stalled write (unit 1), then straight to the keyframe and what followed it.
    assert.deepEqual(stalled.written, [1, keyframe, keyframe + 1]);
    assert.equal(healthy.written.length, seq);
    assert.deepEqual(healthy.written, Array.from({ length: seq }, (_, i) => i + 1));
  });

  it('tells a sink that fell behind at once, with how many units it dropped, and a sink that throws there changes nothing', () => {
    const told: number[] = [];
    const stalled = Object.assign(new HeldSink(), { behind: (dropped: number) => { told.push(dropped); throw new Error('a report that fails'); } });
    const slot = new VideoSlot(stalled);
    slot.offer(unit(1, true));
    for (let i = 2; i <= MAX_WAITING_UNITS + 2; i++) slot.offer(unit(i, false));
    assert.deepEqual(told, [MAX_WAITING_UNITS + 1]);
    assert.equal(slot.counters.resyncs, 1);
    slot.offer(unit(100, true));
    stalled.release();
    assert.deepEqual(stalled.written, [1, 100]);
  });

  it('a failed write makes it wait for the next keyframe', () => {
    const slot = new VideoSlot({ deliver: (_units, done) => done(new Error('gone'), 0) });
    slot.offer(unit(1, true));
    assert.equal(slot.waitingForKeyframe, true);
    assert.equal(slot.counters.failed, 1);
  });
});

describe('VideoTier', () => {
  it('encodes a stream once for its viewers; a joining viewer starts with a keyframe at once', async () => {
    const stream = new Stream('pattern', new PatternSource({ width: 640, height: 360, fps: 30 }), new SharpEncoder(), { idleGraceMs: 0 });
    const tier = new VideoTier(stream, videoTier('360p')!, { idleGraceMs: 0 });
    const first: AccessUnit[] = [];
    const second: AccessUnit[] = [];
    const sinkOf = (into: AccessUnit[]): VideoSink => ({ deliver: (units, done) => { into.push(...units); done(undefined, 0); } });
    try {
      tier.subscribe(sinkOf(first));
      await waitFor('units for the first viewer', () => first.length >= 10, 60_000);
      const joinedAt = performance.now();
      tier.subscribe(sinkOf(second));
      const joinMs = performance.now() - joinedAt;
      assert.ok(second.length > 0, 'the joining viewer gets the run since the last keyframe synchronously');
      assert.equal(second[0]!.keyframe, true);
      assert.ok(joinMs < 300, `joined in ${joinMs} ms`);
      // Both viewers share the same unit objects: encoded once.
      await waitFor('a shared unit', () => second.length > 0 && first.includes(second.at(-1)!), 60_000);
      assert.equal(tier.viewers, 2);
      assert.equal(stream.subscriberCount, 1, 'one encoder feed for the tier, whatever the viewers');
      assert.equal(first[0]!.width, 640);
    } finally {
      await tier.close();
      await stream.close();
    }
  });

  it('stops its encoder and leaves the stream after the idle grace', async () => {
    const stream = new Stream('pattern', new PatternSource({ width: 320, height: 240, fps: 30 }), new SharpEncoder(), { idleGraceMs: 0 });
    let idle = false;
    const tier = new VideoTier(stream, videoTier('360p')!, { idleGraceMs: 10, onIdle: () => { idle = true; } });
    const got: AccessUnit[] = [];
    try {
      const sub = tier.subscribe({ deliver: (units, done) => { got.push(...units); done(undefined, 0); } });
      await waitFor('a unit', () => got.length > 0, 60_000);
      sub.close();
      assert.equal(stream.subscriberCount, 0, 'the stream is left at once');
      assert.equal(tier.running, true, 'the encoder waits out the grace');
      await waitFor('the tier idle', () => idle, 30_000);
      assert.equal(tier.running, false);
      assert.equal(stream.subscriberCount, 0);
      assert.equal(tier.gop.length, 0);
    } finally {
      await tier.close();
      await stream.close();
    }
  });
});

describe('AdaptiveController on the video ladder', () => {
  /** Feeds writes of `bytes` over a link of `mbps` for `seconds`; returns the tier changes. */
  async function feed(controller: AdaptiveController<VideoTierSpec>, clock: FakeClock, mbps: number, seconds: number): Promise<string[]> {
    const changes: string[] = [];
    const bytes = 8_000;
    const busy = (bytes * 8) / (mbps * 1000);
    const end = clock.now() + seconds * 1000;
    while (clock.now() < end) {
      await clock.advance(Math.max(1000 / 30, busy));
      const tier = controller.record(bytes, busy);
      if (tier) changes.push(tier.name);
    }
    return changes;
  }

  it('starts at 720p, steps down to the tier a slow link carries and back up when it recovers', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ ladder: VIDEO_LADDER, initial: '720p', clock });
    assert.equal(controller.tier.name, '720p');
    assert.deepEqual(await feed(controller, clock, 0.3, 6), ['360p']);
    assert.deepEqual(await feed(controller, clock, 1.5, 8), ['480p']);
    assert.deepEqual(await feed(controller, clock, 50, 8), ['720p']);
  });

  it('does not flap on a link near an edge', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ ladder: VIDEO_LADDER, initial: '480p', clock });
    // 1 Mbit/s is 480p's edge: within the 20 % margin either way, it stays.
    assert.deepEqual(await feed(controller, clock, 0.9, 10), []);
    assert.deepEqual(await feed(controller, clock, 1.15, 10), []);
  });
});

describe('VideoTier when the encoder cannot run', () => {
  it('reports the failure, sends nothing, and closes cleanly', async () => {
    const stream = new Stream('pattern', new PatternSource({ width: 320, height: 240, fps: 30 }), new SharpEncoder(), { idleGraceMs: 0 });
    const failures: Error[] = [];
    const tier = new VideoTier(stream, videoTier('360p')!, { idleGraceMs: 0, command: '/nonexistent/ffmpeg', onError: (error) => failures.push(error) });
    const got: AccessUnit[] = [];
    try {
      tier.subscribe({ deliver: (units, done) => { got.push(...units); done(undefined, 0); } });
      await waitFor('the failure reported', () => failures.length > 0, 30_000);
      assert.match(failures[0]!.message, /ENOENT|nonexistent/);
      assert.equal(got.length, 0);
      assert.equal(tier.failures >= 1, true);
    } finally {
      await tier.close();
      await stream.close();
    }
  });
});
