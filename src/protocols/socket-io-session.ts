import type { Variant } from '../hub/variant.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { describe, FPS_RANGE, intInRange, QUALITY_RANGE } from './values.js';

/**
 * seeds/003's Socket.IO events, both ways, as a pure codec: event name + arguments → typed
 * command (validated), and a variant → the `frame` event's payload. No sockets here; the packet
 * is encoded and framed once per variant by socket.io's encoder (src/server/preframed.ts).
 */

/** Client → server events; seeds/003's, verbatim, plus `input:key` and `input:move`. */
export const ClientEvent = {
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
} as const;

const INPUT_EVENTS = {
  [ClientEvent.Click]: 'click',
  [ClientEvent.Scroll]: 'scroll',
  [ClientEvent.Text]: 'text',
  [ClientEvent.Key]: 'key',
  [ClientEvent.Move]: 'move',
} as const;
type InputEventName = keyof typeof INPUT_EVENTS;

export type SessionCommand =
  | { type: 'subscribe'; sessionId: string }
  | { type: 'unsubscribe' }
  /** Input is checked against the page size by the session's input module, which knows it. */
  | { type: 'input'; input: (typeof INPUT_EVENTS)[InputEventName]; payload: unknown }
  | { type: 'quality'; quality: number }
  | { type: 'fps'; fps: number }
  | { type: 'adaptive'; enabled: boolean };

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
    case ClientEvent.Subscribe: {
      const id = payloadObject(event, data)['session_id'];
      if (typeof id !== 'string' || id === '') {
        throw new ProtocolError(ErrorCode.InvalidMessage, `subscribe needs {session_id: string} (got session_id ${describe(id)})`);
      }
      return { type: 'subscribe', sessionId: id };
    }
    case ClientEvent.Unsubscribe:
      return { type: 'unsubscribe' };
    case ClientEvent.QualitySet:
      return { type: 'quality', quality: intInRange(payloadObject(event, data)['quality'], 'quality', QUALITY_RANGE, ErrorCode.InvalidOptions) };
    case ClientEvent.FpsSet:
      return { type: 'fps', fps: intInRange(payloadObject(event, data)['fps'], 'fps', FPS_RANGE, ErrorCode.InvalidOptions) };
    case ClientEvent.AdaptiveToggle: {
      const enabled = payloadObject(event, data)['enabled'];
      // Strict boolean: the seed sends JSON true/false, and "false" being truthy would surprise.
      if (typeof enabled !== 'boolean') throw new ProtocolError(ErrorCode.InvalidOptions, `enabled must be true or false (got ${describe(enabled)})`);
      return { type: 'adaptive', enabled };
    }
    default:
      if (Object.hasOwn(INPUT_EVENTS, event)) return { type: 'input', input: INPUT_EVENTS[event as InputEventName], payload: data };
      throw new ProtocolError(ErrorCode.UnknownCommand, `unknown event ${describe(event)}; known: ${Object.values(ClientEvent).join(', ')}`);
  }
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

