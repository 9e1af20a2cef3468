import { io } from 'socket.io-client';
import { target, type FuzzContext } from './context.js';
import type { Sent } from './oracle.js';
import type { Prng } from './prng.js';
import { WsConversation } from './ws-conversation.js';
import type { WsRoute } from './ws-messages.js';
import { connectedWithin } from './socket-io-connect.js';

/**
 * Bursts: far more than ~100 messages a second (burst 200) on one WebSocket, 200 Socket.IO
 * events at once. The README: a WebSocket answers each message until the bucket is empty, then
 * `rate_limited` and close 4429; Socket.IO drops events past its burst of 120 with at most one
 * `error` a second and keeps the socket.
 */

const BURST_ROUTES: readonly (readonly [WsRoute, string, string, string])[] = [
  // route, path, message, its answer
  ['stream', '/stream/0', '{', 'error:invalid_json'],
  ['video_feed', '/ws/video_feed', '{"type":"nope"}', 'error:unknown_command'],
  ['streaming', '/ws/streaming', '{"type":"ping"}', 'reply:pong'],
  ['ws', '/ws', '{"type":"ping"}', 'reply:pong'],
  ['producer', '/ws/producer', '{"type":"ping"}', 'reply:ack'],
];

/** How long a burst's answers may take to arrive on this 2-core machine. */
const BURST_MS = 20_000;

export async function wsBurstCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const [route, path, message, answer] = r.pick(BURST_ROUTES);
  const url = `${ctx.main.ws}${path}${route === 'producer' ? `?token=${ctx.producerToken}` : ''}`;
  const conversation = WsConversation.open(url, route);
  const name = target('ws', path);
  if ((await conversation.opened(BURST_MS)) !== 'open') {
    ctx.oracle.record({ target: name, kind: 'burst-open', caseIndex, index: 0, data: url }, 'refused', ['open']);
    conversation.ws.terminate();
    return;
  }
  const count = r.range(260, 600);
  for (let i = 0; i < count; i++) conversation.send(message, false);
  // In order: the message's own answer while tokens last, then rate_limited, then 4429; nothing after the close.
  let phase: 'answers' | 'limited' | 'closed' = 'answers';
  let answered = 0;
  for (let i = 1; i <= count; i++) {
    const sent: Sent = { target: name, kind: 'burst', caseIndex, index: i, data: message, where: `${count} messages at once` };
    if (phase === 'closed') {
      ctx.oracle.record(sent, 'after-close', ['after-close']);
      continue;
    }
    const got = await conversation.next(BURST_MS);
    if (phase === 'answers' && got === answer) {
      answered++;
      ctx.oracle.record(sent, got, [answer]);
      continue;
    }
    if (phase === 'answers' && got === 'error:rate_limited') {
      phase = 'limited';
      // The bucket holds 200 and refills at 100/s: fewer than 200 answered means it was cut short.
      ctx.oracle.record(sent, answered >= 200 ? got : `${got} after ${answered}`, ['error:rate_limited']);
      continue;
    }
    if (phase === 'limited' && got === 'close:4429') {
      phase = 'closed';
      ctx.oracle.record(sent, got, ['close:4429']);
      continue;
    }
    ctx.oracle.record(sent, got, phase === 'answers' ? [answer, 'error:rate_limited'] : ['close:4429']);
    break;
  }
  conversation.ws.terminate();
}

/** 200 bad events at once on one Socket.IO socket: at most 120 answered at once, every answer an `error`, the socket stays. */
export async function socketIoBurstCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const socket = io(ctx.main.http, { transports: ['websocket'], forceNew: true, reconnection: false });
  const name = target('socket.io', 'events');
  const connected = await connectedWithin(socket, BURST_MS);
  if (!connected) {
    ctx.oracle.record({ target: name, kind: 'burst-connect', caseIndex, index: 0, data: '' }, 'refused', ['connect']);
    socket.disconnect();
    return;
  }
  let errors = 0;
  let others = 0;
  let disconnected = '';
  let wake: (() => void) | undefined;
  socket.onAny((event: string) => {
    if (event === 'error') errors++;
    else others++;
    wake?.();
  });
  socket.on('disconnect', (reason) => {
    disconnected = reason;
    wake?.();
  });
  const count = r.range(200, 300);
  for (let i = 0; i < count; i++) socket.emit('subscribe', { session_id: i });
  // The burst's answers: one `error` for each of the first 120, then the limit's notice.
  const deadline = Date.now() + BURST_MS;
  while (errors < 121 && !disconnected && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadline - Date.now());
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  }
  for (let i = 1; i <= count; i++) {
    const sent: Sent = { target: name, kind: 'burst', caseIndex, index: i, data: `subscribe {"session_id":${i}}`, where: `${count} events at once` };
    const got = disconnected ? `disconnect:${disconnected}` : i <= errors ? 'error' : 'dropped';
    ctx.oracle.record(sent, got, ['error', 'dropped']);
  }
  if (disconnected || errors < 121 || others > 0) {
    const sent: Sent = { target: name, kind: 'burst', caseIndex, index: count + 1, data: `${count} × subscribe` };
    ctx.oracle.flag(sent, `${errors} errors, ${others} other events${disconnected ? `, disconnected (${disconnected})` : ''}`, '120 errors and the limit notice, nothing else, still connected');
  }
  socket.disconnect();
}
