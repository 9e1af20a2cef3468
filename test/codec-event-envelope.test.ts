// Unit tests of seeds/001's envelope codec (src/protocols/event-envelope.ts, the `/ws` route):
// events and control messages out, heartbeats in. No sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import {
  EnvelopeType, envelopeMessage, errorEnvelope, heartbeatAnswer, parseEnvelopeCommand, replayGapEnvelope,
} from '../src/protocols/event-envelope.js';
import { assertOnlyDefinedErrors, assertRefuses, hostileTexts } from './codec-cases.js';

const AT = Date.UTC(2026, 11, 2, 13, 44, 5, 123);
const ISO = '2026-12-02T13:44:05.123Z';

describe('event-envelope: events', () => {
  it('wraps each event kind as {type, payload, timestamp, id}', () => {
    const cases = [
      [EnvelopeType.Started, { job_id: 'j1', user_id: null, prompt: 'a "quoted" cat\n' }],
      [EnvelopeType.Progress, { job_id: 'j1', progress: 42.5, stage: 'sampling' }],
      [EnvelopeType.Completed, { job_id: 'j1', image_url: '/images/a.png', metadata: { seed: '18446744073709551615', width: 512 } }],
      [EnvelopeType.Failed, { job_id: 'j1', error: 'out of memory', retry_allowed: true }],
      [EnvelopeType.Notification, { severity: 'warning', message: 'disk 90 % full', action_url: null }],
    ] as const;
    for (const [type, payload] of cases) {
      const bytes = envelopeMessage(type, payload as never, AT, 17);
      assert.ok(Buffer.isBuffer(bytes));
      const parsed = JSON.parse(bytes.toString('utf8'));
      assert.deepEqual(parsed, { type, payload, timestamp: ISO, id: 17 });
      assert.deepEqual(Object.keys(parsed), ['type', 'payload', 'timestamp', 'id']);
    }
  });

  it('keeps null user_id and action_url on the wire (the wire type is string | null)', () => {
    const started = JSON.parse(envelopeMessage(EnvelopeType.Started, { job_id: 'j', user_id: null, prompt: 'p' }, AT, 1).toString());
    assert.ok('user_id' in started.payload);
    assert.equal(started.payload.user_id, null);
    const note = JSON.parse(envelopeMessage(EnvelopeType.Notification, { severity: 'info', message: 'm', action_url: null }, AT, 2).toString());
    assert.equal(note.payload.action_url, null);
  });

  it('uses the seed\'s type names', () => {
    assert.deepEqual({ ...EnvelopeType }, {
      Started: 'image.generation.started', Progress: 'image.generation.progress', Completed: 'image.generation.completed',
      Failed: 'image.generation.failed', Notification: 'system.notification', ReplayGap: 'replay.gap', Pong: 'pong',
      HeartbeatAck: 'heartbeat.ack', Error: 'error',
    });
  });
});

describe('event-envelope: control messages', () => {
  it('error, replay gap and heartbeat answers are envelopes without an id', () => {
    assert.deepEqual(JSON.parse(errorEnvelope('invalid_query', 'since must be…', AT)), { type: 'error', payload: { code: 'invalid_query', message: 'since must be…' }, timestamp: ISO });
    assert.deepEqual(
      JSON.parse(replayGapEnvelope({ reason: 'evicted', since: 3, resumeAfter: 40 }, AT)),
      { type: 'replay.gap', payload: { reason: 'evicted', since: 3, resume_after: 40 }, timestamp: ISO },
    );
    assert.deepEqual(JSON.parse(replayGapEnvelope({ reason: 'ahead', since: 900, resumeAfter: 12 }, AT)).payload, { reason: 'ahead', since: 900, resume_after: 12 });
    assert.deepEqual(JSON.parse(heartbeatAnswer({ type: 'ping' }, AT)), { type: 'pong', payload: {}, timestamp: ISO });
    assert.deepEqual(JSON.parse(heartbeatAnswer({ type: 'heartbeat' }, AT)), { type: 'heartbeat.ack', payload: {}, timestamp: ISO });
  });
});

describe('event-envelope: client messages', () => {
  it('accepts bare and enveloped heartbeats and pings', () => {
    assert.deepEqual(parseEnvelopeCommand('{"type":"ping"}'), { type: 'ping' });
    assert.deepEqual(parseEnvelopeCommand('{"type":"heartbeat"}'), { type: 'heartbeat' });
    assert.deepEqual(parseEnvelopeCommand(`{"type":"heartbeat","payload":{},"timestamp":"${ISO}"}`), { type: 'heartbeat' });
  });

  it('refuses anything else with a defined code', () => {
    assertRefuses(() => parseEnvelopeCommand('ping'), ProtocolError, ErrorCode.InvalidJson);
    assertRefuses(() => parseEnvelopeCommand('["ping"]'), ProtocolError, ErrorCode.InvalidMessage);
    assertRefuses(() => parseEnvelopeCommand('{"payload":{}}'), ProtocolError, ErrorCode.InvalidMessage, /needs a "type" field/);
    for (const payload of ['null', '[]', '"x"', '1']) {
      assertRefuses(() => parseEnvelopeCommand(`{"type":"heartbeat","payload":${payload}}`), ProtocolError, ErrorCode.InvalidMessage, /payload must be a JSON object/);
    }
    assertRefuses(() => parseEnvelopeCommand('{"type":"subscribe"}'), ProtocolError, ErrorCode.UnknownCommand, /unknown message type "subscribe" \(known: heartbeat, ping\)/);
    assertRefuses(() => parseEnvelopeCommand('{"type":"PING"}'), ProtocolError, ErrorCode.UnknownCommand);
  });

  it('throws nothing but ProtocolError with a defined code on hostile text', () => {
    const texts = hostileTexts(0x0001, 3000, [{ type: 'heartbeat', payload: {}, timestamp: ISO }, { type: 'ping' }]);
    const refused = assertOnlyDefinedErrors(texts, parseEnvelopeCommand, ProtocolError, ['invalid_json', 'invalid_message', 'unknown_command']);
    assert.ok(refused > 100 && refused < texts.length, `refused ${refused} of ${texts.length}`);
  });
});
