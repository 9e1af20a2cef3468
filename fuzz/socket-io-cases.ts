import { io, type Socket } from 'socket.io-client';
import { WebSocket, type RawData } from 'ws';
import { target, type FuzzContext } from './context.js';
import { deepJson, deepValue, invalidJson, weirdString } from './hostile-values.js';
import type { Sent } from './oracle.js';
import type { Prng } from './prng.js';
import { ANSWER_MS } from './ws-cases.js';
import { FUZZ_RECORDING_ID, FUZZ_RECORDING_SECONDS } from './server-under-test.js';

/** How long an input may wait for a page that is busy (loading a hostile upstream). */
const INPUT_MS = 30_000;

/**
 * Socket.IO: seeds/003's events with hostile payloads through the real client
 * (socket.io-client), and engine.io packets no client would write, over a raw WebSocket.
 * `subscribe` comes in both forms: seeds/003's `{session_id}` and `{stream}` (any hub stream).
 */

/**
 * Stream notices relayed to subscribers (src/hub/stream.ts): a source restarting (the first
 * restart is immediate, "restarting now"), giving up, a stream ended, a session closed under it.
 */
const RELAYED_NOTICE = /; restarting (now|in \d+ ms)$|; not restarting \(gave up after \d+ attempt\(s\)\)$|has ended$|^session \S+ was closed \(|^stopping failed: /;

// Control and presence broadcasts (`control:state`, `presence`, `presence:you`, `pointers`) go to every viewer of a
// session whoever caused them: not answers, so not listened to; `control:acknowledged` answers this socket's own event.
const SERVER_EVENTS = ['subscribed', 'unsubscribed', 'quality:updated', 'fps:updated', 'adaptive:updated', 'input:acknowledged', 'playback:updated', 'control:acknowledged', 'error'];

/**
 * Answers of one Socket.IO client as labels, frames and status notes left out. An `error` is
 * `error:<code>` (README: every error carries its code), `error:no-code` when it has none.
 */
class SocketIoConversation {
  readonly answers: string[] = [];
  #waiter: (() => void) | undefined;
  /** While subscribed with adaptive mode on, tier changes send quality/fps updates nobody asked for. */
  tierNoise = false;
  /** The last `error` event's message, shown beside a violation. */
  lastError = '';

  constructor(readonly socket: Socket) {
    for (const event of SERVER_EVENTS) {
      socket.on(event, (payload: { message?: unknown; code?: unknown } | undefined) => {
        if (this.tierNoise && (event === 'quality:updated' || event === 'fps:updated')) return;
        // The session stream's own failures are relayed as `error` too (README: "also sends error"): not an answer.
        if (event === 'error' && typeof payload?.message === 'string' && RELAYED_NOTICE.test(payload.message)) return;
        if (event === 'error') this.lastError = String(payload?.message).slice(0, 160);
        if (event !== 'error') return this.#push(`reply:${event}`);
        this.#push(typeof payload?.code === 'string' && /^[a-z_]{1,40}$/.test(payload.code) ? `error:${payload.code}` : 'error:no-code');
      });
    }
    socket.on('disconnect', (reason) => this.#push(`disconnect:${reason}`));
    socket.on('connect_error', (error) => this.#push(`connect_error:${error.message}`));
  }

  #push(label: string): void {
    this.answers.push(label);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** The label `next()` returned last, before the normalisation of asExpected(). */
  lastTaken = '';

  async next(ms: number): Promise<string> {
    this.lastTaken = await this.#take(ms);
    return this.lastTaken;
  }

  async #take(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (this.answers.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.answers.shift()!;
  }
}

interface SioEvent {
  kind: string;
  event: string;
  args: unknown[];
  /** Labels in the order they must arrive; a bare `error` takes any code. */
  expect: string[];
  /** The subscription this event makes when the server accepts it. */
  subscribes?: Subscribed;
  /** `expect` lists alternatives for one answer (what the shared session's state decides), not answers in order. */
  oneOf?: boolean;
}

/** What the socket is subscribed to: nothing, a browser session (takes input), a recording's playback (takes playback:set) or another stream. */
type Subscribed = 'none' | 'session' | 'recording' | 'stream';

function hostilePayload(r: Prng): unknown {
  return r.pick<() => unknown>([
    () => undefined,
    () => null,
    () => 1e308,
    () => -0,
    () => 'NaN',
    () => [],
    () => weirdString(r),
    () => JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}'),
    () => ({ session_id: { toString: 'x' } }),
    () => Buffer.from('binary attachment'),
    () => JSON.parse(deepJson(r, r.range(500, 1500))), // socket.io-client's encoder recurses; the deepest go raw
  ])();
}

/** Tracks what the server's answers depend on: adaptive mode and the subscription. */
interface SioState {
  adaptive: boolean;
  subscribed: Subscribed;
}

/** README: what a bad `subscribe {stream}` gets. */
const NOT_FOUND = 'error:stream_not_found';
const INVALID = 'error:invalid_message';

/** `subscribe {stream}`, valid and hostile: any hub stream by the id the WebSocket routes take. */
function streamSubscribe(ctx: FuzzContext, r: Prng): SioEvent {
  const event = (kind: string, payload: unknown, expect: string[], subscribes?: Subscribed): SioEvent =>
    ({ kind, event: 'subscribe', args: [payload], expect, ...(subscribes && { subscribes }) });
  switch (r.int(9)) {
    case 0: return event('stream-subscribe', { stream: r.pick(['demo', '0']) }, ['reply:subscribed'], 'stream');
    case 8: return event('stream-subscribe', { stream: `recording:${FUZZ_RECORDING_ID}` }, ['reply:subscribed'], 'recording');
    case 1: return ctx.sessionId
      ? event('stream-subscribe', { stream: `session:${ctx.sessionId}` }, ['reply:subscribed'], 'session')
      : event('stream-subscribe', { stream: 'demo' }, ['reply:subscribed'], 'stream');
    // Ids nothing owns, in the hub's id syntax or not: `stream_not_found`, as on /stream/:id.
    case 2: return event('bad-stream', { stream: r.pick([`missing-${r.int(1000)}`, 'session:', 'session:nope', '0x', 'comfyui:previews', weirdString(r)]) }, [NOT_FOUND]);
    case 3: {
      // A hostile value may be a string (not found); anything else but a non-empty string is invalid.
      const stream = r.pick<unknown>(['', 0, 1e308, null, true, [], ['demo'], { id: 'demo' }, hostilePayload(r)]);
      return event('bad-stream', { stream }, [typeof stream === 'string' && stream !== '' ? NOT_FOUND : INVALID]);
    }
    case 4: return event('bad-stream', { stream: 'demo', session_id: r.pick<unknown>([ctx.sessionId ?? 'x', 'demo', '', null]) }, [INVALID]);
    case 5: return event('bad-stream', JSON.parse('{"__proto__":{"stream":"demo"}}'), [INVALID]);
    case 6: return event('bad-stream', { stream: `${'d'.repeat(r.range(129, 2000))}` }, [NOT_FOUND]);
    default: return event('bad-stream', { stream: `demo${r.pick(['/', '?', '#', '%20', ' ', '\u0000', '/../0'])}` }, [NOT_FOUND]);
  }
}

/**
 * Control and pointer events (docs/sessions.md, Control, Presence). Payloads are checked before
 * anything else: a bad one is `invalid_message` (`invalid_input` for a pointer position) whatever
 * the socket watches. A good one needs a subscribed session (`input_not_accepted` otherwise); on the
 * main server (open: every client is admin) the fuzz session is shared by every episode, so who
 * controls it changes under each of them: a request is answered, granted or pending; a release is
 * answered, or `control_required` for one who neither holds nor asked for control.
 */
function controlEvent(r: Prng, state: SioState): SioEvent {
  const onSession = state.subscribed === 'session';
  const event = (kind: string, name: string, args: unknown[], expect: string[]): SioEvent => ({ kind, event: name, args, expect, oneOf: true });
  const holderLike = () => `${r.pick(['nobody', 'x', 'A-_9'])}${r.int(1e6)}`.slice(0, 32);
  switch (r.int(9)) {
    case 0: return event('bad-control', r.pick(['control:request', 'control:release', 'control:take']), [r.pick<unknown>(['please', 7, null, [], true, weirdString(r)])], ['error:invalid_message']);
    case 1: {
      const payload = r.pick<unknown>([{}, { id: 5 }, { id: '' }, { id: 'x'.repeat(33) }, { id: '../x' }, { id: `${weirdString(r)}!` }, 'x', null, [], { id: ['a'] }]);
      return event('bad-control', r.pick(['control:grant', 'control:deny']), [payload], ['error:invalid_message']);
    }
    case 2: return event('bad-control', 'pointer:share', [r.pick<unknown>([{ enabled: 'true' }, { enabled: 1 }, {}, null, 'on', { enabled: null }])], ['error:invalid_message']);
    case 3: {
      // Never a valid position: out of the page, not a number, not an object.
      const payload = r.pick<unknown>([{ x: 1e308, y: 1 }, { x: -1, y: 0 }, { x: 'a', y: 1 }, { x: 1, y: 99_999 }, {}, 'here', [], hostilePayload(r)]);
      const valid = typeof payload === 'object' && payload !== null && !Array.isArray(payload) && !Buffer.isBuffer(payload);
      return event('bad-pointer', 'pointer:move', [payload], onSession ? [valid ? 'error:invalid_input' : 'error'] : ['error:input_not_accepted']);
    }
    // REST scripts of the fuzzer wait on the same session: past 32 waiting requests, `rate_limited`.
    case 4: return event('control', 'control:request', r.chance(0.5) ? [] : [{}], onSession ? ['reply:control:acknowledged', 'error:rate_limited'] : ['error:input_not_accepted']);
    case 5: return event('control', 'control:take', [], [onSession ? 'reply:control:acknowledged' : 'error:input_not_accepted']);
    case 6: return event('control', 'control:release', [], onSession ? ['reply:control:acknowledged', 'error:control_required'] : ['error:input_not_accepted']);
    case 7: return event('control', r.pick(['control:grant', 'control:deny']), [{ id: holderLike() }], [onSession ? 'error:holder_not_found' : 'error:input_not_accepted']);
    default: return event('control', 'pointer:share', [{ enabled: r.chance(0.5) }], [onSession ? 'reply:control:acknowledged' : 'error:input_not_accepted']);
  }
}

function sioEvent(ctx: FuzzContext, r: Prng, state: SioState): SioEvent {
  const bad = (kind: string, event: string, args: unknown[]): SioEvent => ({ kind, event, args, expect: ['error'] });
  const manual = (event: string, updated: string, args: unknown[]): SioEvent => {
    const expect = [...(state.adaptive ? ['reply:adaptive:updated'] : []), `reply:${updated}`];
    state.adaptive = false;
    return { kind: 'valid', event, args, expect };
  };
  switch (r.int(20)) {
    case 0: return bad('bad-subscribe', 'subscribe', [hostilePayload(r)]);
    case 1: return bad('bad-subscribe', 'subscribe', [{ session_id: r.chance(0.5) ? weirdString(r) : `missing-${r.int(1000)}` }]);
    case 2:
      if (ctx.sessionId && r.chance(0.5)) {
        return { kind: 'subscribe', event: 'subscribe', args: [{ session_id: ctx.sessionId }], expect: ['reply:subscribed'], subscribes: 'session' };
      }
      return bad('bad-subscribe', 'subscribe', [{ session_id: '' }]);
    case 3:
      state.subscribed = 'none';
      return { kind: 'valid', event: 'unsubscribe', args: r.chance(0.5) ? [hostilePayload(r)] : [], expect: ['reply:unsubscribed'] };
    case 4: return bad('bad-option', 'quality:set', [{ quality: r.pick([9, 101, 1e308, -0, 'high', null, [], { __proto__: null }, 50.5]) }]);
    case 5: return bad('bad-option', 'fps:set', [{ fps: r.pick([0, 61, 1e308, -1, 'NaN', true, '١٠']) }]);
    case 6: return manual('quality:set', 'quality:updated', [{ quality: r.range(10, 100) }]);
    case 7: return manual('fps:set', 'fps:updated', [{ fps: r.range(1, 60) }]);
    case 8: return bad('bad-option', 'adaptive:toggle', [{ enabled: r.pick(['true', 1, null, 'false', [], weirdString(r)]) }]);
    case 9: {
      const enabled = r.chance(0.5);
      state.adaptive = enabled;
      return { kind: 'valid', event: 'adaptive:toggle', args: [{ enabled }], expect: ['reply:adaptive:updated'] };
    }
    case 10: {
      const name = r.pick(['input:click', 'input:scroll', 'input:text', 'input:key', 'input:move']);
      const payload = r.pick<unknown>([{ x: 1e308, y: -0 }, { text: 'é'.repeat(501) }, { key: weirdString(r) }, { deltaX: 1e6, deltaY: 'x' }, hostilePayload(r), { x: 10, y: 10 }]);
      // Only a session takes input: elsewhere `input_not_accepted`; on a session a bad payload is an error and a good one is acknowledged.
      return { kind: 'input', event: name, args: [payload], expect: state.subscribed === 'session' ? ['error', 'reply:input:acknowledged'] : ['error:input_not_accepted'] };
    }
    case 11: return bad('unknown-event', r.pick(['__proto__', 'constructor', 'hasOwnProperty', weirdString(r).slice(0, 200), 'input:', 'subscribe ', 'frame']), [hostilePayload(r)]);
    case 12: return bad('many-args', 'subscribe', [1, 2, 3, { session_id: 5 }]);
    case 13: return bad('bad-subscribe', 'subscribe', [{ session_id: ['a'] }]);
    case 14: {
      // Only a recording's playback takes playback:set (docs/recording.md); a valid one is answered with the state.
      const payload = r.pick<unknown>([{ seek: r.int(FUZZ_RECORDING_SECONDS) }, { speed: r.pick([0.25, 1, 2, 8]) }, { paused: r.chance(0.5) }, { seek: 0, speed: 4, paused: false }]);
      return { kind: 'playback', event: 'playback:set', args: [payload], expect: [state.subscribed === 'recording' ? 'reply:playback:updated' : 'error:playback_not_accepted'] };
    }
    case 15: return bad('bad-playback', 'playback:set', [r.pick<unknown>([
      { seek: r.pick([-1, 1e308, '1', null, true]) }, { speed: r.pick([0, 0.2, 8.01, -1, '2', null]) }, { paused: r.pick([1, 'true', null]) },
      {}, { rewind: 1 }, hostilePayload(r),
    ])]);
    case 16:
    case 17:
      // Control mostly happens on a session: subscribe first, so the events after this one reach it.
      if (state.subscribed !== 'session' && ctx.sessionId && r.chance(0.6)) {
        return { kind: 'subscribe', event: 'subscribe', args: [{ session_id: ctx.sessionId, ...(r.chance(0.5) && { name: `fuzz ${r.int(1000)}` }) }], expect: ['reply:subscribed'], subscribes: 'session' };
      }
      return controlEvent(r, state);
    default: return streamSubscribe(ctx, r);
  }
}

/** A Socket.IO client (the real one) sending up to 30 hostile events, each awaited. */
export async function socketIoEpisode(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const socket = io(ctx.main.http, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: ANSWER_MS });
  const conversation = new SocketIoConversation(socket);
  const name = target('socket.io', 'events');
  const connected = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), ANSWER_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve('connect');
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      resolve(`connect_error:${error.message}`);
    });
  });
  if (connected !== 'connect') {
    ctx.oracle.record({ target: name, kind: 'connect', caseIndex, index: 0, data: '' }, connected, ['connect']);
    socket.disconnect();
    return;
  }
  conversation.answers.length = 0;
  const state: SioState = { adaptive: true, subscribed: 'none' };
  const count = r.range(1, 30);
  for (let i = 1; i <= count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const event = sioEvent(ctx, r, state);
    // Tier changes may come from the subscription so far or from the one this event makes.
    conversation.tierNoise = (state.subscribed !== 'none' || event.subscribes !== undefined) && state.adaptive;
    const sent: Sent = { target: name, kind: event.kind, caseIndex, index: i, data: safePreview(event) };
    // Some events carry an ack callback: it must get the same answer (README), `{error: {code}}` for a refusal.
    const acked = r.chance(0.3) ? emitWithAck(socket, event) : (socket.emit(event.event, ...event.args), undefined);
    const adaptiveBefore = state.adaptive;
    if (event.kind === 'input' || event.oneOf) {
      // An input waits for the page; a session busy loading a hostile page answers late.
      const got = asExpected(await conversation.next(event.kind === 'input' ? INPUT_MS : ANSWER_MS), event.expect);
      if (!event.expect.includes(got) && got.startsWith('error')) sent.where = `error message: ${conversation.lastError}`;
      ctx.oracle.record(sent, got, event.expect);
      if (got === 'timeout') break; // a late answer would be taken for the next event's
    } else {
      // A valid quality or subscribe may meet the stream's bound on distinct variants: `too_many_variants`.
      // quality:set checks the bound before it turns adaptive mode off: refused, it answers that error alone.
      const refusedByBound = event.event === 'quality:set' || event.event === 'subscribe' ? ['error:too_many_variants'] : [];
      // Some events have two answers in order (adaptive:updated, then quality:updated).
      const seen: string[] = [];
      for (const expected of event.expect) {
        const got = asExpected(await conversation.next(ANSWER_MS), [expected, ...refusedByBound]);
        seen.push(got);
        if (got !== expected) break;
      }
      const got = seen.join('>');
      const allowed = [event.expect.join('>'), ...refusedByBound];
      if (!allowed.includes(got) && seen.some((label) => label.startsWith('error'))) sent.where = `error message: ${conversation.lastError}`;
      ctx.oracle.record(sent, got, allowed);
      if (got.startsWith('error') && event.event === 'quality:set') state.adaptive = adaptiveBefore;
      // A refused subscribe changes nothing (README); an accepted one replaces the subscription.
      if (event.subscribes && got === 'reply:subscribed') state.subscribed = event.subscribes;
      if (seen.includes('timeout')) break; // a late answer would be taken for the next event's
    }
    const answer = conversation.lastTaken;
    if (acked && (answer.startsWith('error:') || answer.startsWith('reply:'))) {
      const expected = answer.startsWith('error:') ? `ack:${answer}` : 'ack';
      ctx.oracle.record({ ...sent, kind: `${event.kind}:ack` }, await acked.label(ANSWER_MS), [expected]);
    }
    if (!socket.connected) break;
  }
  socket.disconnect();
}

