import { ErrorCode, ProtocolError } from './errors.js';
import { describe, parseJsonObject } from './values.js';

/**
 * seeds/001's `/ws` protocol (WebSocketClient): `{type, payload, timestamp}` envelopes with an
 * ISO timestamp. framehub adds a top-level `id` to every event (pass it back as `?since=`);
 * heartbeat answers and errors carry none, they are not events. Pure: knows nothing about sockets.
 */

export const EnvelopeType = {
  Started: 'image.generation.started',
  Progress: 'image.generation.progress',
  Completed: 'image.generation.completed',
  Failed: 'image.generation.failed',
  Notification: 'system.notification',
  ReplayGap: 'replay.gap',
  Pong: 'pong',
  HeartbeatAck: 'heartbeat.ack',
  Error: 'error',
} as const;
export type EnvelopeType = (typeof EnvelopeType)[keyof typeof EnvelopeType];

export interface StartedPayload { job_id: string; user_id: string | null; prompt: string }
export interface ProgressPayload { job_id: string; progress: number; stage: string }
export interface CompletedPayload { job_id: string; image_url: string; metadata: Record<string, unknown> }
export interface FailedPayload { job_id: string; error: string; retry_allowed: boolean }
export type Severity = 'info' | 'warning' | 'error';
export interface NotificationPayload { severity: Severity; message: string; action_url: string | null }

export interface EnvelopePayloads {
  [EnvelopeType.Started]: StartedPayload;
  [EnvelopeType.Progress]: ProgressPayload;
  [EnvelopeType.Completed]: CompletedPayload;
  [EnvelopeType.Failed]: FailedPayload;
  [EnvelopeType.Notification]: NotificationPayload;
}

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
