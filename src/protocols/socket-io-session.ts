import type { Variant } from '../hub/variant.js';
import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe, FPS_RANGE, intInRange, QUALITY_RANGE } from './values.js';
import { nameProblem } from './socket-io-control.js';
import { parsePlaybackChange } from './playback-command.js';
import type { PlaybackChange } from '../wire/playback.js';

/**
 * seeds/003's Socket.IO events, both ways, as a pure codec: event name + arguments → typed
 * command (validated), and a variant → the `frame` event's payload. No sockets here; the packet
 * is encoded and framed once per variant by socket.io's encoder (src/server/preframed.ts).
 */

/** Client → server events; seeds/003's, verbatim, plus `input:key` and `input:move`. */
export const SessionEvent = {
  Subscribe: 'subscribe',
  Unsubscribe: 'unsubscribe',
  Click: 'input:click',
  Scroll: 'input:scroll',
  Text: 'input:text',
  Key: 'input:key',
  Move: 'input:move',
  QualitySet: 'quality:set',
  FpsSet: 'fps:set',
  AdaptiveToggle: 'adaptive:toggle',
  /** `{seek?, speed?, paused?}` to a subscribed `recording:<id>` stream (docs/recording.md). */
  PlaybackSet: 'playback:set',
} as const;

/** Server → client events; seeds/003's, verbatim. */
export const ServerEvent = {
  Frame: 'frame',
  Subscribed: 'subscribed',
  Unsubscribed: 'unsubscribed',
  InputAcknowledged: 'input:acknowledged',
  QualityUpdated: 'quality:updated',
  FpsUpdated: 'fps:updated',
  AdaptiveUpdated: 'adaptive:updated',
  Error: 'error',
  Status: 'status',
  /** The playback's state after a `playback:set`. */
  PlaybackUpdated: 'playback:updated',
} as const;

const INPUT_EVENTS = {
  [SessionEvent.Click]: 'click',
  [SessionEvent.Scroll]: 'scroll',
  [SessionEvent.Text]: 'text',
  [SessionEvent.Key]: 'key',
  [SessionEvent.Move]: 'move',
} as const;
type InputEventName = keyof typeof INPUT_EVENTS;

/**
 * What a `subscribe` names: seeds/003's `{session_id}`, a browser session, or `{stream}`, any
 * stream by the id the WebSocket routes take (`demo`, `0`, `session:<id>`, a window id).
 */
export type SubscribeTarget = { kind: 'session'; sessionId: string } | { kind: 'stream'; streamId: string };

export type SessionCommand =
  /**
   * `name`: how the other viewers of a browser session see this one (presence); optional.
   * `frames: false`: no `frame` events (the client takes its pictures from `/video/:id`, H.264),
   * everything else as for any subscriber.
   */
  | { type: 'subscribe'; target: SubscribeTarget; name?: string; frames?: false }
  | { type: 'unsubscribe' }
  /** Input is checked against the page size by the session's input module, which knows it. */
  | { type: 'input'; input: (typeof INPUT_EVENTS)[InputEventName]; payload: unknown }
  | { type: 'quality'; quality: number }
  | { type: 'fps'; fps: number }
  | { type: 'adaptive'; enabled: boolean }
  | { type: 'playback'; change: PlaybackChange };

/** Payload of `error`: seeds/003's `message`, and the stable code the WebSocket routes send too. */
export interface ErrorPayload {
  message: string;
  code: ErrorCode;
}

/** Payload of `frame`: base64 JPEG, capture time (ms since the epoch), image size in bytes. */
export interface FramePayload {
  image: string;
  timestamp: number;
  size: number;
}

/** Turns one received event into a command; throws `ProtocolError` for anything else. */
export function parseSessionEvent(event: string, args: readonly unknown[]): SessionCommand {
  // A client may pass an ack callback last; it carries no data.
  const data = args.find((arg) => typeof arg !== 'function');
  switch (event) {
    case SessionEvent.Subscribe: {
      const payload = payloadObject(event, data);
      const target = subscribeTarget(payload);
      const frames = payload['frames'];
      if (frames !== undefined && typeof frames !== 'boolean') throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe: frames must be true or false (got ${describe(frames)})`);
      const command: SessionCommand = { type: 'subscribe', target, ...(frames === false && { frames: false as const }) };
      if (payload['name'] === undefined) return command;
      const problem = nameProblem(payload['name']);
      if (problem) throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe: ${problem}`);
      return { ...command, name: (payload['name'] as string).trim() };
    }
    case SessionEvent.Unsubscribe:
      return { type: 'unsubscribe' };
    case SessionEvent.QualitySet:
      return { type: 'quality', quality: intInRange(payloadObject(event, data)['quality'], 'quality', QUALITY_RANGE, ErrorCode.InvalidOptions) };
    case SessionEvent.FpsSet:
      return { type: 'fps', fps: intInRange(payloadObject(event, data)['fps'], 'fps', FPS_RANGE, ErrorCode.InvalidOptions) };
    case SessionEvent.AdaptiveToggle: {
      const enabled = payloadObject(event, data)['enabled'];
      // Strict boolean: the seed sends JSON true/false, and "false" being truthy would surprise.
      if (typeof enabled !== 'boolean') throw new ProtocolError(ErrorCode.InvalidOptions, `enabled must be true or false (got ${describe(enabled)})`);
      return { type: 'adaptive', enabled };
    }
    case SessionEvent.PlaybackSet:
      return { type: 'playback', change: parsePlaybackChange(data) };
    default:
      if (Object.hasOwn(INPUT_EVENTS, event)) return { type: 'input', input: INPUT_EVENTS[event as InputEventName], payload: data };
      throw new ProtocolError(ErrorCode.UnknownCommand, `unknown event ${describe(event)}; known: ${Object.values(SessionEvent).join(', ')}`);
  }
}

/** `{session_id}` or `{stream}`, exactly one of them, a non-empty string; the rest of the payload is ignored. */
function subscribeTarget(payload: Record<string, unknown>): SubscribeTarget {
  const sessionId = payload['session_id'];
  const streamId = payload['stream'];
  if (sessionId !== undefined && streamId !== undefined) {
    throw new ProtocolError(ErrorCode.InvalidMessage, 'subscribe needs {session_id} or {stream}, not both');
  }
  if (streamId !== undefined) {
    if (typeof streamId !== 'string' || streamId === '') {
      throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe needs {stream: string} (got stream ${describe(streamId)})`);
    }
    return { kind: 'stream', streamId };
  }
  if (typeof sessionId !== 'string' || sessionId === '') {
    throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe needs {session_id: string} or {stream: string} (got session_id ${describe(sessionId)})`);
  }
  return { kind: 'session', sessionId };
}

function payloadObject(event: string, data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ProtocolError(ErrorCode.InvalidMessage, `${event} needs an object payload (got ${describe(data)})`);
  }
  return data as Record<string, unknown>;
}

/** The `frame` event's payload for `variant`. */
export function framePayload(variant: Variant): FramePayload {
  return { image: variant.base64(), timestamp: Math.round(variant.frame.capturedAt), size: variant.bytes.length };
}

