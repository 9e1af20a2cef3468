import { WebSocket } from 'ws';
import { io } from 'socket.io-client';
import { target, type FuzzContext } from './context.js';
import { weirdString } from './hostile-values.js';
import { signHs256, validToken } from './jwt.js';
import type { Prng } from './prng.js';
import type { ServerUnderTest } from './server-under-test.js';
import { connectedWithin } from './socket-io-connect.js';

/** The `sub` of the token that creates the auth server's browser session; every other subject is an intruder. */
const OWNER = 'fuzz-owner';
const ANSWER_MS = 10_000;

/**
 * Creates a browser session on the auth server owned by OWNER (its id, or `undefined` with a
 * note when Chromium cannot give it one): what the intruders of `foreignOwnerCase` aim at.
 */
export async function createOwnedSession(auth: ServerUnderTest, secret: string, seed: number, notes: string[]): Promise<string | undefined> {
  const id = `owned-${seed}`;
  const res = await fetch(`${auth.http}/api/session/create`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${validToken(secret, OWNER, 'control')}` },
    body: JSON.stringify({ session_id: id, width: 320, height: 240, fps: 5, quality: 50 }),
    signal: AbortSignal.timeout(60_000),
  }).catch((error: unknown) => error as Error);
  if (res instanceof Error || res.status !== 201) {
    notes.push(`owned browser session on the auth server not created (${res instanceof Error ? res.message : res.status}): the other-owner case skipped`);
    return undefined;
  }
  await res.arrayBuffer();
  return id;
}

/** A token of anyone but OWNER: another subject, or none at all, with scopes that reach every session of their own. */
function intruderToken(r: Prng, secret: string): { token: string; scope: string; kind: string } {
  const scope = r.pick(['control', 'view', 'control view', 'control view:demo']);
  if (r.chance(0.2)) {
    const now = Math.floor(Date.now() / 1000);
    return { token: signHs256('{"alg":"HS256"}', JSON.stringify({ iat: now, exp: now + 3600, scope }), secret), scope, kind: 'no-sub' };
  }
  let sub = r.chance(0.5) ? `fuzz-intruder-${r.int(1e6)}` : weirdString(r).slice(0, 64) || 'x';
  if (sub === OWNER) sub = `${OWNER}-not`;
  return { token: validToken(secret, sub, scope), scope, kind: 'other-sub' };
}

/**
 * Ownership (access.ts `reaches`): a valid token of another owner, with bare `view`/`control`,
 * aims at the auth server's owned session over REST, Socket.IO and the stream sockets, and must
 * get exactly what an unknown id gets: REST 404 `no session "<id>"`, Socket.IO
 * `session_not_found` / `stream_not_found` / `input_not_accepted`, WebSocket 4404
 * `stream_not_found`. Then the owner must still reach it (nothing the intruder sent deleted it).
 */
export async function foreignOwnerCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  const id = ctx.ownedSessionId;
  if (!id) return;
  const intruder = intruderToken(r, ctx.jwtSecret);
  const channel = r.int(3);
  if (channel === 0) await restSteps(ctx, r, caseIndex, id, intruder);
  else if (channel === 1) await socketIoSteps(ctx, r, caseIndex, id, intruder);
  else await socketSteps(ctx, r, caseIndex, id, intruder);
  const owner = await fetch(`${ctx.auth.http}/api/session/${id}/keepalive`, {
    method: 'POST', headers: { authorization: `Bearer ${validToken(ctx.jwtSecret, OWNER, 'control')}` }, signal: AbortSignal.timeout(ANSWER_MS),
  }).then(async (res) => {
    await res.arrayBuffer();
    return String(res.status);
  }, () => 'no-answer');
  ctx.oracle.record({ target: target('rest', 'POST /api/session/:id/keepalive'), kind: 'owner-after-intruder', caseIndex, index: 99, data: id, where: 'auth' }, owner, ['200']);
}

type Intruder = ReturnType<typeof intruderToken>;

async function restSteps(ctx: FuzzContext, r: Prng, caseIndex: number, id: string, intruder: Intruder): Promise<void> {
  const watch: [string, string, string?][] = [
    ['GET', `/api/session/${id}/frame`], ['GET', `/api/session/${id}/frame/data`], ['GET', `/api/session/${id}/viewer`],
    ['GET', `/api/session/${id}/presence`], ['GET', `/api/session/${id}/control`],
  ];
  const drive: [string, string, string?][] = [
    ['POST', `/api/session/${id}/load`, '{"url":"http://127.0.0.1:1/"}'],
    ['POST', `/api/session/${id}/input`, '{"type":"click","x":5,"y":5}'],
    ['POST', `/api/session/${id}/keepalive`],
    ['DELETE', `/api/session/${id}`],
    ['POST', `/api/session/${id}/control/request`, '{"name":"intruder"}'],
    ['POST', `/api/session/${id}/control/take`, '{}'],
    ['POST', `/api/session/${id}/control/grant`, '{"id":"x"}'],
  ];
  // Without bare `control` a drive route is refused for the scope (403) before any lookup: only watch routes then.
  const routes = intruder.scope.split(' ').includes('control') ? [...watch, ...drive] : watch;
  const count = r.range(1, 4);
  for (let i = 0; i < count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const [method, path, body] = r.pick(routes);
    const byQuery = r.chance(0.3);
    const url = `${ctx.auth.http}${path}${byQuery ? `?token=${encodeURIComponent(intruder.token)}` : ''}`;
    const headers: Record<string, string> = { ...(body && { 'content-type': 'application/json' }), ...(!byQuery && { authorization: `Bearer ${intruder.token}` }) };
    const got = await fetch(url, { method, headers, ...(body && { body }), signal: AbortSignal.timeout(ANSWER_MS) }).then(async (res) => {
      const text = await res.text();
      // The unknown id's answer, word for word: the status alone would not tell a leak in the body.
      return res.status === 404 && text === JSON.stringify({ success: false, error: `no session "${id}"` }) ? '404 session_not_found' : `${res.status} ${text.slice(0, 80)}`;
    }, () => 'no-answer');
    ctx.oracle.record({ target: target('rest', `${method} ${path.replace(id, ':id')}`), kind: `${intruder.kind} ${intruder.scope}`, caseIndex, index: i, data: `${method} ${path}`, where: 'auth' }, got, ['404 session_not_found']);
  }
}

async function socketIoSteps(ctx: FuzzContext, r: Prng, caseIndex: number, id: string, intruder: Intruder): Promise<void> {
  const socket = io(ctx.auth.http, { transports: [r.pick(['websocket', 'polling'] as const)], forceNew: true, reconnection: false, timeout: ANSWER_MS, auth: { token: intruder.token } });
  try {
    const connected = await connectedWithin(socket, ANSWER_MS);
    ctx.oracle.record({ target: target('socket.io', 'handshake-token'), kind: `${intruder.kind} owner`, caseIndex, index: 0, data: intruder.token.slice(0, 120) }, connected ? 'connect' : 'refused', ['connect']);
    if (!connected) return;
    // Never subscribed to anything, the intruder's input meets "subscribe first", as after an unknown id.
    const steps: [string, string, object, string][] = [
      ['subscribe-session', 'subscribe', { session_id: id }, `error:session_not_found no session "${id}"; create it with POST /api/session/create`],
      ['subscribe-stream', 'subscribe', { stream: `session:${id}` }, `error:stream_not_found no stream with id "session:${id}"`],
      ['input', 'input:click', { x: 5, y: 5 }, 'error:input_not_accepted'],
      // Control needs a subscription too: the intruder never gets one.
      ['control', r.pick(['control:request', 'control:take']), {}, 'error:input_not_accepted'],
    ];
    const count = r.range(1, 4);
    for (let i = 1; i <= count && ctx.budgetLeft() && !ctx.stopped; i++) {
      const [kind, event, payload, wanted] = r.pick(steps);
      const answer = await socket.timeout(ANSWER_MS).emitWithAck(event, payload).then(
        (reply: { error?: { code?: string; message?: string } }) => {
          if (!reply.error) return `answered ${JSON.stringify(reply).slice(0, 80)}`;
          return kind === 'input' || kind === 'control' ? `error:${reply.error.code}` : `error:${reply.error.code} ${reply.error.message}`;
        },
        () => 'timeout',
      );
      ctx.oracle.record({ target: target('socket.io', `${kind}-other-owner`), kind: `${intruder.kind} ${intruder.scope}`, caseIndex, index: i, data: JSON.stringify(payload) }, answer, [wanted]);
      if (answer === 'timeout') break;
    }
  } finally {
    socket.disconnect();
  }
}

async function socketSteps(ctx: FuzzContext, r: Prng, caseIndex: number, id: string, intruder: Intruder): Promise<void> {
  const [route, path] = r.pick([['/stream/:id', `/stream/session:${id}?`], ['/video/:id', `/video/session:${id}?`], ['/ws/video_feed', `/ws/video_feed?stream=session:${id}&`]] as const);
  const got = await new Promise<string>((resolve) => {
    const ws = new WebSocket(`${ctx.auth.ws}${path}token=${encodeURIComponent(intruder.token)}`);
    let first = '';
    const timer = setTimeout(() => {
      ws.terminate();
      resolve('timeout');
    }, ANSWER_MS);
    // The close below is the answer; an error (a refused upgrade) needs a listener all the same.
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (first) return;
      if (isBinary) first = 'binary';
      else {
        try {
          const message = JSON.parse(data.toString()) as { type?: string; error?: { code?: string; message?: string } };
          first = message.error ? `${message.error.code} ${message.error.message}` : `${message.type}`;
        } catch {
          first = 'not-json';
        }
      }
      // A frame (or anything but an error) means the intruder is watching: that is the answer, no need to wait.
      if (!first.startsWith('stream_not_found')) {
        clearTimeout(timer);
        ws.terminate();
        resolve(`open ${first}`);
      }
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(`${code} ${first}`);
    });
  });
  ctx.oracle.record({ target: target('ws', route), kind: `other-owner ${intruder.kind} ${intruder.scope}`, caseIndex, index: 1, data: path }, got, [`4404 stream_not_found no stream with id "session:${id}"`]);
}
