import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe, parseJsonObject } from './values.js';
import { EnvelopeType, type EnvelopePayloads } from '../wire/envelope.js';

export { EnvelopeType };
export type { EnvelopePayloads };

/**
 * seeds/001's `/ws` protocol (WebSocketClient): `{type, payload, timestamp}` envelopes with an
 * ISO timestamp. framehub adds a top-level `id` to every event (pass it back as `?since=`);
 * heartbeat answers and errors carry none, they are not events. Pure: knows nothing about sockets.
 */

/** An event envelope as UTF-8 bytes, built once per event and shared by every client. */
export function envelopeMessage<K extends keyof EnvelopePayloads>(type: K, payload: EnvelopePayloads[K], at: number, id: number): Buffer {
  return Buffer.from(JSON.stringify({ type, payload, timestamp: new Date(at).toISOString(), id }));
}

function control(type: EnvelopeType, payload: Record<string, unknown>, now: number): string {
  return JSON.stringify({ type, payload, timestamp: new Date(now).toISOString() });
}

export function errorEnvelope(code: string, message: string, now: number): string {
  return control(EnvelopeType.Error, { code, message }, now);
}

/** Events from `since + 1` through `resumeAfter` are gone (`evicted`), or `since` is unknown (`ahead`). */
export function replayGapEnvelope(gap: { reason: 'evicted' | 'ahead'; since: number; resumeAfter: number }, now: number): string {
  return control(EnvelopeType.ReplayGap, { reason: gap.reason, since: gap.since, resume_after: gap.resumeAfter }, now);
}

export type EnvelopeCommand = { type: 'ping' } | { type: 'heartbeat' };

/**
 * Parses a client message. Heartbeats are accepted bare (`{"type":"ping"}`) or as full
 * envelopes (`{"type":"heartbeat","payload":{},"timestamp":"…"}`).
 */
export function parseEnvelopeCommand(text: string): EnvelopeCommand {
  const message = parseJsonObject(text);
  const type = message['type'];
  if (message['payload'] !== undefined && (typeof message['payload'] !== 'object' || message['payload'] === null || Array.isArray(message['payload']))) {
    throw new ProtocolError(ErrorCode.InvalidMessage, 'payload must be a JSON object');
  }
  if (type === 'ping' || type === 'heartbeat') return { type };
  if (type === undefined) throw new ProtocolError(ErrorCode.InvalidMessage, 'message needs a "type" field');
  throw new ProtocolError(ErrorCode.UnknownCommand, `unknown message type ${describe(type)} (known: heartbeat, ping)`);
}

/** `ping` is answered with `pong`, `heartbeat` with `heartbeat.ack`. */
export function heartbeatAnswer(command: EnvelopeCommand, now: number): string {
  return control(command.type === 'ping' ? EnvelopeType.Pong : EnvelopeType.HeartbeatAck, {}, now);
}
