import { ErrorCode } from '../wire/errors.js';
import { ProtocolError } from './protocol-error.js';
import { describe } from './values.js';

/**
 * Control and presence events of a browser session over Socket.IO, as a pure codec (no sockets):
 * event name + arguments → typed command, validated. Server → client payloads are built from the
 * session's own state (src/sessions/session-control.ts, presence.ts).
 */

/** Client → server. */
export const ControlClientEvent = {
  Request: 'control:request',
  Grant: 'control:grant',
  Deny: 'control:deny',
  Release: 'control:release',
  Take: 'control:take',
  PointerShare: 'pointer:share',
  PointerMove: 'pointer:move',
} as const;

/** Server → client. */
export const ControlServerEvent = {
  /** `ControlState`: to every viewer of the session whenever it changes, and to a socket on subscribe. */
  State: 'control:state',
  /** The answer to a control action: `{action, result}`. */
  Acknowledged: 'control:acknowledged',
  /** To the one whose request was turned down: `{by: {id, name}}`. */
  Denied: 'control:denied',
  /** Everyone watching: `{viewers: [{id, name, since, role}]}`, on every change and on subscribe. */
  Presence: 'presence',
  /** To a socket on subscribe: its own `{id, name}` among the viewers. */
  You: 'presence:you',
  /** Pointer positions that moved: `{pointers: [{id, x, y}]}`, while sharing is on. */
  Pointers: 'pointers',
} as const;

export type ControlAction = 'request' | 'grant' | 'deny' | 'release' | 'take' | 'pointers';

export type ControlCommand =
  | { type: 'control'; action: 'request' | 'release' | 'take' }
  | { type: 'control'; action: 'grant' | 'deny'; target: string }
  | { type: 'control'; action: 'pointers'; enabled: boolean }
  /** Checked against the page size by `pointerPosition`, which is given it. */
  | { type: 'pointer'; payload: unknown };

/** Payload of `control:acknowledged`. */
export interface ControlAcknowledged {
  action: ControlAction;
  /** `request`: `granted` or `pending`; `pointers`: `on` or `off`; otherwise `done`. */
  result: string;
}

/** Longest name a viewer (or REST script) may give, characters. */
export const MAX_NAME_LENGTH = 64;
// Control and format characters (bidi overrides among them) would let a name disguise itself.
const BAD_NAME_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Why `raw` is no viewer name, or `undefined` when it is one: a string of 1-64 characters once trimmed, no control characters. */
export function nameProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return `name must be a string (got ${describe(raw)})`;
  const name = raw.trim();
  if (name === '' || name.length > MAX_NAME_LENGTH) return `name must be 1-${MAX_NAME_LENGTH} characters (got ${name.length})`;
  if (BAD_NAME_CHARACTER.test(name)) return 'name must not contain control or format characters';
  return undefined;
}

/** Holder ids: what presence and REST scripts are given (base64url), with room to spare. */
const HOLDER_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** The control command `event` names, or `undefined` when it is no control event (the session codec reads it then). */
export function parseControlEvent(event: string, args: readonly unknown[]): ControlCommand | undefined {
  const data = args.find((arg) => typeof arg !== 'function');
  switch (event) {
    case ControlClientEvent.Request:
    case ControlClientEvent.Release:
    case ControlClientEvent.Take:
      // Nothing to read, but a payload that is there must be an object: a client sending a string means something else.
      if (data !== undefined) payloadObject(event, data);
      return { type: 'control', action: event.slice('control:'.length) as 'request' | 'release' | 'take' };
    case ControlClientEvent.Grant:
    case ControlClientEvent.Deny:
      return { type: 'control', action: event === ControlClientEvent.Grant ? 'grant' : 'deny', target: holderId(event, payloadObject(event, data)['id']) };
    case ControlClientEvent.PointerShare: {
      const enabled = payloadObject(event, data)['enabled'];
      if (typeof enabled !== 'boolean') throw new ProtocolError(ErrorCode.InvalidMessage, `pointer:share needs {enabled: true|false} (got enabled ${describe(enabled)})`);
      return { type: 'control', action: 'pointers', enabled };
    }
    case ControlClientEvent.PointerMove:
      return { type: 'pointer', payload: data };
    default:
      return undefined;
  }
}

/** `{x, y}` of `pointer:move`: finite numbers within the page. */
export function pointerPosition(payload: unknown, viewport: { width: number; height: number }): { x: number; y: number } {
  const data = payloadObject(ControlClientEvent.PointerMove, payload);
  const coord = (name: 'x' | 'y', max: number): number => {
    const value = data[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
      throw new ProtocolError(ErrorCode.InvalidInput, `pointer:move ${name} must be a number from 0 to ${max} (got ${describe(value)})`);
    }
    return value;
  };
  return { x: coord('x', viewport.width), y: coord('y', viewport.height) };
}

function holderId(event: string, raw: unknown): string {
  if (typeof raw !== 'string' || !HOLDER_ID.test(raw)) {
    throw new ProtocolError(ErrorCode.InvalidMessage, `${event} needs {id}: a viewer's id from presence (got id ${describe(raw)})`);
  }
  return raw;
}

function payloadObject(event: string, data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ProtocolError(ErrorCode.InvalidMessage, `${event} needs an object payload (got ${describe(data)})`);
  }
  return data as Record<string, unknown>;
}