/** Emits `event` with an ack callback; `label(ms)` is the ack as a label: `ack`, `ack:error:<code>`, or `timeout`. */
function emitWithAck(socket: Socket, event: SioEvent): { label(ms: number): Promise<string> } {
  let answer: string | undefined;
  let wake: (() => void) | undefined;
  socket.emit(event.event, ...event.args, (reply: { error?: { code?: unknown } } | undefined) => {
    answer = reply && typeof reply === 'object' && reply.error
      ? `ack:error:${typeof reply.error.code === 'string' ? reply.error.code : 'no-code'}`
      : 'ack';
    wake?.();
  });
  return {
    label: async (ms) => {
      if (answer === undefined) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return answer ?? 'timeout';
    },
  };
}

/** `got` as `expected` names it: an expected bare `error` takes an error of any code (but not one without a code). */
function asExpected(got: string, expected: readonly string[]): string {
  if (expected.includes(got) || got === 'error:no-code' || !got.startsWith('error:')) return got;
  return expected.includes('error') ? 'error' : got;
}

function safePreview(event: SioEvent): string {
  try {
    return `${event.event} ${JSON.stringify(event.args)}`;
  } catch {
    return `${event.event} <unprintable>`;
  }
}

/** What the server wrote on a raw engine.io connection, as labels. */
function engineLabel(data: RawData, isBinary: boolean): string | undefined {
  if (isBinary) return 'binary';
  const text = data.toString();
  if (text === '2') return undefined; // the server's ping
  if (text === '3') return 'pong';
  if (text.startsWith('0{')) return undefined; // the engine.io open packet
  if (text.startsWith('40')) return 'connected';
  if (text.startsWith('44')) return 'connect_error';
  if (text.startsWith('42["frame"') || text.startsWith('42["status"')) return undefined;
  // A session's control and presence broadcasts reach every viewer, whoever caused them: not answers.
  if (/^42\["(control:state|presence|presence:you|pointers)"/.test(text)) return undefined;
  const event = /^42\["([^"]*)"/.exec(text);
  if (event) return event[1] === 'error' ? 'error' : `reply:${event[1]}`;
  // An ACK (`43<id>[answer]`): README says a refusal's ack is `{error: {code, message}}`.
  const ack = /^43\d[^[]*(\[.*\])$/s.exec(text);
  if (ack) {
    try {
      const [answer] = JSON.parse(ack[1]!) as [{ error?: { code?: unknown } } | undefined];
      return typeof answer?.error?.code === 'string' ? `ack:error:${answer.error.code}` : 'ack';
    } catch {
      return 'packet:43-unparsable';
    }
  }
  return `packet:${text.slice(0, 3)}`;
}

interface EnginePacket {
  kind: string;
  data: string | Buffer;
  expect: string[];
  /** What must follow an answer that was `expect[0]` (the ack after an event with an ack id). */
  then?: string[];
}

/** Closes of engine.io when a packet does not parse: it ends the transport (no code, or 1000). */
const ENGINE_CLOSES = ['close:1000', 'close:1005'];

function enginePacket(ctx: FuzzContext, r: Prng): EnginePacket {
  switch (r.int(12)) {
    case 0: return { kind: 'deep-subscribe', data: `42["subscribe",${deepValue(r)}]`, expect: ['error'] };
    case 1: return { kind: 'deep-event-args', data: `42["${r.pick(['quality:set', 'input:click', 'adaptive:toggle', 'nope'])}",{"x":${deepValue(r)}}]`, expect: ['error'] };
    case 2: {
      // socket.io-parser reads an EVENT with no payload at all as an event without a name: an `error` event, not a parse error.
      const text = invalidJson(r);
      return { kind: 'invalid-json', data: `42${text}`, expect: text.trim() === '' ? ['error'] : ENGINE_CLOSES };
    }
    case 3: return { kind: 'bad-packet-type', data: `4${r.pick(['7', '8', '9', 'x', '', '-'])}${r.pick(['', '[]', '{"a":1}'])}`, expect: ENGINE_CLOSES };
    case 4: return { kind: 'bad-engine-type', data: r.pick(['9hello', '', '7', 'x', ' ', '\u0000']), expect: ENGINE_CLOSES };
    case 5: {
      // socket.io-parser takes a number as an event name (an unknown event: `error`); anything else but a string ends the connection.
      const name = r.pick(['1e308', '-0', 'null', '{}', '[]', 'true', deepJson(r, 6000)]);
      return { kind: 'non-string-event', data: `42[${name},{}]`, expect: /^-?\d/.test(name) ? ['error'] : ENGINE_CLOSES };
    }
    case 6: return { kind: 'binary', data: r.bytes(r.range(1, 1000)), expect: ENGINE_CLOSES };
    case 7: return { kind: 'proto-event', data: `42["${r.pick(['__proto__', 'constructor', 'toString'])}",{"__proto__":{"polluted":true}}]`, expect: ['error'] };
    case 8: return { kind: 'oversize', data: `42["subscribe","${'x'.repeat(70_000 + r.int(100_000))}"]`, expect: ['close:1009'] };
    case 9: {
      // Up to 308 digits the id is a finite integer: the event is answered and acked. Beyond,
      // socket.io-parser reads the id as Infinity and the ack goes out as `43Infinity…`, which no
      // client matches: harmless to the server, and not a case with one defined answer.
      const digits = r.range(20, 308);
      return { kind: 'ack-id-overflow', data: `42${'9'.repeat(digits)}["subscribe",{}]`, expect: ['error'], then: ['ack:error:invalid_message'] };
    }
    case 10: return { kind: 'extreme-numbers', data: `42["fps:set",{"fps":${r.pick(['1e308', '-0', '123456789012345678901234567890', '-1e-400'])}}]`, expect: ['error'] };
    default: {
      if (ctx.sessionId) return { kind: 'subscribe-then-invalid', data: `42["subscribe",{"session_id":${JSON.stringify(ctx.sessionId)}}]`, expect: ['reply:subscribed'] };
      const name = weirdString(r).replace(/["\\]/g, '').slice(0, 300);
      // A control character unescaped inside a JSON string is invalid JSON: socket.io-parser ends the connection.
      return { kind: 'non-ascii-event', data: `42["${name}",{}]`, expect: /[\u0000-\u001f]/.test(name) ? ENGINE_CLOSES : ['error'] };
    }
  }
}

/**
 * Engine.io packets over a raw WebSocket to `/socket.io/?EIO=4&transport=websocket`: invalid
 * packets must close only that connection (and free what it held), deep ones get `error`.
 */
export async function engineIoEpisode(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const name = target('engine.io', 'raw');
  const ws = new WebSocket(`${ctx.main.ws}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  const answers: string[] = [];
  let wake: (() => void) | undefined;
  const push = (label: string) => {
    answers.push(label);
    wake?.();
  };
  ws.on('error', function engineOnError() {
    // The close that follows is the answer.
  });
  ws.on('message', (data, isBinary) => {
    const label = engineLabel(data, isBinary);
    if (label) push(label);
  });
  ws.on('close', (code) => push(`close:${code}`));
  const next = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (answers.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
    return answers.shift()!;
  };
  const connectSent: Sent = { target: name, kind: 'connect', caseIndex, index: 0, data: '40' };
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('close', () => resolve());
  });
  if (ws.readyState !== WebSocket.OPEN) {
    ctx.oracle.record(connectSent, await next(ANSWER_MS), ['connected']);
    return;
  }
  ws.send('40');
  const connected = await next(ANSWER_MS);
  if (connected !== 'connected') {
    ctx.oracle.record(connectSent, connected, ['connected']);
    ws.terminate();
    return;
  }
  const count = r.range(1, 12);
  for (let i = 1; i <= count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const packet = enginePacket(ctx, r);
    const sent: Sent = { target: name, kind: packet.kind, caseIndex, index: i, data: packet.data };
    ws.send(packet.data, { binary: typeof packet.data !== 'string' });
    if (packet.kind === 'subscribe-then-invalid') {
      // At once, before the answer: the subscription must not outlive the connection.
      ws.send('42["subscribe"');
    }
    const got = await next(ANSWER_MS);
    if (packet.kind === 'subscribe-then-invalid') {
      // The invalid packet may end the connection before the answer to subscribe is written.
      ctx.oracle.record(sent, got, [...packet.expect, ...ENGINE_CLOSES]);
      const closeSent: Sent = { target: name, kind: 'invalid-after-subscribe', caseIndex, index: i, data: '42["subscribe"' };
      ctx.oracle.record(closeSent, got.startsWith('close:') ? got : await next(ANSWER_MS), ENGINE_CLOSES);
      break;
    }
    ctx.oracle.record(sent, got, packet.expect);
    if (packet.then && got === packet.expect[0]) {
      for (const expected of packet.then) ctx.oracle.record({ ...sent, kind: `${packet.kind}:then` }, await next(ANSWER_MS), [expected]);
    }
    if (got.startsWith('close:') || ws.readyState !== WebSocket.OPEN) break;
  }
  ws.terminate();
}
